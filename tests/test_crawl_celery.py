"""A crawl on many machines (crawl.broker): `monitor crawl` sends batches through a real broker
(Redis, RabbitMQ) to real `monitor worker` processes, on a simulated world on loopback. A worker
killed with SIGKILL in the middle of a batch loses nothing and counts nothing twice; no worker,
or no broker, is one line and exit 1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from brokers import broker, clean_env, closed_port, workers
from hypothesis import given
from hypothesis import strategies as st

from monitor.crawl.distributed import batches
from monitor.sim.http import WebServer
from monitor.sim.world import World
from monitor.store import open_store

NETWORKS = ("nl", "nl2", "de", "md", "ru", "ca")


def monitor(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=config.parent, env=clean_env(), timeout=timeout)


def start_crawl(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-P", "-m", "monitor", "--config", str(config), "crawl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.parent,
                            env=clean_env())


def states(database: Path, crawl_id: int) -> dict[str, list[dict]]:
    """url -> the states covering that crawl, with the names of the workers that made them."""
    db = open_store(database)
    try:
        found: dict[str, list[dict]] = {}
        for row in db.query("SELECT u.url, s.outcome, s.http_status, s.connected_ip, f.name AS first_by "
                            "FROM urls u LEFT JOIN url_states s ON s.url_id = u.id "
                            "AND s.first_crawl <= :c AND s.last_crawl >= :c "
                            "LEFT JOIN workers f ON f.id = s.first_worker ORDER BY u.id", {"c": crawl_id}):
            found.setdefault(row["url"], [])
            if row["outcome"] is not None:
                found[row["url"]].append(row)
        return found
    finally:
        db.close()


def crawls(database: Path) -> list[dict]:
    db = open_store(database)
    try:
        return [dict(r) for r in db.query("SELECT id, status, counts FROM crawls ORDER BY id")]
    finally:
        db.close()


# -- batches ---------------------------------------------------------------------------------

@given(st.lists(st.integers(0, 6), max_size=60), st.integers(1, 8))
def test_batches_never_split_a_host_and_lose_nothing(hosts, size):
    rows = [(i, f"http://h{h}.test/{i}", f"h{h}.test") for i, h in enumerate(sorted(hosts))]
    cut = list(batches(iter(rows), size))
    assert [row for batch in cut for row in batch] == rows
    seen: set[str] = set()
    for number, batch in enumerate(cut):
        mine = {host for _, _, host in batch}
        assert not mine & seen  # a host is in one batch only
        seen |= mine
        if number < len(cut) - 1:
            assert len(batch) >= size
        # over size only by the rest of its last host
        assert len([r for r in batch if r[2] != batch[-1][2]]) < size or len(mine) == 1


# -- a worker killed mid-crawl ---------------------------------------------------------------

HOSTS = 12
URLS_PER_HOST = 4


@pytest.mark.parametrize("kind", ["redis", "amqp"])
def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(tmp_path, kind):
    with broker(kind) as url, World(tmp_path / "world") as world, \
            WebServer([world.networks[n].address() for n in NETWORKS]) as web:
        expected: dict[str, tuple[str, int]] = {}
        for i in range(HOSTS):
            host = f"h{i:02}.host{i}.test"
            world.place(host, NETWORKS[i % len(NETWORKS)])
            # Slow answers: a batch lasts a few seconds, so the kill lands in one.
            if i % 4 == 0:
                web.set_default(host, 404, delay=0.4)
            else:
                web.set_default(host, 200, delay=0.4)
            for j in range(URLS_PER_HOST):
                expected[web.url(host, f"/{j}.jpg")] = ("removed", 404) if i % 4 == 0 else ("online", 200)
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", broker=url,
                                    batch_size=8, batch_timeout=8, worker_wait=30,
                                    log_file=tmp_path / "crawl.log")
        reports = tmp_path / "reports.txt"
        reports.write_text("".join(f"{u}\n" for u in expected))
        assert monitor(config, "import", str(reports)).returncode == 0

        with workers(url, tmp_path, "alpha", "beta") as (alpha, _):
            crawl = start_crawl(config)
            began = time.monotonic()
            # Kill alpha once it has finished a batch and is in the middle of its next one: its
            # Scrapy child runs and has had time to make requests (each host answers after 0.4 s).
            deadline = time.monotonic() + 120
            while not ("observations in" in alpha.text() and alpha.children()):
                assert crawl.poll() is None, crawl.communicate()
                assert time.monotonic() < deadline, f"alpha never took a second batch:\n{alpha.text()[-2000:]}"
                time.sleep(0.05)
            time.sleep(1.0)
            assert alpha.children(), "alpha's batch ended before the kill: nothing would be tested"
            requests_at_kill = web.request_count
            alpha.kill()
            killed = time.monotonic()
            out, err = crawl.communicate(timeout=240)
            after = time.monotonic() - killed
            assert crawl.returncode == 0, err

        found = states(tmp_path / "monitor.db", 1)
        assert {u: [(s["outcome"], s["http_status"]) for s in found[u]] for u in expected} == \
               {u: [outcome] for u, outcome in expected.items()}  # every URL once, right outcome
        made_by = Counter(s["first_by"] for u in expected for s in found[u])
        assert set(made_by) == {"alpha", "beta"}, made_by  # each observation names its worker
        (only,) = crawls(tmp_path / "monitor.db")
        counts = json.loads(only["counts"])
        assert only["status"] == "complete"
        assert counts["urls"] == len(expected) == sum(counts["workers"].values())  # none counted twice
        assert counts["workers"] == dict(made_by)
        assert f"{len(expected)} URLs" in out
        # For the report: what the kill cost (requests made twice) and how the batch came back.
        asked = Counter((r.host, r.path) for r in web.requests)
        told = [line.split(": ", 1)[1] for line in (tmp_path / "crawl.log").read_text().splitlines()
                if "again" in line or "batches," in line]
        print(f"{kind}: killed alpha {killed - began:.1f} s into the crawl, after {requests_at_kill} requests, "
              f"done {after:.1f} s later; observations {dict(made_by)}; "
              f"{sum(1 for n in asked.values() if n > 1)} URLs requested twice; {told}")


def test_a_batch_run_twice_to_the_end_is_taken_once(tmp_path):
    """A worker stopped (SIGSTOP) in the middle of a batch: the coordinator sends the batch again,
    the other worker answers it; the stopped one, continued, finishes its copy too. Every URL is
    still observed once."""
    with broker("redis") as url, World(tmp_path / "world") as world, \
            WebServer([world.networks[n].address() for n in NETWORKS]) as web:
        expected = []
        for i in range(HOSTS):
            host = f"h{i:02}.host{i}.test"
            world.place(host, NETWORKS[i % len(NETWORKS)])
            web.set_default(host, 200, delay=0.4)
            expected += [web.url(host, f"/{j}.jpg") for j in range(URLS_PER_HOST)]
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", broker=url,
                                    batch_size=8, batch_timeout=5, worker_wait=30, log_file=tmp_path / "crawl.log")
        reports = tmp_path / "reports.txt"
        reports.write_text("".join(f"{u}\n" for u in expected))
        assert monitor(config, "import", str(reports)).returncode == 0
        log = tmp_path / "crawl.log"

        def logged(text: str) -> bool:
            return log.exists() and text in log.read_text()

        with workers(url, tmp_path, "alpha", "beta") as (alpha, _):
            crawl = start_crawl(config)
            deadline = time.monotonic() + 120
            while not alpha.children():
                assert crawl.poll() is None and time.monotonic() < deadline, crawl.communicate()
                time.sleep(0.05)
            time.sleep(0.5)
            alpha.process.send_signal(signal.SIGSTOP)  # its Scrapy child runs on, unread
            try:
                while not logged("answered by send 2 of 2"):
                    assert crawl.poll() is None and time.monotonic() < deadline, crawl.communicate()
                    time.sleep(0.1)
            finally:
                alpha.process.send_signal(signal.SIGCONT)
            while "observations in" not in alpha.text():  # alpha finishes its copy too
                assert time.monotonic() < deadline, alpha.text()[-2000:]
                time.sleep(0.1)
            _, err = crawl.communicate(timeout=240)
            assert crawl.returncode == 0, err

        found = states(tmp_path / "monitor.db", 1)
        assert {u: [s["outcome"] for s in found[u]] for u in expected} == {u: ["online"] for u in expected}
        (only,) = crawls(tmp_path / "monitor.db")
        counts = json.loads(only["counts"])
        assert counts["urls"] == len(expected) == sum(counts["workers"].values())
        twice = sum(1 for n in Counter((r.host, r.path) for r in web.requests).values() if n > 1)
        assert twice > 0  # the batch did run twice
        print(f"batch run twice: {twice} URLs requested twice, observations {counts['workers']}; "
              f"{[line.split(': ', 1)[1] for line in log.read_text().splitlines() if 'send' in line]}")


# -- no worker, no broker ---------------------------------------------------------------------

def test_no_worker_is_one_line_and_the_next_crawl_completes(tmp_path):
    with broker("redis") as url, World(tmp_path / "world") as world, \
            WebServer([world.networks["nl"].address()]) as web:
        world.place("img.alpha.test", "nl")
        web.set_default("*", 200)
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", broker=url,
                                    worker_wait=2, log_file=tmp_path / "crawl.log")
        empty = monitor(config, "crawl")  # nothing to revisit: no worker needed
        assert empty.returncode == 0 and "0 URLs" in empty.stdout, empty.stderr
        page = web.url("img.alpha.test", "/1.jpg")
        assert monitor(config, "add", page).returncode == 0

        lonely = monitor(config, "crawl")
        assert lonely.returncode == 1
        assert lonely.stderr.splitlines() == [
            f"Error: no `monitor worker` answered through crawl.broker {url} within crawl.worker_wait (2 s); "
            "start one (`monitor worker`) and crawl again"]
        assert [c["status"] for c in crawls(tmp_path / "monitor.db")] == ["complete", "failed"]
        assert web.request_count == 0

        with workers(url, tmp_path, "gamma"):
            again = monitor(config, "crawl")
        assert again.returncode == 0, again.stderr
        assert [c["status"] for c in crawls(tmp_path / "monitor.db")] == ["complete", "failed", "complete"]
        second = states(tmp_path / "monitor.db", 3)[page]
        assert [(s["outcome"], s["first_by"]) for s in second] == [("online", "gamma")]


def test_a_batch_that_fails_on_every_send_fails_the_crawl_in_one_line(tmp_path):
    """A worker whose Scrapy processes cannot start (here: a `scrapy` that fails to import ahead of
    the real one, on its PYTHONPATH only) fails each batch; the coordinator sends it again, and
    after the third failure stops the crawl, naming the batch and the worker's error."""
    broken = tmp_path / "broken" / "scrapy"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this scrapy is broken on purpose')\n")
    with broker("redis") as url, World(tmp_path / "world") as world, \
            WebServer([world.networks["nl"].address()]) as web:
        world.place("img.alpha.test", "nl")
        web.set_default("*", 200)
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", broker=url,
                                    worker_wait=30, log_file=tmp_path / "crawl.log")
        page = web.url("img.alpha.test", "/1.jpg")
        assert monitor(config, "add", page).returncode == 0
        with workers(url, tmp_path, "epsilon", env={"PYTHONPATH": str(broken.parent)}) as (epsilon,):
            failed = monitor(config, "crawl")
        assert failed.returncode == 1
        (line,) = failed.stderr.splitlines()
        assert line.startswith("Error: batch 1 (1 URLs, hosts img.alpha.test to img.alpha.test) failed 3 times: "
                               "CrawlProcessError: the crawling process failed (exit code 1)"), line
        assert "this scrapy is broken on purpose" in epsilon.text()  # the child's error, in the journal
        assert [c["status"] for c in crawls(tmp_path / "monitor.db")] == ["failed"]
        assert web.request_count == 0

        with workers(url, tmp_path, "zeta"):
            again = monitor(config, "crawl")
        assert again.returncode == 0, again.stderr
        assert [(s["outcome"], s["first_by"]) for s in states(tmp_path / "monitor.db", 2)[page]] == [
            ("online", "zeta")]


@pytest.mark.parametrize("scheme", ["redis://127.0.0.1:{port}/0", "amqp://guest:secret@127.0.0.1:{port}//"])
def test_an_unreachable_broker_is_one_line_naming_crawl_broker(tmp_path, scheme):
    url = scheme.format(port=closed_port())
    config = tmp_path / "config.yaml"
    config.write_text(f"database: monitor.db\ncrawl:\n  broker: '{url}'\n  log_file: null\n")
    result = monitor(config, "crawl")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: crawl.broker ") and "cannot be reached" in line and "refused" in line
    assert "secret" not in line
    assert not (tmp_path / "monitor.db").exists()  # no crawl was begun


def test_worker_needs_a_broker(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("database: monitor.db\n")
    missing = monitor(config, "worker")
    assert missing.returncode == 2 and "no broker: give --broker URL, set MONITOR_BROKER" in missing.stderr
    wrong = monitor(config, "worker", "--broker", "http://broker.example/")
    assert wrong.returncode == 2 and "is not a broker URL" in wrong.stderr


def test_worker_takes_its_broker_from_the_environment(tmp_path):
    with broker("redis") as url:
        process = subprocess.Popen([sys.executable, "-P", "-m", "monitor", "worker", "--name", "delta"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                                   env={**clean_env(), "MONITOR_BROKER": url})
        try:
            lines = []
            for line in process.stdout:  # type: ignore[union-attr]
                lines.append(line)
                if "monitor@delta ready." in line:
                    break
            said = "".join(lines)
            assert "monitor@delta ready." in said and url.removeprefix("redis://") in said, said
        finally:
            process.kill()
            process.wait()
            process.stdout.close()  # type: ignore[union-attr]
