"""Tests of monitor.resolve.update: downloading and installing the DB-IP Lite databases.

A real HTTP server on 127.0.0.1 serves real (gzipped) DB-IP-flavour .mmdb files built with
monitor.sim.mmdb; the config's download URLs point at it.
"""

from __future__ import annotations

import gzip
import io
import socket
import threading
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import maxminddb
import pytest

from monitor.config import Downloads, GeoIP
from monitor.errors import DownloadError
from monitor.resolve.geo import open_asn_db, open_country_db
from monitor.resolve.update import USER_AGENT, UpdateResult, month_urls, update_databases
from monitor.sim.mmdb import write_asn_db, write_country_db

TODAY = date(2026, 11, 15)
NEW_EPOCH = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp())
OLD_EPOCH = int(datetime(2026, 9, 1, tzinfo=timezone.utc).timestamp())
COUNTRY = "/free/dbip-country-lite-{year}-{month}.mmdb.gz"
ASN = "/free/dbip-asn-lite-{year}-{month}.mmdb.gz"
C_NOV, C_OCT = "/free/dbip-country-lite-2026-11.mmdb.gz", "/free/dbip-country-lite-2026-10.mmdb.gz"
A_NOV, A_OCT = "/free/dbip-asn-lite-2026-11.mmdb.gz", "/free/dbip-asn-lite-2026-10.mmdb.gz"


# -- the files ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """The .mmdb files, built once: new (this month's) and old (installed before the update)."""
    folder = tmp_path_factory.mktemp("mmdb")
    networks = {"1.1.1.0/24": "AU", "127.0.0.0/8": "NL", "2001:db8::/32": "DE"}
    asns = {"1.1.1.0/24": (13335, "Cloudflare"), "127.0.0.0/8": (64500, "Sim Hosting")}
    write_country_db(folder / "c-new", networks, flavour="dbip", build_epoch=NEW_EPOCH)
    write_country_db(folder / "c-old", {"1.1.1.0/24": "US"}, flavour="dbip", build_epoch=OLD_EPOCH)
    write_asn_db(folder / "a-new", asns, flavour="dbip", build_epoch=NEW_EPOCH)
    old_asns = {"1.1.1.0/24": (1, "Old")}
    write_asn_db(folder / "a-old", old_asns, flavour="dbip", build_epoch=OLD_EPOCH)
    raw = {name: (folder / name).read_bytes() for name in ("c-new", "c-old", "a-new", "a-old")}
    return raw | {
        "c-new.gz": gzip.compress(raw["c-new"], mtime=0),
        "a-new.gz": gzip.compress(raw["a-new"], mtime=0),
    }


# -- the server ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.log.append((self.path, self.headers.get("User-Agent")))
        if self.path in self.server.redirects:
            self.send_response(302)
            self.send_header("Location", self.server.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        declared = self.server.lengths.get(self.path, len(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, bytes] = {}
        self.lengths: dict[str, int] = {}  # a Content-Length that lies (a cut-off transfer)
        self.redirects: dict[str, str] = {}
        self.log: list[tuple[str, str | None]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.log]


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """urllib honours *_proxy variables; the tests talk to 127.0.0.1 directly."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "data"


def _geoip(data: Path, base: str, *, country: bool = True, asn: bool = True) -> GeoIP:
    return GeoIP(
        country_db=data / "dbip-country-lite.mmdb" if country else None,
        asn_db=data / "dbip-asn-lite.mmdb" if asn else None,
        download=Downloads(country_url=base + COUNTRY, asn_url=base + ASN),
    )


def _install_old(data: Path, files) -> dict[str, bytes]:
    data.mkdir(exist_ok=True)
    (data / "dbip-country-lite.mmdb").write_bytes(files["c-old"])
    (data / "dbip-asn-lite.mmdb").write_bytes(files["a-old"])
    return _snapshot(data)


def _snapshot(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data.iterdir())}


def _serve_new(server, files) -> None:
    server.routes |= {C_NOV: files["c-new.gz"], A_NOV: files["a-new.gz"]}


# -- success ------------------------------------------------------------------------------------


def test_both_downloaded_and_installed(server, files, data):
    _serve_new(server, files)
    results = update_databases(_geoip(data, server.base), today=TODAY, timeout=5)

    assert [r.kind for r in results] == ["country", "asn"] and all(r.ok for r in results)
    country, asn = results
    assert country.url == server.base + C_NOV and asn.url == server.base + A_NOV
    assert country.path == data / "dbip-country-lite.mmdb"
    assert (country.source_name, country.build) == ("DBIP-Country-Lite", "2026-11-01T00:00:00Z")
    assert asn.source_name == "DBIP-ASN-Lite (compat=GeoLite2-ASN)"
    assert country.size == len(files["c-new"]) and asn.size == len(files["a-new"])
    assert country.error is None and asn.error is None
    # The folder was created; the files are the gunzipped downloads, and nothing else is there.
    assert _snapshot(data) == {
        "dbip-asn-lite.mmdb": files["a-new"],
        "dbip-country-lite.mmdb": files["c-new"],
    }
    with open_country_db(country.path) as db:
        assert db.source.name == "DBIP-Country-Lite"
        assert db.source.build == "2026-11-01T00:00:00Z"
        assert db.lookup("1.1.1.1").country == "AU"
    with open_asn_db(asn.path) as db:
        assert db.lookup("127.0.0.1").asn == 64500
    assert str(country) == (
        f"country: {country.path} updated (DBIP-Country-Lite, built 2026-11-01) "
        f"from {server.base}{C_NOV}"
    )
    assert server.log == [(C_NOV, USER_AGENT), (A_NOV, USER_AGENT)]
    assert USER_AGENT.startswith("monitor/")


def test_replaces_the_old_files(server, files, data):
    _install_old(data, files)
    _serve_new(server, files)
    results = update_databases(_geoip(data, server.base), today=TODAY, timeout=5)
    assert all(r.ok for r in results)
    assert _snapshot(data) == {
        "dbip-asn-lite.mmdb": files["a-new"],
        "dbip-country-lite.mmdb": files["c-new"],
    }


def test_this_month_missing_takes_the_previous_month(server, files, data):
    server.routes |= {C_OCT: files["c-new.gz"], A_NOV: files["a-new.gz"]}
    country, asn = update_databases(_geoip(data, server.base), today=TODAY, timeout=5)
    assert country.ok and country.url == server.base + C_OCT
    assert asn.ok and asn.url == server.base + A_NOV
    assert server.paths == [C_NOV, C_OCT, A_NOV]


def test_redirects_are_followed(server, files, data):
    server.redirects[C_NOV] = "/mirror/country.mmdb.gz"
    server.routes |= {"/mirror/country.mmdb.gz": files["c-new.gz"]}
    (country,) = update_databases(_geoip(data, server.base, asn=False), today=TODAY, timeout=5)
    assert country.ok and country.source_name == "DBIP-Country-Lite"
    assert server.paths == [C_NOV, "/mirror/country.mmdb.gz"]


def test_uncompressed_url(server, files, data):
    server.routes["/country.mmdb"] = files["c-new"]
    config = GeoIP(
        country_db=data / "c.mmdb",
        asn_db=None,
        download=Downloads(country_url=server.base + "/country.mmdb"),
    )
    (result,) = update_databases(config, today=TODAY, timeout=5)
    assert result.ok and (data / "c.mmdb").read_bytes() == files["c-new"]
    assert server.paths == ["/country.mmdb"]  # no {year}/{month}: no second month to try


def test_a_none_path_is_skipped(server, files, data):
    _serve_new(server, files)
    results = update_databases(_geoip(data, server.base, country=False), today=TODAY, timeout=5)
    assert [(r.kind, r.ok) for r in results] == [("asn", True)]
    assert server.paths == [A_NOV]
    assert update_databases(_geoip(data, server.base, country=False, asn=False), today=TODAY) == []


def test_month_urls_roll_over_the_year():
    assert month_urls("x-{year}-{month}", date(2027, 1, 3)) == ["x-2027-01", "x-2026-12"]
    assert month_urls("x-{year}-{month}", date(2026, 11, 30)) == ["x-2026-11", "x-2026-10"]
    assert month_urls("https://example.test/latest.mmdb", date(2026, 11, 30)) == [
        "https://example.test/latest.mmdb"
    ]


# -- failures -----------------------------------------------------------------------------------


def _truncated(files) -> bytes:
    gz = files["c-new.gz"]
    return gz[: len(gz) // 2]


def _bad_data_section(files) -> bytes:
    """The new country file with its data section overwritten: it opens, and fails at the
    first lookup that reads a record."""
    raw = files["c-new"]
    with maxminddb.open_database(io.BytesIO(raw), maxminddb.MODE_FD) as reader:
        meta = reader.metadata()
    start = meta.node_count * meta.record_size // 4 + 16  # the search tree, then 16 zero bytes
    end = raw.rindex(b"\xab\xcd\xefMaxMind.com")  # the metadata
    return gzip.compress(raw[:start] + b"\xff" * (end - start) + raw[end:])


# (what the country URL serves, a word the error must contain)
COUNTRY_FAILURES = {
    "404-both-months": (None, "HTTP 404"),
    "truncated-gzip": (_truncated, "truncated"),
    "not-gzip": (lambda files: files["c-new"], "gzip"),
    "corrupt-mmdb": (lambda files: gzip.compress(b"\x00not a database" * 100), "not a valid .mmdb"),
    "cut-mmdb": (lambda files: gzip.compress(files["c-new"][:-200]), "not a valid .mmdb"),
    "bad-records": (_bad_data_section, "is corrupt: looking up 1.1.1.1 failed"),
    "asn-as-country": (lambda files: files["a-new.gz"], "not a country database"),
}


@pytest.mark.parametrize("case", COUNTRY_FAILURES)
def test_a_failed_download_keeps_the_old_file(server, files, data, case):
    body, expected = COUNTRY_FAILURES[case]
    if body is not None:
        server.routes[C_NOV] = body(files)
    server.routes[A_NOV] = files["a-new.gz"]
    before = _install_old(data, files)

    country, asn = update_databases(_geoip(data, server.base), today=TODAY, timeout=5)

    assert not country.ok and expected in country.error
    # About the download, not the temporary file, and no advice to run this very command.
    assert ".part" not in country.error and "update-databases" not in country.error
    assert (country.source_name, country.build, country.size) == (None, None, None)
    assert asn.ok and asn.source_name == "DBIP-ASN-Lite (compat=GeoLite2-ASN)"
    # The old country file is untouched, the ASN file updated, and no temporary file is left.
    after = _snapshot(data)
    assert after == before | {"dbip-asn-lite.mmdb": files["a-new"]}
    assert str(country).startswith(f"country: {country.path} NOT updated (old file kept): ")
    assert server.base in str(country)
    if case == "404-both-months":
        assert country.url == server.base + C_OCT
        assert server.base + C_NOV in country.error
        assert server.paths == [C_NOV, C_OCT, A_NOV]
    else:
        assert country.url == server.base + C_NOV


def test_a_transfer_cut_short_is_a_failure(server, files, data):
    # The server promises more bytes than it sends and closes the connection.
    server.routes[A_NOV] = files["a-new"]
    server.lengths[A_NOV] = len(files["a-new"]) + 1000
    config = GeoIP(
        country_db=None,
        asn_db=data / "dbip-asn-lite.mmdb",
        download=Downloads(asn_url=server.base + "/free/dbip-asn-lite-{year}-{month}.mmdb"),
    )
    server.routes["/free/dbip-asn-lite-2026-11.mmdb"] = server.routes.pop(A_NOV)
    server.lengths["/free/dbip-asn-lite-2026-11.mmdb"] = server.lengths.pop(A_NOV)
    before = _install_old(data, files)
    with pytest.raises(DownloadError, match="truncated"):
        update_databases(config, today=TODAY, timeout=5)
    assert _snapshot(data) == before


def test_connection_refused_keeps_the_old_files(files, data):
    before = _install_old(data, files)
    base = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(DownloadError) as raised:
        update_databases(_geoip(data, base), today=TODAY, timeout=5)
    message = str(raised.value)
    assert "old files were kept" in message
    assert f"country: {base}{C_NOV}: connection failed" in message
    assert f"asn: {base}{A_NOV}: connection failed" in message
    assert _snapshot(data) == before


def test_a_silent_server_times_out(files, data):
    before = _install_old(data, files)
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DownloadError, match="timed out"):
            update_databases(_geoip(data, base, asn=False), today=TODAY, timeout=0.2)
    assert _snapshot(data) == before


def test_all_failing_raises_listing_each(server, files, data):
    server.routes[C_NOV] = _truncated(files)  # country: truncated; ASN: 404 in both months
    before = _install_old(data, files)
    with pytest.raises(DownloadError) as raised:
        update_databases(_geoip(data, server.base), today=TODAY, timeout=5)
    message = str(raised.value)
    assert message.startswith("Could not update the GeoIP databases; the old files were kept:")
    assert f"country: {server.base}{C_NOV}: the download is truncated" in message
    assert f"asn: {server.base}{A_OCT}: HTTP 404" in message
    assert _snapshot(data) == before


def test_a_failure_with_no_old_file(server, files, data):
    server.routes[A_NOV] = files["a-new.gz"]
    country, asn = update_databases(_geoip(data, server.base), today=TODAY, timeout=5)
    assert asn.ok and not country.ok
    assert "NOT updated (no file installed)" in str(country)
    assert _snapshot(data) == {"dbip-asn-lite.mmdb": files["a-new"]}


def test_one_file_for_both_keys_is_refused(server, data):
    config = GeoIP(
        country_db=data / "ipinfo_lite.mmdb",
        asn_db=data / "ipinfo_lite.mmdb",
        download=Downloads(country_url=server.base + COUNTRY, asn_url=server.base + ASN),
    )
    with pytest.raises(DownloadError, match="same file"):
        update_databases(config, today=TODAY, timeout=5)
    assert server.log == []


def test_result_fields():
    result = UpdateResult("asn", Path("x.mmdb"), "http://127.0.0.1/x", ok=False, error="HTTP 500")
    assert (result.source_name, result.build, result.size) == (None, None, None)
    assert str(result) == (
        "asn: x.mmdb NOT updated (no file installed): HTTP 500 [http://127.0.0.1/x]"
    )


# -- the command --------------------------------------------------------------------------------


def test_the_command_installs_this_months_files_and_fails_with_exit_1(server, files, data, tmp_path):
    from click.testing import CliRunner

    from monitor.cli import cli

    config = tmp_path / "config.yaml"
    config.write_text(
        f"geoip:\n  country_db: {data / 'c.mmdb'}\n  asn_db: {data / 'a.mmdb'}\n"
        f"  download:\n    country_url: {server.base + COUNTRY}\n    asn_url: {server.base + ASN}\n"
    )
    this_month = datetime.now(timezone.utc).date()  # the command's month is the UTC one
    server.routes |= {
        month_urls(COUNTRY, this_month)[0]: files["c-new.gz"],
        month_urls(ASN, this_month)[0]: files["a-new.gz"],
    }
    result = CliRunner().invoke(cli, ["--config", str(config), "update-databases"])
    assert result.exit_code == 0, result.output
    assert "country: " in result.stdout and "asn: " in result.stdout
    with open_country_db(data / "c.mmdb") as installed:
        assert installed.source.name.startswith("DBIP")

    server.routes.clear()
    failed = CliRunner().invoke(cli, ["--config", str(config), "update-databases"])
    assert failed.exit_code == 1
    assert "old files were kept" in failed.stderr
    assert failed.exception is None or isinstance(failed.exception, SystemExit), failed.exception
