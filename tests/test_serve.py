"""monitor serve: Datasette on loopback over a scripted history, read over HTTP and in Chromium
(what an analyst sees: the questions first, readable cells, hosters linked to their timeline, the
attribution footer); logins, the refusal to serve beyond loopback without them, and a database it
may not write."""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasette_auth_passwords.utils import verify_password
from markupsafe import escape
from scripted import CA, CDN, DE, GONE, MD, NL, RU, script

from monitor.cli import cli
from monitor.config import Config, Serve, load_file
from monitor.detect import refresh_moves
from monitor.errors import ConfigError, ServeError
from monitor.hotlines import has_hotline
from monitor.intake import add_urls
from monitor.report import serve as serving
from monitor.report.attribution import attributions
from monitor.store import open_store
from monitor.store.history import source_id
from monitor.store.queries import canned_queries

PASSWORD = "correct horse battery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


HOSTERS = {"alpha.test": [NL, NL, MD, MD], "beta.test": [NL, GONE, CA, CA], "gamma.test": [MD, MD, MD]}
DBIP = [("DBIP-Country-Lite", "2026-03-01T00:00:00Z"), ("DBIP-ASN-Lite (compat=GeoLite2-ASN)", "2026-03-01T00:00:00Z"),
        ("team-cymru-dns", "")]


def scripted_store(path: Path, refresh: bool = True, hosters: dict = HOSTERS, sources: list = DBIP,
                   more_urls: tuple[str, ...] = ()) -> Path:
    """The hosters' nights, located with the databases in `sources` (name, build); refresh: the
    moves a crawl's end would have written."""
    db = open_store(path)
    script(db, hosters, sources=[{"name": name, "build": build} for name, build in sources])
    for name, build in sources:
        source_id(db, name, build)
    add_urls(db, more_urls, on_reject=print)
    db.conn.commit()
    if refresh:
        refresh_moves(db, Config(home_country="NL"))
    db.close()
    return path


def write_config(folder: Path, database: Path, accounts: dict[str, str] | None = None) -> Path:
    path = folder / "config.yaml"
    text = f"database: {database}\nhome_country: NL\n"
    if accounts:
        text += "serve:\n  accounts:\n" + "".join(f"    {n}: {h}\n" for n, h in accounts.items())
    path.write_text(text)
    return path


def monitor_serve(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-P", "-m", "monitor", "--config", str(config), "serve", *args]


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


# Moves confirmed on 2026-03-04 (night 4) but late.test's, confirmed on 2026-03-06; alpha.test has
# three reported URLs, the others one each.
WORLD = {**HOSTERS, "delta.test": [NL, NL, [MD, DE], [MD, DE]], "edge.test": [NL, NL, CDN, CDN],
         "roam.test": [RU, RU, MD, MD], "late.test": [NL, NL, NL, NL, MD, MD]}
GEOLITE2_AND_IPINFO = [("GeoLite2-Country", "2026-03-02T08:00:00Z"), ("GeoLite2-ASN", "2026-03-02T08:00:00Z"),
                       ("ipinfo bundle_location_lite.mmdb", "2026-03-03T00:00:00Z")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A second server: more hosters and moves, located with GeoLite2 and IPinfo."""
    folder = tmp_path_factory.mktemp("world")
    database = scripted_store(folder / "monitor.db", hosters=WORLD, sources=GEOLITE2_AND_IPINFO,
                              more_urls=("http://www.alpha.test/2.jpg", "https://alpha.test/3"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(monitor_serve(write_config(folder, database), "--port", str(port)), base)
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


def test_hosters_link_to_their_timeline_by_paths_without_scheme_or_host(server):
    page = get_text(server + "/monitor/moves_since?since=2026-01-01")
    assert '<a href="/monitor/timeline?hoster=alpha.test">alpha.test</a>' in page
    assert server + "/monitor/timeline" not in page  # right whatever name or proxy the browser reached us by
    hosters = get_text(server + "/monitor/hosters")
    assert '<a href="/monitor/timeline?hoster=beta.test">beta.test</a>' in hosters
    urls = get_text(server + "/monitor/urls")
    assert '<a href="/monitor/timeline?hoster=img.gamma.test">img.gamma.test</a>' in urls  # a host: see below
    # The JSON keeps the lists as stored: only the HTML is for reading.
    timeline = get_json(server + "/monitor/timeline.json?hoster=alpha.test&_shape=array")
    assert [r["countries"] for r in timeline] == ['["NL"]', '["MD"]']


def test_reported_urls_are_shown_but_not_linked(server):
    page = get_text(server + "/monitor/urls")
    assert ">http://img.alpha.test/1.jpg<" in page
    assert 'href="http://img.alpha.test' not in page


@pytest.mark.parametrize("given", ["img.alpha.test", "IMG.Alpha.TEST.", "www.alpha.test", "http://img.alpha.test/1.jpg",
                                   "HTTP://img.ALPHA.test:80/1.jpg#top"])
def test_a_timeline_is_reached_from_any_host_or_url_of_the_hoster(server, given):
    expected = get_json(server + "/monitor/timeline.json?hoster=alpha.test&_shape=array")
    assert [r["status"] for r in expected] == ["located", "located"]
    query = urllib.parse.urlencode({"hoster": given, "_shape": "array"})
    assert get_json(f"{server}/monitor/timeline.json?{query}") == expected


def test_the_timeline_page_says_which_hoster_it_shows(server):
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/monitor/timeline?hoster=" + urllib.parse.quote("http://img.beta.test/1.jpg"))
        response = connection.getresponse()
        assert (response.status, response.getheader("Location")) == (302, "/monitor/timeline?hoster=beta.test")
    finally:
        connection.close()
    page = get_text(server + "/monitor/timeline?hoster=img.beta.test")
    assert '<input type="text" id="qp1" name="hoster" value="beta.test">' in page
    assert cells(page, "status") == ["located", "unresolved", "located"]
    # Not a host at all: no redirect, and nothing found, as for a name nobody reported.
    assert get_json(server + "/monitor/timeline.json?hoster=not+a+host%21&_shape=array") == []


def test_each_canned_query_answers(server):
    now_abroad = get_json(server + "/monitor/home_now_abroad.json?_shape=array")
    assert sorted(r["hoster"] for r in now_abroad) == ["alpha.test", "beta.test"]  # gamma was never home
    timeline = get_json(server + "/monitor/timeline.json?hoster=beta.test&_shape=array")
    assert [r["status"] for r in timeline] == ["located", "unresolved", "located"]
    for query in ("urls_by_country_and_month", "urls_online_per_hoster", "time_to_takedown_by_country"):
        assert isinstance(get_json(f"{server}/monitor/{query}.json?_shape=array"), list)


@pytest.mark.parametrize("path", ["/", "/monitor"])
def test_the_front_page_leads_with_the_questions(server, path):
    page = get_text(server + path)
    titles = [str(escape(q["title"])) for q in canned_queries("NL").values()]
    assert "Hosters that were in NL and are now abroad" in titles
    positions = [page.index(f">{title}</a>") for title in titles]
    tables = page.index('<h2 id="tables">')
    assert positions == sorted(positions) and positions[-1] < tables
    assert '<a href="/monitor/hosters">hosters</a>' in page[tables:]
    assert '<a href="/monitor/_sqlite_migrations">' not in page  # bookkeeping stays out of sight


def cells(page: str, column: str) -> list[str]:
    """The HTML of a result column's cells, in row order."""
    return [c.strip() for c in re.findall(rf'<td class="col-{column}(?: [^"]*)?">(.*?)</td>', page, re.S)]


def test_lists_read_as_plain_text_and_countries_with_their_names(world):
    page = get_text(world + "/monitor/timeline?hoster=delta.test")
    assert cells(page, "countries") == ["NL Netherlands", "DE Germany<br>MD Moldova"]
    assert cells(page, "asns") == ["64501", "64511<br>64521"]
    assert cells(page, "ips") == ["127.1.1.1", "127.2.1.1<br>127.3.1.1"]
    moves = get_text(world + "/monitor/moves?hoster_id=4")  # a table page: delta.test's move
    assert cells(moves, "from_countries") == ["NL Netherlands"]
    assert cells(moves, "to_countries") == ["DE Germany<br>MD Moldova"]
    assert cells(moves, "destination_has_hotline") == ["unknown"]  # MD is not in the hotline file


def test_cdn_reads_yes_or_no(world):
    page = get_text(world + "/monitor/timeline?hoster=edge.test")
    assert cells(page, "countries") == ["NL Netherlands", "US United States"]
    assert cells(page, "cdn") == ["no", "yes"]


def yes_no(country: str, day: str) -> str:
    return {True: "yes", False: "no", None: "unknown"}[has_hotline(country, datetime.date.fromisoformat(day))]


def destinations(base: str, since: str, until: str) -> list[tuple]:
    query = urllib.parse.urlencode({"since": since, "until": until, "_shape": "array"})
    return [(r["destination_country"], r["hosters"], r["urls"], r["moves"], r["kinds"], r["has_hotline"])
            for r in get_json(f"{base}/monitor/moves_by_destination.json?{query}")]


def test_moves_by_destination_country_in_a_period(world):
    md = yes_no("MD", "2026-03-04")  # the file is partial: whatever it says of MD, never a guess
    assert destinations(world, "2026-03-01", "2026-03-05") == [
        # alpha.test (3 URLs), delta.test (to MD and DE at once) and roam.test (from RU)
        ("MD", 3, 5, 3, "abroad, left-home", md),
        ("CA", 1, 1, 1, "left-home", "no"),  # Cybertip.ca left INHOPE in 2020
        ("DE", 1, 1, 1, "left-home", "yes"),
        ("behind a CDN", 1, 1, 1, "masked", "unknown"),  # edge.test: its countries are the CDN's edges
    ]
    # Both days are included; late.test's move was confirmed on the 6th.
    late = [("MD", 1, 1, 1, "left-home", yes_no("MD", "2026-03-06"))]
    assert destinations(world, "2026-03-06", "2026-03-06") == late
    assert destinations(world, "2026-03-05", "") == late  # empty: open-ended
    assert destinations(world, "", "2026-03-03") == []
    assert destinations(world, "", "")[0][:4] == ("MD", 4, 6, 4)
    page = get_text(world + "/monitor/moves_by_destination?since=2026-03-01&until=2026-03-05")
    assert cells(page, "destination_country") == ["MD Moldova", "CA Canada", "DE Germany", "behind a CDN"]


def footer(page: str) -> str:
    return re.search(r'<footer class="ft">(.*?)</footer>', page, re.S).group(1)


@pytest.mark.parametrize("path", ["/", "/monitor", "/monitor/hosters", "/monitor/hoster_states",
                                  "/monitor/moves_since?since=2026-01-01", "/monitor/hosters/1",
                                  "/monitor/timeline?hoster=alpha.test", "/monitor/urls?_sort=host"])
def test_every_page_carries_the_attribution_of_the_databases_recorded(server, path):
    shown = footer(get_text(server + path))
    assert '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>' in shown
    assert '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>' in shown
    assert "DBIP-Country-Lite (2026-03-01)" in shown and "DBIP-ASN-Lite (compat=GeoLite2-ASN) (2026-03-01)" in shown
    assert "MaxMind" not in shown  # DB-IP's ASN file names GeoLite2 only as a compatible format
    # The words every other output uses (monitor.report.attribution), not a second copy of them.
    for credit in attributions(DBIP):
        assert f"<p>{credit.html} " in shown


def test_the_attribution_follows_the_databases_of_the_database_served(world):
    shown = footer(get_text(world + "/monitor/hoster_states"))
    assert ('This product includes GeoLite2 data created by MaxMind, available from '
            '<a href="https://www.maxmind.com">https://www.maxmind.com</a>, licensed under '
            '<a href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA 4.0</a>') in shown
    assert ('IP address data powered by <a href="https://ipinfo.io">IPinfo</a>, licensed under '
            '<a href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA 4.0</a>') in shown
    assert "GeoLite2-Country (2026-03-02)" in shown
    assert "DB-IP" not in shown


SCREENSHOTS = {"front-page": ("/", "1280,1800"),  # tall enough for the attribution footer
               "moves-by-destination": ("/monitor/moves_by_destination?since=2026-03-01&until=2026-03-31", "1280,900")}


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_pages_in_headless_chromium_with_screenshots(world, tmp_path):
    """The front page and a question's page as a browser draws them. The screenshots are kept in
    $MONITOR_SCREENSHOTS (else the test's folder) for a person to look at."""
    from PIL import Image

    folder = Path(os.environ.get("MONITOR_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def chromium(*args: str) -> str:
        result = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", *args],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    dom = chromium("--dump-dom", world + SCREENSHOTS["moves-by-destination"][0])
    assert cells(dom, "destination_country") == ["MD Moldova", "CA Canada", "DE Germany", "behind a CDN"]
    assert 'IP address data powered by <a href="https://ipinfo.io">IPinfo</a>' in footer(dom)
    for name, (path, size) in SCREENSHOTS.items():
        png = folder / f"{name}.png"
        png.unlink(missing_ok=True)
        chromium(f"--window-size={size}", f"--screenshot={png}", world + path)
        with Image.open(png) as image:
            assert image.size == tuple(int(n) for n in size.split(","))
            rgb = image.convert("RGB")
            assert rgb.getpixel((5, 5)) == (0x27, 0x68, 0x90)  # Datasette's header: its stylesheet loaded
            assert len(rgb.getcolors(1 << 16) or []) > 50  # text drawn, not an empty page


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


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "10.1.2.3", "example.org", ""])
def test_beyond_loopback_without_accounts_refuses_before_binding(tmp_path, monkeypatch, host):
    def bind(sock, address):
        raise AssertionError(f"bound {address}")

    config = write_config(tmp_path, scripted_store(tmp_path / "monitor.db"))
    monkeypatch.setattr(socket.socket, "bind", bind)  # anything that listens binds first
    result = CliRunner().invoke(cli, ["--config", str(config), "serve", "--host", host, "--port", "8001"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: refusing to serve on {host} without logins: add an account to serve.accounts in the "
        "config (`monitor hash-password NAME` prints the line), or serve on 127.0.0.1\n")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost", "LOCALHOST"])
def test_loopback_needs_no_accounts(host):
    serving.check_exposure(Config(), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "::ffff:192.0.2.10", "example.org"])
def test_with_accounts_any_address_may_serve(host):
    with pytest.raises(ServeError):
        serving.check_exposure(Config(), host)
    accounts = Serve(accounts={"alice": serving.account_line("alice", PASSWORD).split(": ")[1]})
    serving.check_exposure(Config(serve=accounts), host)


def test_urls_show_ipv6_hosts_in_brackets():
    assert serving.url("::1", 8001) == "http://[::1]:8001/"
    assert serving.url("127.0.0.1", 8001, "/-/login") == "http://127.0.0.1:8001/-/login"


def test_hash_password_prints_a_line_the_plugin_accepts():
    result = CliRunner().invoke(cli, ["hash-password", "alice"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    name, hashed = result.stdout.strip().split(": ")  # the prompts go to stderr
    assert name == "alice" and hashed.startswith("pbkdf2_sha256$")
    assert PASSWORD not in result.stdout
    assert verify_password(PASSWORD, hashed) and not verify_password(PASSWORD + "!", hashed)


def test_hash_password_asks_again_when_the_two_differ():
    result = CliRunner().invoke(cli, ["hash-password", "alice"], input=f"{PASSWORD}\nother\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0
    assert "do not match" in result.stderr
    assert verify_password(PASSWORD, result.stdout.strip().split(": ")[1])


def test_hash_password_refuses_a_name_the_plugin_cannot_hold():
    result = CliRunner().invoke(cli, ["hash-password", "bob_password_hash"], input="x\nx\n")
    assert result.exit_code == 1
    assert result.stderr == "Error: 'bob_password_hash' is not a user name: it may not contain '_password_hash'\n"


@pytest.mark.parametrize("text, says", [
    ("serve:\n  accounts:\n    alice: hunter2\n", "serve.accounts.alice: not a password hash"),
    ("serve:\n  accounts:\n    al ice: pbkdf2_sha256$1$ab$cd=\n", "serve.accounts.al ice: 'al ice' is not a user name"),
    ("serve:\n  users: {}\n", "serve.users: unknown key"),
])
def test_bad_accounts_are_config_errors(tmp_path, text, says):
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_file(tmp_path / "config.yaml")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")
    hashed = serving.account_line("alice", PASSWORD).split(": ")[1]
    config = write_config(folder, scripted_store(folder / "monitor.db"), {"alice": hashed})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(monitor_serve(config, "--port", str(port)), base)
    yield base, hashed
    stop(process)


PROTECTED = ["/", "/monitor", "/monitor/urls", "/monitor/urls.json", "/monitor/moves_since.json?since=2026-01-01",
             "/monitor.json?sql=select+url+from+urls", "/-/metadata.json",
             "/monitor/moves_by_destination.json?since=&until=", "/monitor/timeline.json?hoster=img.alpha.test"]


@pytest.mark.parametrize("path", PROTECTED)
def test_with_accounts_anonymous_requests_are_refused(guarded, path):
    base, _ = guarded
    assert status(base + path) == 403


def test_with_accounts_a_browser_is_sent_to_the_login_form(guarded):
    base, _ = guarded
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/monitor/urls", headers={"Accept": "text/html,*/*;q=0.8"})
        response = connection.getresponse()
        assert (response.status, response.getheader("Location")) == (302, "/-/login")
    finally:
        connection.close()


def login(base: str, username: str, password: str):
    """An opener with the cookies of the plugin's login form, submitted as a browser does."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = get_text(base + "/-/login", opener.open)
    token = re.search(r'name="csrftoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password, "csrftoken": token}).encode()
    with opener.open(base + "/-/login", data=data, timeout=30) as response:
        return opener, response.read().decode()


def test_after_logging_in_every_page_answers(guarded):
    base, _ = guarded
    opener, _ = login(base, "alice", PASSWORD)
    for path in PROTECTED:
        assert status(base + path, opener.open) == 200, path
    rows = get_json(base + "/monitor/moves_since.json?since=2026-01-01&_shape=array", opener.open)
    assert [r["hoster"] for r in rows] == ["alpha.test", "beta.test"]


def test_a_wrong_password_logs_nobody_in(guarded):
    base, _ = guarded
    opener, page = login(base, "alice", PASSWORD + "!")
    assert "Invalid username or password" in page
    assert status(base + "/monitor/urls", opener.open) == 403


def test_scripts_use_http_basic(guarded):
    base, _ = guarded
    request = urllib.request.Request(base + "/monitor/urls.json?_shape=array")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as response:
        assert len(json.load(response)) == 3


def test_the_hashes_are_not_shown_to_those_logged_in(guarded):
    base, hashed = guarded
    opener, _ = login(base, "alice", PASSWORD)
    assert hashed not in get_text(base + "/-/metadata.json", opener.open)
    assert hashed.split("$")[2] not in get_text(base + "/-/metadata.json", opener.open)  # nor its salt
