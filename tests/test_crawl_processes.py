"""A crawl on several processes: whole hosts per process, each URL observed once, connections kept
alive within a host and capped in all, and the active URLs read host by host."""

from __future__ import annotations

import json
import socketserver
import subprocess
import sys
import threading
from collections import Counter

import pytest

from monitor.crawl.local import SharedHosts, host_streams
from monitor.crawl.protocol import WorkerSettings
from monitor.crawl.revisit import CrawlProcessError, revisit, revisit_streams
from monitor.intake import add_urls
from monitor.resolve.dns import DnsAnswer
from monitor.sim.dns import DNSServer
from monitor.sim.world import World
from monitor.store import history, open_store


def urls_of(hosts: dict[str, int]) -> list[tuple[int, str, str]]:
    """(id, url, host), ordered by host as the store gives them."""
    rows, n = [], 0
    for host, count in sorted(hosts.items()):
        for _ in range(count):
            n += 1
            rows.append((n, f"http://{host}/{n}", host))
    return rows


def test_a_consumer_interleaves_a_few_hosts_url_by_url():
    shared = SharedHosts(urls_of({"a.test": 4, "b.test": 1, "c.test": 2}))
    assert [url[2][0] for url in shared.take(hosts_at_once=2)] == list("abaacac")


def test_shared_hosts_hand_out_whole_hosts_to_whoever_asks_first():
    shared = SharedHosts(urls_of({"a.test": 3, "b.test": 1, "c.test": 2, "d.test": 2}))
    first, second = shared.take(), shared.take()
    taken = {1: [next(first)], 2: [next(second)]}  # each consumer starts a host of its own
    taken[1] += list(first)  # the first drains everything left, a whole host at a time
    taken[2] += list(second)
    hosts = {i: [url[2] for url in urls] for i, urls in taken.items()}
    assert hosts == {1: ["a.test"] * 3 + ["c.test"] * 2 + ["d.test"] * 2, 2: ["b.test"]}


def test_streams_share_the_concurrency_and_split_no_host():
    answers = {h: DnsAnswer(h, "ok", (), ("127.0.0.1",)) for h in ("a.test", "b.test", "c.test")}
    streams = host_streams(WorkerSettings(concurrency=5), urls_of({"a.test": 4, "b.test": 2, "c.test": 3}),
                           answers.get, processes=2)
    messages = [list(stream) for stream in streams]  # the first stream drains the source alone
    assert [m[0]["settings"]["concurrency"] for m in messages] == [3, 3]
    per_stream = [Counter(m["host"] for m in stream if "url" in m) for stream in messages]
    assert per_stream == [Counter({"a.test": 4, "b.test": 2, "c.test": 3}), Counter()]
    assert [stream[-1] for stream in messages] == [{"end": 9}, {"end": 0}]
    # Three requests in flight per process, two per host: the hosts come interleaved by one.
    hosts = [m["host"] for m in messages[0] if "url" in m]
    assert hosts == ["a.test", "a.test", "a.test", "a.test", "b.test", "b.test", "c.test", "c.test", "c.test"]
    [single] = host_streams(WorkerSettings(concurrency=5), urls_of({"a.test": 1}), answers.get, processes=1)
    assert next(single)["settings"]["concurrency"] == 5


def test_the_active_urls_come_host_by_host_a_page_at_a_time(tmp_path):
    db = open_store(tmp_path / "monitor.db")
    hosts = ["c.test", "a.test", "b.test"] * 5
    add_urls(db, (f"http://{h}/{i}" for i, h in enumerate(hosts)), on_reject=print)
    rows = list(history.active_urls(db.conn, page=4, by_host=True))
    assert [r[2] for r in rows] == sorted(hosts)
    assert [r[0] for r in rows if r[2] == "a.test"] == [2, 5, 8, 11, 14]  # by id within a host
    trial = list(history.active_urls(db.conn, 4, by_host=True))  # the first 4 by id, then by host
    assert [(r[0], r[2]) for r in trial] == [(2, "a.test"), (3, "b.test"), (1, "c.test"), (4, "c.test")]
    assert [r[0] for r in history.active_urls(db.conn, page=4)] == list(range(1, 16))


class KeepEverythingOpen(socketserver.ThreadingTCPServer):
    """A web server that answers every request and never closes a connection, whatever the client
    asks (``Connection: close`` ignored): it counts the connections open at once."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.open = self.peak = self.connections = self.requests = 0

    def opened(self, change: int) -> None:
        with self.lock:
            self.open += change
            self.peak = max(self.peak, self.open)
            self.connections += change > 0


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: KeepEverythingOpen = self.server  # type: ignore[assignment]
        server.opened(+1)
        try:
            while True:
                request = [self.rfile.readline()]
                if not request[0]:
                    return
                while request[-1] not in (b"\r\n", b"\n", b""):
                    request.append(self.rfile.readline())
                with server.lock:
                    server.requests += 1
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
        except OSError:
            return
        finally:
            server.opened(-1)


@pytest.fixture
def keep_open():
    server = KeepEverythingOpen()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_connections_are_reused_within_a_host_and_idle_ones_are_capped(keep_open):
    port = keep_open.server_address[1]
    hosts = {f"h{i:02}.test": 3 for i in range(40)}
    urls = [(n, f"http://{host}:{port}/{n}", host) for n, _, host in urls_of(hosts)]
    answers = {h: DnsAnswer(h, "ok", (), ("127.0.0.1",)) for h in hosts}
    with DNSServer() as dns:  # asked for nothing: every host's answer is in the batch
        settings = WorkerSettings(concurrency=4, per_host_concurrency=1, timeout=5.0, retries=0,
                                  allow_private=True, worker="w1",
                                  dns={"nameservers": ["127.0.0.1"], "port": dns.port, "timeout": 1.0})
        [stream] = host_streams(settings, urls, answers.get, processes=1)
        observations = list(revisit(stream))
    assert Counter(o.outcome for o in observations) == {"online": 120}
    assert keep_open.requests == 120
    # Kept alive: a host's three URLs share a connection (without reuse: 120 connections).
    assert keep_open.connections <= 60
    # Capped: 40 hosts' idle connections would all stay open (the server never closes one); the
    # worker holds at most concurrency (4) idle besides the 4 in use.
    assert keep_open.peak <= 8


@pytest.fixture
def world(tmp_path):
    with World(tmp_path / "world") as running:
        yield running


def test_a_crawl_on_two_processes_observes_every_url_once(world, tmp_path):
    from monitor.sim.http import WebServer

    hosts = [f"img{i}.alpha{i}.test" for i in range(30)]
    address = world.networks["nl"].address()
    for host in hosts:
        world.dns.set_a(host, [address])
    config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", processes=2,
                                log_file=tmp_path / "crawl.log")
    with WebServer([address]) as web:
        web.set_default("*", 200)
        # More than a worker reads ahead (a few hundred lines), so that both take hosts.
        urls = [web.url(host, f"/{n}.jpg") for host in hosts for n in range(20)]
        web.set_route(hosts[0], "/0.jpg", 404)

        def monitor(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(config), *args],
                                  capture_output=True, text=True, cwd=tmp_path, timeout=120)

        assert monitor("add", *urls).returncode == 0
        crawl = monitor("crawl")
        assert crawl.returncode == 0, crawl.stderr
        requests = Counter((r.host, r.path) for r in web.requests)
    assert set(requests.values()) == {1} and len(requests) == 600  # each URL asked once
    db = open_store(tmp_path / "monitor.db")
    summary = json.loads(db.execute("SELECT counts FROM crawls").fetchone()[0])
    assert summary["outcomes"] == {"online": 599, "removed": 1}
    assert len(summary["workers"]) == 2 and sum(summary["workers"].values()) == 600
    by_worker = {}
    for host, worker in db.execute("SELECT u.host, w.name FROM url_states s JOIN urls u ON u.id = s.url_id "
                                   "JOIN workers w ON w.id = s.first_worker"):
        by_worker.setdefault(host, set()).add(worker)
    assert all(len(workers) == 1 for workers in by_worker.values())  # no host split between two
    assert db.execute("SELECT COUNT(*) FROM url_states").fetchone()[0] == 600
    db.close()


def test_two_streams_of_one_revisit_report_a_failing_worker(tmp_path):
    good = [{"settings": WorkerSettings(worker="w1").to_json()}, {"end": 0}]
    cut_short = [{"settings": WorkerSettings(worker="w2").to_json()}]  # no end line
    with pytest.raises(CrawlProcessError, match="without its end line"):
        list(revisit_streams([good, cut_short]))


def test_a_worker_raises_its_open_file_limit_and_says_when_it_cannot(tmp_path):
    """Run in a child whose hard limit is low, so the parent's limits stay as they were."""
    script = """
import resource, sys
from monitor.crawl.connections import files_needed, raise_open_file_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (100, 300))
print(raise_open_file_limit(files_needed(64)), raise_open_file_limit(files_needed(200)),
      resource.getrlimit(resource.RLIMIT_NOFILE))
"""
    result = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[0] == "(192, 300) (300, 300) (300, 300)"


def test_a_worker_under_a_low_limit_warns_in_one_line(tmp_path):
    batch = json.dumps({"settings": WorkerSettings(concurrency=500, worker="w1").to_json()}) + "\n" + '{"end": 0}\n'
    script = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
              "sys.argv = ['scrapy_run']; runpy.run_module('monitor.crawl.scrapy_run', run_name='__main__')")
    result = subprocess.run([sys.executable, "-P", "-c", script], input=batch, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "open-file limit" in line]
    assert len(warnings) == 1 and "open-file limit 256 (hard limit 256) is below the 1064" in warnings[0]
    assert "crawl.concurrency 500" in warnings[0]
