"""`monitor crawl` in head mode, end to end, on a simulated world: DNS server, .mmdb files and web
servers on 127.x addresses. Each crawl runs in a subprocess (`python -m monitor ... crawl`), since
a Twisted reactor cannot start twice in one process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from monitor.sim.http import GARBAGE, HANG, HUGE_HEADERS, RESET, WebServer
from monitor.sim.world import World
from monitor.store import open_store

MARKER = b"MARKER-7f3a9c-BODY-MUST-NEVER-BE-READ"
NETWORKS = ("nl", "nl2", "de", "md", "ru", "ca")

# The CLI with monitor's logger at DEBUG: the crawl's child logs everything it would ever log.
DEBUG_MAIN = ("import logging, sys; logging.getLogger('monitor').setLevel(logging.DEBUG); "
              "sys.argv = ['monitor', *sys.argv[1:]]; from monitor.cli import main; main()")


@pytest.fixture
def world(tmp_path):
    with World(tmp_path / "world") as running:
        yield running


@pytest.fixture
def web(world):
    with WebServer(addresses=[world.networks[n].address() for n in NETWORKS]) as server:
        yield server


class Monitor:
    def __init__(self, world: World, tmp_path: Path, allow_private: bool = True, **crawl) -> None:
        self.tmp = tmp_path
        self.database = tmp_path / "monitor.db"
        self.log_file = tmp_path / "crawl.log"
        text = world.config_text(self.database, log_file=self.log_file, **crawl)
        if not allow_private:
            text = text.replace("allow_private_addresses: true", "allow_private_addresses: false")
        self.config = tmp_path / "config.yaml"
        self.config.write_text(text)

    def run(self, *args: str, debug: bool = False) -> subprocess.CompletedProcess:
        command = ["-P", "-c", DEBUG_MAIN] if debug else ["-P", "-m", "monitor"]
        return subprocess.run([sys.executable, *command, "--config", str(self.config), *args],
                              capture_output=True, text=True, cwd=self.tmp, timeout=180)

    def add(self, *urls: str) -> None:
        result = self.run("add", *urls)
        assert result.returncode == 0 and f"{len(urls)} added" in result.stdout, result

    def crawl(self, **kwargs) -> subprocess.CompletedProcess:
        result = self.run("crawl", **kwargs)
        assert result.returncode == 0, result.stderr
        return result

    def states(self) -> dict[str, list[dict]]:
        """url -> its url_states, oldest first."""
        db = open_store(self.database)
        try:
            found: dict[str, list[dict]] = {}
            for row in db.query("SELECT u.url, s.*, f.name AS first_by, l.name AS last_by "
                                "FROM url_states s JOIN urls u ON u.id = s.url_id "
                                "LEFT JOIN workers f ON f.id = s.first_worker "
                                "LEFT JOIN workers l ON l.id = s.last_worker ORDER BY u.id, s.first_crawl"):
                row["redirects"] = json.loads(row["redirects"]) if row["redirects"] else []
                found.setdefault(row["url"], []).append(row)
            return found
        finally:
            db.close()


def brief(state: dict) -> tuple:
    return (state["first_crawl"], state["last_crawl"], state["outcome"], state["http_status"],
            state["connected_ip"], state["countries"])


def test_three_nights_hosts_move_go_away_and_redirect(world, web, tmp_path):
    for host, network in (("img.alpha.test", "nl"), ("www.beta.test", "de"), ("old.gamma.test", "md"),
                          ("gone.delta.test", "ru"), ("new.gamma.test", "ca")):
        world.place(host, network)
    web.set_default("*", 200)
    monitor = Monitor(world, tmp_path)
    img, page, old, gone = (web.url("img.alpha.test", "/1.jpg"), web.url("www.beta.test", "/page"),
                            web.url("old.gamma.test", "/x"), web.url("gone.delta.test", "/y"))
    monitor.add(img, page, old, gone)

    first = monitor.crawl()  # night 1: everything online where DNS says
    assert "4 URLs (4 online)" in first.stdout
    arrived = {(r.host, r.path): (r.method, r.address) for r in web.requests}
    assert arrived == {("img.alpha.test", "/1.jpg"): ("HEAD", "127.1.1.1"),
                       ("www.beta.test", "/page"): ("HEAD", "127.2.1.1"),
                       ("old.gamma.test", "/x"): ("HEAD", "127.3.1.1"),
                       ("gone.delta.test", "/y"): ("HEAD", "127.4.1.1")}

    world.place("img.alpha.test", "md")                                   # night 2: alpha moves,
    target = web.url("new.gamma.test", "/page")
    web.redirect("www.beta.test", "/page", target)                        # beta redirects abroad,
    world.dns.remove("gone.delta.test")                                   # delta goes away
    world.dns.set_nxdomain("gone.delta.test")
    web.reset_log()
    second = monitor.crawl()
    assert "4 URLs (3 online, 1 unresolved)" in second.stdout
    assert ("img.alpha.test", "/1.jpg", "127.3.1.1") in {(r.host, r.path, r.address) for r in web.requests}
    assert "gone.delta.test" not in {r.host for r in web.requests}

    web.set_route("old.gamma.test", "/x", 404)                            # night 3: gamma's file is removed
    monitor.crawl()

    states = monitor.states()
    assert [brief(s) for s in states[img]] == [
        (1, 1, "online", 200, "127.1.1.1", '["NL"]'), (2, 3, "online", 200, "127.3.1.1", '["MD"]')]
    assert [brief(s) for s in states[page]] == [
        (1, 1, "online", 200, "127.2.1.1", '["DE"]'),
        # redirected to Canada: recorded with the URL, located where its own host is
        (2, 3, "online", 200, "127.8.1.1", '["DE"]')]
    redirected = states[page][1]
    assert redirected["final_url"] == target and redirected["redirects"] == [target]
    assert redirected["detail"] == 'final host new.gamma.test: 127.8.1.1; countries ["CA"]; asns [64561]'
    assert [brief(s) for s in states[old]] == [
        (1, 2, "online", 200, "127.3.1.1", '["MD"]'), (3, 3, "removed", 404, "127.3.1.1", '["MD"]')]
    assert [brief(s) for s in states[gone]] == [
        (1, 1, "online", 200, "127.4.1.1", '["RU"]'), (2, 3, "unresolved", None, None, None)]
    assert states[gone][1]["detail"] == "nxdomain"

    db = open_store(monitor.database)
    crawls = [dict(r) for r in db.query("SELECT * FROM crawls ORDER BY id")]
    db.close()
    assert [(c["mode"], c["status"]) for c in crawls] == [("head", "complete")] * 3
    assert json.loads(crawls[2]["counts"])["outcomes"] == {"online": 2, "removed": 1, "unresolved": 1}

    # Each state records the worker of its first observation and of its latest: a worker
    # process per night here, so an interval over two nights names two workers
    (night1, night1_again), (night2, night3) = [(s["first_by"], s["last_by"]) for s in states[img]]
    assert night1 == night1_again and night1.rsplit(":", 1)[0] == socket.gethostname()
    assert len({night1, night2, night3}) == 3
    assert json.loads(crawls[2]["counts"])["workers"] == {night3: 4}

    history = json.loads(monitor.run("history", img, "--format", "json").stdout)
    assert [(p["outcome"], p["connected_ip"], p["countries"]) for p in history["periods"]] == [
        ("online", "127.1.1.1", ["NL"]), ("online", "127.3.1.1", ["MD"])]


@pytest.fixture
def tls_mismatch(world):
    """A server that answers a TLS hello with plain text: an https URL's TLS handshake fails."""
    server = socket.create_server((world.networks["ca"].address(2), 0))

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(timeout=5)


def test_outcomes_and_no_body_is_ever_read(world, web, tmp_path, tls_mismatch):
    world.place("site.alpha.test", "nl")
    world.place("tls.beta.test", "ca", n=2)
    host = "site.alpha.test"
    big = MARKER * (32 * 1024 * 1024 // len(MARKER))  # far more than loopback socket buffers hold
    routes = {
        "/ok": dict(status=200, body=MARKER),
        "/head-refused": dict(status=200, head_status=405, body=big),
        "/head-not-implemented": dict(status=200, head_status=501, body=MARKER,
                                      headers={"Transfer-Encoding": "chunked"}),
        "/404": dict(status=404, body=MARKER), "/410": dict(status=410), "/500": dict(status=500),
        "/reset": dict(behaviour=RESET), "/hang": dict(behaviour=HANG), "/garbage": dict(behaviour=GARBAGE),
        "/huge-headers": dict(behaviour=HUGE_HEADERS),
        # a server that sends a body to a HEAD anyway
        "/head-with-body": dict(behaviour=GARBAGE, body=b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                % (len(MARKER), MARKER)),
    }
    for path, route in routes.items():
        web.set_route(host, path, **route)
    web.redirect(host, "/loop", web.url(host, "/loop-back"))
    web.redirect(host, "/loop-back", "/loop")
    for n in range(7):
        web.redirect(host, f"/far{n}", f"/far{n + 1}")
    monitor = Monitor(world, tmp_path, timeout=1.0, retries=0)
    urls = {path: web.url(host, path) for path in [*routes, "/loop", "/far0"]}
    urls["tls"] = f"https://tls.beta.test:{tls_mismatch}/x"
    monitor.add(*urls.values())

    result = monitor.run("crawl", debug=True)
    assert result.returncode == 0, result.stderr

    states = {url: s[-1] for url, s in monitor.states().items()}
    seen = {path: (states[url]["outcome"], states[url]["http_status"]) for path, url in urls.items()}
    assert seen == {
        "/ok": ("online", 200), "/head-refused": ("online", 200), "/head-not-implemented": ("online", 200),
        "/404": ("removed", 404), "/410": ("removed", 410), "/500": ("http-error", 500),
        "/reset": ("unreachable", None), "/hang": ("unreachable", None), "/garbage": ("unreachable", None),
        "/huge-headers": ("online", 200), "/head-with-body": ("online", 200),
        "/loop": ("redirect-loop", 301), "/far0": ("too-many-redirects", 301), "tls": ("unreachable", None),
    }
    detail = {path: states[url]["detail"] for path, url in urls.items()}
    assert "ConnectionLost" in detail["/reset"]
    assert detail["/hang"] == "DownloadTimeoutError after 1 s"
    assert "ParseError" in detail["/garbage"]
    assert "SSL" in detail["tls"]
    assert states[urls["/loop"]]["redirects"] == [web.url(host, "/loop-back"), urls["/loop"]]
    assert len(states[urls["/far0"]]["redirects"]) == 6

    # The address recorded is the one the server saw the request on
    for path in ("/ok", "/404", "/head-refused"):
        assert states[urls[path]]["connected_ip"] == "127.1.1.1"
    assert {r.address for r in web.requests if r.host == host} == {"127.1.1.1"}

    # HEAD everywhere; one GET, stopped at its headers, only where HEAD was refused
    methods = sorted((r.path, r.method) for r in web.requests if r.method != "HEAD")
    assert methods == [("/head-not-implemented", "GET"), ("/head-refused", "GET")]
    [get] = [r for r in web.requests if r.method == "GET" and r.path == "/head-refused"]
    assert get.body_bytes_written < len(big)  # the crawler stopped reading early

    # The marker is nowhere: not in the database, the log, or the output
    for path in tmp_path.iterdir():
        if path.name.startswith("monitor.db") or path == monitor.log_file:
            assert MARKER not in path.read_bytes(), path
    assert monitor.log_file.stat().st_size > 0 and b"DEBUG" in monitor.log_file.read_bytes()
    assert MARKER.decode() not in result.stdout + result.stderr


def test_private_addresses_are_never_contacted_unless_allowed(world, web, tmp_path):
    world.place("img.alpha.test", "nl")
    world.place("www.beta.test", "de")
    web.set_default("*", 200)
    monitor = Monitor(world, tmp_path, allow_private=False)
    urls = [web.url("img.alpha.test", "/1.jpg"), web.url("www.beta.test", "/"), "http://127.1.1.1:%d/x" % web.port]
    monitor.add(*urls)
    result = monitor.crawl()
    assert "3 URLs (3 refused-private)" in result.stdout
    assert web.requests == []  # the server's own record: nothing arrived
    states = monitor.states()
    img = states[urls[0]][0]
    assert (img["outcome"], img["http_status"], img["connected_ip"], img["countries"]) == (
        "refused-private", None, None, '["NL"]')
    assert "127.1.1.1" in img["detail"] and "allow_private_addresses" in img["detail"]
