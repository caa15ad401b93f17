"""A crawl worker as a pure function of its batch: hand-made batches revisited by
monitor.crawl.revisit.revisit against the simulated web, with no database and no config file
anywhere; and what the worker's modules may import."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys

import pytest

from monitor.crawl.protocol import WorkerSettings, encode
from monitor.crawl.revisit import CrawlProcessError, revisit
from monitor.resolve.dns import DnsAnswer
from monitor.sim.dns import DNSServer
from monitor.sim.http import WebServer

MARKER = b"MARKER-5d1e2b-BODY-MUST-NEVER-BE-READ"
HOME, ELSEWHERE = "127.1.1.1", "127.8.1.1"


@pytest.fixture
def dns():
    with DNSServer() as server:
        yield server


@pytest.fixture
def web():
    with WebServer([HOME, ELSEWHERE]) as server:
        yield server


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """The worker runs in an empty folder, with a config path that does not exist: it must need
    neither (whatever it would create or read would show up here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONITOR_CONFIG", str(tmp_path / "no-such-config.yaml"))
    return tmp_path


def settings(dns: DNSServer, **options) -> dict:
    base = WorkerSettings(timeout=5.0, retries=0, user_agent="monitor-test", allow_private=True,
                          dns={"nameservers": ["127.0.0.1"], "port": dns.port, "timeout": 1.0}, worker="w1")
    return {"settings": {**base.to_json(), **options}}


def test_a_hand_made_batch_gives_one_observation_per_url_and_touches_no_store(dns, web, nowhere):
    web.set_route("img.alpha.test", "/1.jpg", 200, body=MARKER)
    web.set_route("img.alpha.test", "/gone.jpg", 404, body=MARKER)
    web.set_route("img.alpha.test", "/get-only", 200, head_status=405, body=MARKER * 10_000)
    web.redirect("img.alpha.test", "/moved", web.url("files.other.test", "/1.jpg"))
    web.set_route("files.other.test", "/1.jpg", 200)
    dns.set_a("files.other.test", [ELSEWHERE])  # not in the batch: the worker resolves it
    dns.set_a("img.alpha.test", ["127.9.9.9"])  # a different answer: the batch's is the one used
    batch = [
        settings(dns),
        {"host": "img.alpha.test", "status": "ok", "ips": [HOME], "detail": None},
        {"url": web.url("img.alpha.test", "/1.jpg"), "id": 1, "host": "img.alpha.test"},
        {"url": web.url("img.alpha.test", "/gone.jpg"), "id": 2, "host": "img.alpha.test"},
        {"url": web.url("img.alpha.test", "/get-only"), "id": 3, "host": "img.alpha.test"},
        {"url": web.url("img.alpha.test", "/moved"), "id": 4, "host": "img.alpha.test"},
        {"host": "gone.beta.test", "status": "nxdomain", "ips": [], "detail": None},
        {"url": "http://gone.beta.test/x", "id": 5, "host": "gone.beta.test"},
        {"url": "http://late.gamma.test/y", "id": 6, "host": "late.gamma.test"},  # no answer sent
        {"end": 6},
    ]
    seen = {o.url_id: o for o in revisit(batch)}
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]
    brief = {i: (o.outcome, o.http_status, o.connected_ip) for i, o in seen.items()}
    assert brief == {1: ("online", 200, HOME), 2: ("removed", 404, HOME), 3: ("online", 200, HOME),
                     4: ("online", 200, ELSEWHERE), 5: ("unresolved", None, None), 6: ("unresolved", None, None)}
    assert seen[6].detail == "not resolved by this crawl"
    moved = seen[4]
    assert (moved.host, moved.final_host, moved.final_ips) == ("img.alpha.test", "files.other.test", [ELSEWHERE])
    assert moved.redirects == [web.url("files.other.test", "/1.jpg")]
    assert {o.worker for o in seen.values()} == {"w1"}
    # HEAD everywhere, one GET (stopped at its headers) where HEAD was refused, all to the batch's address
    assert sorted((r.method, r.path) for r in web.requests if r.method != "HEAD") == [("GET", "/get-only")]
    assert {r.address for r in web.requests if r.host == "img.alpha.test"} == {HOME}
    # No body is kept, and nothing at all is written where the worker ran
    assert all(MARKER.decode() not in repr(o) for o in seen.values())
    assert list(nowhere.iterdir()) == []


def test_private_addresses_are_refused_and_a_worker_names_itself(dns, web, nowhere):
    web.set_default("*", 200)
    batch = [
        settings(dns, allow_private=False, worker=None),
        {"host": "img.alpha.test", "status": "ok", "ips": [HOME], "detail": None},
        {"url": web.url("img.alpha.test", "/1.jpg"), "id": 1, "host": "img.alpha.test"},
        {"url": f"http://{ELSEWHERE}:{web.port}/2.jpg", "id": 2, "host": ELSEWHERE},  # an IP literal
        {"end": 2},
    ]
    observations = list(revisit(batch))
    assert sorted((o.url_id, o.outcome) for o in observations) == [(1, "refused-private"), (2, "unresolved")]
    [refused] = [o for o in observations if o.url_id == 1]
    assert refused.detail.endswith("crawl.allow_private_addresses is false") and HOME in refused.detail
    assert web.requests == []  # the server's own record: nothing arrived
    workers = {o.worker for o in observations}
    assert len(workers) == 1
    host, pid = workers.pop().rsplit(":", 1)
    assert host == socket.gethostname() and int(pid) != os.getpid()  # the worker process's own


def test_a_long_batch_through_a_small_window_re_announces_hosts(dns, web, nowhere):
    """The sender's mirror of the worker's window: every URL finds its host's answer."""
    web.set_default("*", 200)
    hosts = [f"h{i}.test" for i in range(5)]
    rng = random.Random(7)
    urls = [(n, web.url(host, f"/{n}"), host) for n, host in ((n, rng.choice(hosts)) for n in range(1, 61))]
    answers = {h: DnsAnswer(h, "ok", (), (HOME,)) for h in hosts}
    batch = list(encode(WorkerSettings(**settings(dns, host_window=2)["settings"]), urls, answers.get))
    announced = sum("host" in m and "url" not in m for m in batch)
    assert len(hosts) < announced < len(urls)  # some announced again, some still held
    observations = list(revisit(batch))
    assert sorted(o.url_id for o in observations) == list(range(1, 61))
    assert {o.outcome for o in observations} == {"online"}


def test_a_batch_cut_short_is_an_error_not_a_smaller_crawl(dns, nowhere):
    batch = [settings(dns), {"host": "a.test", "status": "nxdomain", "ips": [], "detail": None},
             {"url": "http://a.test/", "id": 1, "host": "a.test"}]  # no end line
    with pytest.raises(CrawlProcessError, match="could not read its batch.*without its end line"):
        list(revisit(batch))


def test_a_batch_without_settings_is_refused(nowhere):
    with pytest.raises(CrawlProcessError, match="exit code 2"):
        list(revisit([{"url": "http://a.test/", "id": 1, "host": "a.test"}, {"end": 1}]))


def test_a_failure_reading_the_batch_fails_the_revisit(dns, nowhere):
    def batch():
        yield settings(dns)
        yield {"host": "a.test", "status": "nxdomain", "ips": [], "detail": None}
        yield {"url": "http://a.test/", "id": 1, "host": "a.test"}
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError, match="the store went away"):
        list(revisit(batch()))


def workers_of_this_process() -> list[int]:
    """Our crawl workers that are still running (not zombies waiting to be reaped)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"monitor.crawl.scrapy_run" in command:
            found.append(int(entry))
    return found


def test_a_caller_that_stops_reading_stops_the_worker(dns, web, nowhere):
    web.set_route("slow.alpha.test", "/", 200, delay=30.0)
    batch = [settings(dns), {"host": "gone.beta.test", "status": "nxdomain", "ips": [], "detail": None},
             {"url": "http://gone.beta.test/", "id": 1, "host": "gone.beta.test"},
             {"host": "slow.alpha.test", "status": "ok", "ips": [HOME], "detail": None},
             {"url": web.url("slow.alpha.test", "/"), "id": 2, "host": "slow.alpha.test"}, {"end": 2}]
    observations = revisit(batch)
    assert next(observations).url_id == 1
    assert len(workers_of_this_process()) == 1  # busy with the slow URL
    observations.close()
    assert workers_of_this_process() == []


def test_the_workers_modules_import_nothing_of_the_store():
    code = ("import sys, monitor.spiders.revisit, monitor.crawl.scrapy_run, monitor.crawl.revisit; "
            "print(sorted(m for m in sys.modules if m.startswith('monitor.store') "
            "or m.split('.')[0] in ('sqlite3', 'sqlite_utils', 'maxminddb')))")
    shown = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"
