"""A crawl killed with SIGKILL at a random moment: the database stays whole, earlier nights stay,
and the next crawl completes normally."""

from __future__ import annotations

import random
import subprocess
import sys
import time

from monitor.sim.world import World
from monitor.store import open_store

HOSTS = 3_000
URLS_PER_HOST = 4


def crawl(config, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "crawl", "--dns-only"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def covered(db, crawl_id: int) -> int:
    """URLs with a state covering that crawl."""
    return db.execute("SELECT COUNT(DISTINCT url_id) FROM url_states WHERE first_crawl <= ? AND last_crawl >= ?",
                      [crawl_id, crawl_id]).fetchone()[0]


def test_sigkill_at_a_random_moment(tmp_path):
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    with World(tmp_path / "world") as world:
        names = list(world.networks)
        for i in range(HOSTS):
            world.place(f"h{i}.host{i % 700}.test", rng.choice(names), n=1 + i % 200)
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db")
        reports = tmp_path / "reports.txt"
        reports.write_text("".join(f"http://h{i}.host{i % 700}.test/{j}.jpg\n"
                                   for i in range(HOSTS) for j in range(URLS_PER_HOST)))
        subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "import", str(reports)],
                       check=True, capture_output=True)

        started = time.monotonic()
        first = crawl(config)
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        duration = time.monotonic() - started

        for i in range(0, HOSTS, 3):  # the world changes, so night 2 has real writes to make
            world.place(f"h{i}.host{i % 700}.test", rng.choice(names), n=1 + i % 200)
        second = crawl(config)
        time.sleep(rng.uniform(0.05, duration))
        second.kill()
        second.communicate()

        db = open_store(tmp_path / "monitor.db")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"seed {seed}"
            assert covered(db, 1) == HOSTS * URLS_PER_HOST, f"seed {seed}"  # night 1 is whole
        finally:
            db.close()

        third = crawl(config)
        out, err = third.communicate(timeout=300)
        assert third.returncode == 0, err
        db = open_store(tmp_path / "monitor.db")
        try:
            statuses = [row[0] for row in db.execute("SELECT status FROM crawls ORDER BY id")]
            assert statuses[0] == "complete" and statuses[-1] == "complete", f"seed {seed}"
            # Killed before its row was written, or marked interrupted by the next crawl.
            assert statuses[1:-1] in ([], ["interrupted"], ["complete"]), f"seed {seed}: {statuses}"
            last = len(statuses)
            assert covered(db, last) == HOSTS * URLS_PER_HOST, f"seed {seed}"
            assert covered(db, 1) == HOSTS * URLS_PER_HOST, f"seed {seed}"
        finally:
            db.close()
