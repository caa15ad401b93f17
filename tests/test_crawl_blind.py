"""No evidence is not evidence of absence: a crawl whose resolver is down, whose canary does not
resolve, or whose HTTP requests fail in many unrelated networks at once, is degraded; it starts no
unresolved period, takedown or move, and `monitor crawl` exits 1. One network down is not."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from monitor.sim.http import HANG, WebServer
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


# -- HTTP: every web server down is our fault; one network down is a hoster's ---------------------

WEB_NETWORKS = ("nl", "nl2", "de", "md", "ru", "ca")


@pytest.fixture
def web(world):
    with WebServer(addresses=[world.networks[n].address() for n in WEB_NETWORKS]) as server:
        server.set_default("*", 200)
        yield server


def head_monitor(world, web, tmp_path, urls_per_host: dict[str, int]):
    """A head-mode config for this world and the URLs added: /0 .. /n-1 on each host."""
    config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", log_file=None,
                                timeout=1.0, retries=0)
    urls = [web.url(host, f"/{n}") for host, count in urls_per_host.items() for n in range(count)]
    added = subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(config), "add", *urls],
                           capture_output=True, text=True, check=True)
    assert f"{len(urls)} added" in added.stdout
    return config


def crawl_rows(database):
    db = open_store(database)
    try:
        degraded = [row[0] for row in db.execute("SELECT degraded FROM crawls ORDER BY id")]
        moves = db.execute("SELECT h.name, m.kind, m.from_countries, m.to_countries FROM moves m "
                           "JOIN hosters h ON h.id = m.hoster_id").fetchall()
        takedowns = db.execute("SELECT COUNT(*) FROM takedowns").fetchone()[0]
        return degraded, moves, takedowns
    finally:
        db.close()


@pytest.mark.parametrize("fault", ["servers stopped", "servers hang"])
def test_every_web_server_down_for_a_night_is_a_degraded_crawl_not_a_move(world, web, tmp_path, fault):
    hosts = {f"img.{network}-pics.test": network for network in WEB_NETWORKS}
    for host, network in hosts.items():
        world.place(host, network)
    world.place("img.mover.test", "nl")
    config = head_monitor(world, web, tmp_path, {**dict.fromkeys(hosts, 3), "img.mover.test": 3})
    healthy = crawl(config)
    assert healthy.returncode == 0 and "21 URLs (21 online)" in healthy.stdout, healthy.stderr

    world.place("img.mover.test", "md")  # the night the mover leaves, nobody can see a thing
    if fault == "servers stopped":
        web.stop()  # every connection refused
    else:
        web.set_default("*", 200, behaviour=HANG)  # every request times out
    blind = crawl(config)
    assert blind.returncode == 1, blind.stderr
    assert "21 URLs (21 unreachable)" in blind.stdout
    assert ("DEGRADED: in 6 of 6 networks (AS64501, AS64502, AS64511 and 3 more) the URLs revisited over "
            "HTTP were unreachable") in blind.stdout
    assert "crawl 2 was degraded" in blind.stderr and "Traceback" not in blind.stderr
    if fault == "servers hang":
        return  # the nights after it are the same as after the other fault

    web.start()
    assert crawl(config).returncode == 0
    degraded, moves, takedowns = crawl_rows(tmp_path / "monitor.db")
    assert [why is not None for why in degraded] == [False, True, False]
    # Seen in Moldova on the blind night and the next: had the blind night counted, the move would
    # be confirmed now (moves.confirm_after 2). It is one healthy night, so not yet.
    assert moves == [] and takedowns == 0
    assert crawl(config).returncode == 0
    degraded, moves, takedowns = crawl_rows(tmp_path / "monitor.db")
    assert moves == [("mover.test", "left-home", '["NL"]', '["MD"]')] and takedowns == 0


def test_one_big_hosters_network_down_is_not_a_degraded_crawl(world, web, tmp_path):
    world.place("img.big.test", "nl")  # most of the reported URLs, in one network
    for network in ("nl2", "de", "md"):
        world.place(f"img.{network}-pics.test", network)
    config = head_monitor(world, web, tmp_path, {"img.big.test": 12, "img.nl2-pics.test": 3,
                                                 "img.de-pics.test": 3, "img.md-pics.test": 3})
    assert crawl(config).returncode == 0
    world.place("img.big.test", "nl", n=2)  # its network is down: nothing listens there
    night = crawl(config)
    assert night.returncode == 0, night.stdout + night.stderr
    assert "21 URLs (9 online, 12 unreachable)" in night.stdout and "DEGRADED" not in night.stdout
    # Three networks of four down at once are over crawl.degraded_networks (0.5).
    world.place("img.nl2-pics.test", "nl2", n=2)
    world.place("img.de-pics.test", "de", n=2)
    third = crawl(config)
    assert third.returncode == 1 and "DEGRADED: in 3 of 4 networks (AS64501, AS64502, AS64511)" in third.stdout
    degraded, _, _ = crawl_rows(tmp_path / "monitor.db")
    assert [why is not None for why in degraded] == [False, False, True]
