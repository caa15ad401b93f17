"""No evidence is not evidence of absence: a crawl whose resolver is down, or whose canary does not
resolve, is degraded; it records `unknown`, starts no unresolved period, takedown or move, and
`monitor crawl` exits 1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from monitor.sim.world import World
from monitor.store import open_store


@pytest.fixture
def world(tmp_path):
    with World(tmp_path / "world") as running:
        running.place("img.alpha.test", "nl")
        running.place("www.beta.test", "de")
        running.dns.set_nxdomain("gone.gamma.test")
        yield running


def crawl(config, *args):
    return subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(config), "crawl", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def monitor(world, tmp_path):
    config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", log_file=None)
    urls = tmp_path / "urls.txt"
    urls.write_text("http://img.alpha.test/1\nhttp://www.beta.test/2\nhttp://gone.gamma.test/3\n")
    subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(config), "import", str(urls)],
                   check=True, capture_output=True)
    return config


def test_our_resolver_down_for_a_night_is_a_degraded_crawl_not_a_takedown(world, monitor, tmp_path):
    for _ in range(2):
        assert crawl(monitor, "--dns-only").returncode == 0
    world.dns.stop()  # the resolver is down: every lookup times out
    blind = crawl(monitor, "--dns-only")
    assert blind.returncode == 1
    assert "DEGRADED: 3 of 3 hosts could not be looked up" in blind.stdout
    assert "crawl 3 was degraded" in blind.stderr and "Traceback" not in blind.stderr
    db = open_store(tmp_path / "monitor.db")
    assert db.execute("SELECT degraded IS NOT NULL FROM crawls ORDER BY id").fetchall() == [(0,), (0,), (1,)]
    outcomes = dict(db.execute("SELECT u.url, s.outcome FROM url_states s JOIN urls u ON u.id = s.url_id "
                               "WHERE s.last_crawl = 3"))
    assert outcomes == {"http://img.alpha.test/1": "unknown", "http://www.beta.test/2": "unknown",
                        "http://gone.gamma.test/3": "unknown"}
    statuses = dict(db.execute("SELECT h.name, s.status FROM hoster_states s JOIN hosters h ON h.id = s.hoster_id "
                               "WHERE s.last_crawl = 3"))
    assert statuses == {"alpha.test": "unknown", "beta.test": "unknown", "gamma.test": "unknown"}
    # Only gamma.test, gone on both healthy nights, is taken down; the blind night took nothing down.
    taken = db.execute("SELECT u.url FROM takedowns t JOIN urls u ON u.id = t.url_id").fetchall()
    assert taken == [("http://gone.gamma.test/3",)]
    assert db.execute("SELECT COUNT(*) FROM moves").fetchone()[0] == 0
    db.close()


def test_a_canary_that_does_not_resolve_degrades_the_crawl(world, monitor, tmp_path):
    monitor.write_text(monitor.read_text().replace("crawl:\n", "crawl:\n  canaries: [canary.example.org]\n"))
    world.dns.set_nxdomain("canary.example.org")
    result = crawl(monitor, "--dns-only")
    assert result.returncode == 1 and "canary canary.example.org (nxdomain) did not resolve" in result.stdout
    world.place("canary.example.org", "us")
    assert crawl(monitor, "--dns-only").returncode == 0
    db = open_store(tmp_path / "monitor.db")
    hosts = [r[0] for r in db.execute("SELECT DISTINCT host FROM host_states")]
    assert "canary.example.org" not in hosts  # asked, but no reported host: not stored
    counts = json.loads(db.execute("SELECT counts FROM crawls WHERE id = 2").fetchone()[0])
    assert counts["degraded"] is None
    db.close()
