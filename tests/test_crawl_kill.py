"""A crawl killed with SIGKILL at a random moment: the database stays whole, earlier nights stay,
and the next crawl completes normally."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from monitor.sim.http import WebServer
from monitor.sim.world import World
from monitor.store import open_store

HOSTS = 3_000
URLS_PER_HOST = 4


def crawl(config, mode: str) -> subprocess.Popen:
    options = ["--dns-only"] if mode == "dns-only" else []
    return subprocess.Popen([sys.executable, "-P", "-m", "monitor", "--config", str(config), "crawl", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def covered(db, crawl_id: int) -> int:
    """URLs with a state covering that crawl."""
    return db.execute("SELECT COUNT(DISTINCT url_id) FROM url_states WHERE first_crawl <= ? AND last_crawl >= ?",
                      [crawl_id, crawl_id]).fetchone()[0]


@pytest.mark.parametrize("mode, hosts", [("dns-only", HOSTS), ("head", HOSTS // 6)])
def test_sigkill_at_a_random_moment(tmp_path, mode, hosts):
    """Head mode runs Scrapy in a child process: killing the crawl kills that too, mid-write."""
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    with World(tmp_path / "world") as world, WebServer([n.address(i) for n in world.networks.values()
                                                       for i in range(1, 201)]) as web:
        names = list(world.networks)
        for i in range(hosts):
            world.place(f"h{i}.host{i % 700}.test", rng.choice(names), n=1 + i % 200)
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db")
        reports = tmp_path / "reports.txt"
        reports.write_text("".join(f"http://h{i}.host{i % 700}.test:{web.port}/{j}.jpg\n"
                                   for i in range(hosts) for j in range(URLS_PER_HOST)))
        subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(config), "import", str(reports)],
                       check=True, capture_output=True)

        started = time.monotonic()
        first = crawl(config, mode)
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        duration = time.monotonic() - started

        for i in range(0, hosts, 3):  # the world changes, so night 2 has real writes to make
            world.place(f"h{i}.host{i % 700}.test", rng.choice(names), n=1 + i % 200)
        second = crawl(config, mode)
        time.sleep(rng.uniform(0.05, duration))
        second.kill()
        second.communicate()

        db = open_store(tmp_path / "monitor.db")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"seed {seed}"
            assert covered(db, 1) == hosts * URLS_PER_HOST, f"seed {seed}"  # night 1 is whole
        finally:
            db.close()

        third = crawl(config, mode)
        out, err = third.communicate(timeout=300)
        assert third.returncode == 0, err
        db = open_store(tmp_path / "monitor.db")
        try:
            statuses = [row[0] for row in db.execute("SELECT status FROM crawls ORDER BY id")]
            assert statuses[0] == "complete" and statuses[-1] == "complete", f"seed {seed}"
            # Killed before its row was written, or marked interrupted by the next crawl.
            assert statuses[1:-1] in ([], ["interrupted"], ["complete"]), f"seed {seed}: {statuses}"
            last = len(statuses)
            assert covered(db, last) == hosts * URLS_PER_HOST, f"seed {seed}"
            assert covered(db, 1) == hosts * URLS_PER_HOST, f"seed {seed}"
        finally:
            db.close()
