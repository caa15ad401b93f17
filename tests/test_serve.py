"""monitor serve: Datasette on 127.0.0.1 over a scripted history, read over HTTP and in Chromium."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from monitor.store import open_store
from test_detect import CA, GONE, MD, NL, script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    db = open_store(folder / "monitor.db")
    script(db, {"alpha.test": [NL, NL, MD, MD], "beta.test": [NL, GONE, CA, CA], "gamma.test": [MD, MD, MD]})
    db.close()
    (folder / "config.yaml").write_text(f"database: {folder / 'monitor.db'}\nhome_country: NL\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(folder / "config.yaml"), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"monitor serve did not start: {process.communicate()[1].decode()}")
    yield base
    process.terminate()
    process.communicate(timeout=10)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_moves_since_a_date(server):
    rows = get_json(server + "/monitor/moves_since.json?since=2026-01-01&_shape=array")
    assert [(r["hoster"], r["kind"], r["destination_has_hotline"]) for r in rows] == [
        ("alpha.test", "left-home", "unknown"), ("beta.test", "left-home", "no")]
    assert rows[0]["timeline"] == server + "/monitor/timeline?hoster=alpha.test"
    assert get_json(server + "/monitor/moves_since.json?since=2027-01-01&_shape=array") == []


def test_each_canned_query_answers(server):
    now_abroad = get_json(server + "/monitor/home_now_abroad.json?_shape=array")
    assert sorted(r["hoster"] for r in now_abroad) == ["alpha.test", "beta.test"]  # gamma was never home
    timeline = get_json(server + "/monitor/timeline.json?hoster=beta.test&_shape=array")
    assert [r["status"] for r in timeline] == ["located", "unresolved", "located"]
    for query in ("urls_by_country_and_month", "urls_online_per_hoster", "time_to_takedown_by_country"):
        assert isinstance(get_json(f"{server}/monitor/{query}.json?_shape=array"), list)


def test_pages_have_titles_and_descriptions(server):
    with urllib.request.urlopen(server + "/monitor", timeout=10) as response:
        page = response.read().decode()
    assert "Moves since a date" in page and "Hosters that were in NL and are now abroad" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_moves_page_in_headless_chromium(server, tmp_path):
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path}",
         "--dump-dom", server + "/monitor/moves_since?since=2026-01-01"],
        capture_output=True, text=True, timeout=120)
    assert "alpha.test" in result.stdout and "left-home" in result.stdout, result.stderr[-2000:]
