"""monitor serve: Datasette on loopback over a scripted history, read over HTTP and in Chromium;
a database it may not write, a port already taken."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from monitor.config import Config
from monitor.detect import refresh_moves
from monitor.report import serve as serving
from monitor.store import open_store
from test_detect import CA, GONE, MD, NL, script

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def scripted_store(path: Path, refresh: bool = True) -> Path:
    """The three hosters' nights; refresh: the moves a crawl's end would have written."""
    db = open_store(path)
    script(db, {"alpha.test": [NL, NL, MD, MD], "beta.test": [NL, GONE, CA, CA], "gamma.test": [MD, MD, MD]})
    if refresh:
        refresh_moves(db, Config(home_country="NL"))
    db.close()
    return path


def write_config(folder: Path, database: Path) -> Path:
    path = folder / "config.yaml"
    path.write_text(f"database: {database}\nhome_country: NL\n")
    return path


def monitor_serve(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "--config", str(config), "serve", *args]


def start(command: list[str], base: str) -> subprocess.Popen:
    """Start serve and wait until it answers anything (a 403 too: it is up)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=1).close()
            return process
        except urllib.error.HTTPError:
            return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"monitor serve did not start: {process.communicate()[1]}")


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.terminate()
    return process.communicate(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    config = write_config(folder, scripted_store(folder / "monitor.db"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(monitor_serve(config, "--port", str(port)), base)
    yield base
    stop(process)


def get_json(url: str, opener=urllib.request.urlopen):
    with opener(url, timeout=10) as response:
        return json.load(response)


def get_text(url: str, opener=urllib.request.urlopen) -> str:
    with opener(url, timeout=10) as response:
        return response.read().decode()


def status(url: str, opener=urllib.request.urlopen) -> int:
    try:
        with opener(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_moves_since_a_date(server):
    rows = get_json(server + "/monitor/moves_since.json?since=2026-01-01&_shape=array")
    assert [(r["hoster"], r["kind"], r["destination_has_hotline"]) for r in rows] == [
        ("alpha.test", "left-home", "unknown"), ("beta.test", "left-home", "no")]
    assert get_json(server + "/monitor/moves_since.json?since=2027-01-01&_shape=array") == []


def test_timeline_links_are_paths_without_scheme_or_host(server):
    rows = get_json(server + "/monitor/moves_since.json?since=2026-01-01&_shape=array")
    assert rows[0]["timeline"] == "/monitor/timeline?hoster=alpha.test"
    page = get_text(server + "/monitor/moves_since?since=2026-01-01")
    assert '<a href="/monitor/timeline?hoster=alpha.test">' in page  # still a link in the page
    assert server + "/monitor/timeline" not in page
    timeline = get_json(server + rows[0]["timeline"].replace("/timeline?", "/timeline.json?_shape=array&"))
    assert [r["countries"] for r in timeline] == ['["NL"]', '["MD"]']


def test_each_canned_query_answers(server):
    now_abroad = get_json(server + "/monitor/home_now_abroad.json?_shape=array")
    assert sorted(r["hoster"] for r in now_abroad) == ["alpha.test", "beta.test"]  # gamma was never home
    timeline = get_json(server + "/monitor/timeline.json?hoster=beta.test&_shape=array")
    assert [r["status"] for r in timeline] == ["located", "unresolved", "located"]
    for query in ("urls_by_country_and_month", "urls_online_per_hoster", "time_to_takedown_by_country"):
        assert isinstance(get_json(f"{server}/monitor/{query}.json?_shape=array"), list)


def test_pages_have_titles_and_descriptions(server):
    page = get_text(server + "/monitor")
    assert "Moves since a date" in page and "Hosters that were in NL and are now abroad" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_moves_page_in_headless_chromium(server, tmp_path):
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path}",
         "--dump-dom", server + "/monitor/moves_since?since=2026-01-01"],
        capture_output=True, text=True, timeout=120)
    assert "alpha.test" in result.stdout and "left-home" in result.stdout, result.stderr[-2000:]


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_serve_writes_nothing_not_even_the_moves(tmp_path):
    # The crawl refreshes moves at its end; a store whose moves were never refreshed stays so.
    database = scripted_store(tmp_path / "monitor.db", refresh=False)
    before = digest(database)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(monitor_serve(write_config(tmp_path, database), "--port", str(port)), base)
    try:
        assert get_json(base + "/monitor/moves_since.json?since=2026-01-01&_shape=array") == []
    finally:
        stop(process)
    assert digest(database) == before
    wal = Path(f"{database}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def without_write_permission() -> list[str]:
    """A prefix that runs a command unable to write where file modes say no. Root ignores modes
    (CAP_DAC_OVERRIDE), and `nobody` cannot run this Python (it lives under /root, mode 0700), so
    root keeps its uid but loses every capability: then the modes bind it as they bind anyone."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--"]


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root needs setpriv (util-linux)")
def test_a_read_only_copy_is_served_immutable_and_left_unchanged(tmp_path):
    source = scripted_store(tmp_path / "source.db")
    folder = tmp_path / "copy"
    folder.mkdir()
    database = folder / "monitor.db"
    shutil.copyfile(source, database)
    database.chmod(0o444)
    folder.chmod(0o555)
    try:
        probe = subprocess.run([*without_write_permission(), sys.executable, "-c", f"open('{folder}/x', 'w')"],
                               capture_output=True, text=True)
        assert "PermissionError" in probe.stderr  # the premise: the server could not write here
        before = digest(database)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [*without_write_permission(), *monitor_serve(write_config(tmp_path, database), "--port", str(port))]
        process = start(command, base)
        try:
            assert status(base + "/monitor/urls") == 200
            rows = get_json(base + "/monitor/moves_since.json?since=2026-01-01&_shape=array")
            assert [r["hoster"] for r in rows] == ["alpha.test", "beta.test"]
        finally:
            out, _ = stop(process)
        assert "as an immutable copy" in out
        assert digest(database) == before
        assert sorted(p.name for p in folder.iterdir()) == ["monitor.db"]  # no -wal, no -shm
    finally:
        folder.chmod(0o755)


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path):
    config = write_config(tmp_path, scripted_store(tmp_path / "monitor.db"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(monitor_serve(config, "--port", str(port)), capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 1
    assert result.stderr == (f"Error: cannot serve on 127.0.0.1:{port}: address already in use; "
                             "choose another --port\n")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
def test_the_start_message_puts_an_ipv6_host_in_brackets(tmp_path):
    try:
        port = free_port("::1")
    except OSError:
        pytest.skip("no ::1 on this machine")
    base = f"http://[::1]:{port}"
    config = write_config(tmp_path, scripted_store(tmp_path / "monitor.db"))
    process = start(monitor_serve(config, "--host", "::1", "--port", str(port)), base)
    try:
        assert status(base + "/monitor") == 200
    finally:
        out, _ = stop(process)
    assert out.startswith(f"serving {tmp_path / 'monitor.db'} read-only at http://[::1]:{port}/ (Ctrl-C stops)")


def test_urls_show_ipv6_hosts_in_brackets():
    assert serving.url("::1", 8001) == "http://[::1]:8001/"
    assert serving.url("127.0.0.1", 8001, "/-/login") == "http://127.0.0.1:8001/-/login"
