"""`monitor crawl --dns-only` over a simulated world for three nights: intervals, not repeats."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.sim.world import World
from monitor.store import open_store


@pytest.fixture
def world(tmp_path):
    with World(tmp_path / "world") as running:
        running.place("img.alpha.test", "nl")
        running.place("cdn.alpha.test", "nl2")
        running.place("www.beta.test", "de")
        running.dns.set_aaaa("v6.gamma.test", ["::1"])  # an IPv6-only host
        running.dns.set_nxdomain("gone.delta.test")
        yield running


@pytest.fixture
def monitor(world, tmp_path):
    config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db")
    reports = tmp_path / "reports.txt"
    reports.write_text("\n".join([
        "http://img.alpha.test/1.jpg", "http://img.alpha.test/2.jpg", "http://cdn.alpha.test/3.jpg",
        "http://www.beta.test/", "http://v6.gamma.test/x", "http://gone.delta.test/y",
    ]))

    def run(*args: str):
        return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)

    assert run("import", str(reports)).exit_code == 0
    return run


def states(db, table: str, key: str):
    return [dict(row) for row in db.query(f"SELECT * FROM {table} ORDER BY {key}, first_crawl")]


def test_three_nights_store_changes_not_repeats(world, monitor, tmp_path):
    first = monitor("crawl", "--dns-only")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("crawl 1 (dns-only) complete: 6 URLs (5 resolved, 1 unresolved)")
    assert monitor("crawl", "--dns-only").exit_code == 0           # night 2: nothing changed
    world.place("img.alpha.test", "md")                             # night 3: alpha's image host moves
    world.dns.remove("www.beta.test")                               # and beta vanishes
    world.dns.set_nxdomain("www.beta.test")
    assert monitor("crawl", "--dns-only").exit_code == 0

    db = open_store(tmp_path / "monitor.db")
    hosts = {(s["host"], s["first_crawl"], s["last_crawl"]): (s["dns_status"], json.loads(s["ips"]))
             for s in states(db, "host_states", "host")}
    assert hosts[("cdn.alpha.test", 1, 3)] == ("ok", ["127.1.2.1"])   # one row for three nights
    assert hosts[("img.alpha.test", 1, 2)] == ("ok", ["127.1.1.1"])
    assert hosts[("img.alpha.test", 3, 3)] == ("ok", ["127.3.1.1"])
    assert hosts[("www.beta.test", 3, 3)] == ("nxdomain", [])
    assert hosts[("v6.gamma.test", 1, 3)] == ("ok", ["::1"])
    assert hosts[("gone.delta.test", 1, 3)] == ("nxdomain", [])

    ips = {s["ip"]: s for s in states(db, "ip_states", "ip")}
    assert (ips["127.3.1.1"]["country"], ips["127.3.1.1"]["asn"]) == ("MD", 64521)
    assert ips["127.1.1.1"]["as_org"] == "Polder Hosting B.V."
    source = db.execute("SELECT name FROM sources WHERE id = ?", [ips["127.1.1.1"]["country_source"]]).fetchone()
    assert source[0] == "GeoLite2-Country"

    alpha = [(s["first_crawl"], s["last_crawl"], s["status"], json.loads(s["countries"] or "[]"))
             for s in db.query("SELECT s.* FROM hoster_states s JOIN hosters h ON h.id = s.hoster_id "
                               "WHERE h.name = 'alpha.test' ORDER BY first_crawl")]
    assert alpha == [(1, 2, "located", ["NL"]), (3, 3, "located", ["MD", "NL"])]
    beta = [(s["first_crawl"], s["last_crawl"], s["status"])
            for s in db.query("SELECT s.* FROM hoster_states s JOIN hosters h ON h.id = s.hoster_id "
                              "WHERE h.name = 'beta.test' ORDER BY first_crawl")]
    assert beta == [(1, 2, "located"), (3, 3, "unresolved")]

    crawls = [dict(r) for r in db.query("SELECT * FROM crawls ORDER BY id")]
    assert [c["status"] for c in crawls] == ["complete"] * 3
    assert all(c["finished_at"] >= c["started_at"] for c in crawls)
    assert json.loads(crawls[2]["counts"])["outcomes"] == {"resolved": 4, "unresolved": 2}
    # Without HTTP the coordinator observed the URLs itself (this process, through the CLI runner)
    assert json.loads(crawls[2]["counts"])["workers"] == {f"{socket.gethostname()}:{os.getpid()}": 6}
    assert {r[0] for r in db.execute("SELECT DISTINCT w.name FROM url_states s "
                                     "JOIN workers w ON w.id = s.last_worker")} == {
        f"{socket.gethostname()}:{os.getpid()}"}
    assert {s["name"] for s in json.loads(crawls[0]["sources"])} == {"GeoLite2-Country", "GeoLite2-ASN"}
    db.close()

    history = json.loads(monitor("history", "http://img.alpha.test/1.jpg", "--format", "json").stdout)
    assert [(p["outcome"], p["countries"], p["asns"]) for p in history["periods"]] == [
        ("resolved", ["NL"], [64501]), ("resolved", ["MD"], [64521])]

    by_hoster = {r["hoster"]: r for r in json.loads(monitor("stats", "--by", "hoster", "--format", "json").stdout)}
    # delta.test was gone on all three nights: taken down on the first. beta.test only on the last:
    # one night is not yet a takedown (moves.confirm_after is 2).
    assert (by_hoster["beta.test"]["taken_down"], by_hoster["delta.test"]["taken_down"]) == (0, 1)
    assert by_hoster["alpha.test"]["taken_down"] == 0 and by_hoster["alpha.test"]["avg_days_to_takedown"] is None
    assert by_hoster["delta.test"]["avg_days_to_takedown"] >= 0
    by_country = json.loads(monitor("stats", "--by", "country", "--format", "json").stdout)
    # Where each URL's own host was last located (beta.test, gone on night 3, in DE before); ::1 and
    # a host never resolved have no country.
    assert sorted((r["country"], r["urls"]) for r in by_country) == [("DE", 1), ("MD", 2), ("NL", 1), ("unknown", 2)]


def test_limit_crawls_only_the_first_urls(world, monitor, tmp_path):
    result = monitor("crawl", "--dns-only", "--limit", "2")
    assert result.exit_code == 0
    assert "2 URLs (2 resolved)" in result.stdout
    db = open_store(tmp_path / "monitor.db")
    assert [r[0] for r in db.execute("SELECT DISTINCT host FROM host_states")] == ["img.alpha.test"]
    # alpha.test's other host (cdn.alpha.test) was not looked at: no location from half its hosts
    assert db.execute("SELECT COUNT(*) FROM hoster_states").fetchone()[0] == 0
    db.close()


def test_a_second_crawl_while_one_runs_is_refused(world, monitor, tmp_path):
    db = open_store(tmp_path / "monitor.db")
    db.execute("INSERT INTO crawls (started_at, status, pid, mode) VALUES ('2026-11-28T01:00:00Z', 'running', 1, 'head')")
    db.conn.commit()
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "config.yaml"), "crawl", "--dns-only"])
    assert result.exit_code == 1
    assert "crawl 1 is running" in result.stderr and "pid 1" in result.stderr
    db.execute("UPDATE crawls SET pid = 999999999 WHERE id = 1")  # a dead process: its crawl is over
    db.conn.commit()
    assert monitor("crawl", "--dns-only").exit_code == 0
    assert db.execute("SELECT status FROM crawls ORDER BY id").fetchall() == [("interrupted",), ("complete",)]
    db.close()


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux `script` is needed to give the crawl a terminal")
def test_on_a_terminal_a_progress_bar_and_a_summary_table(world, monitor, tmp_path):
    """`script` runs the crawl on a pseudo-terminal, as a person at a shell would."""
    command = f"{sys.executable} -P -m monitor --config {tmp_path / 'config.yaml'} crawl --dns-only"
    shown = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stdout
    assert re.search(r"resolve .*5/5", shown.stdout)  # five hosts, drawn by rich
    assert re.search(r"enrich .*4/4", shown.stdout)  # four addresses
    assert "hosters whose location changed" in shown.stdout and "moves confirmed" in shown.stdout
    assert f"details: {tmp_path / 'data' / 'crawl.log'}" in shown.stdout
    assert "crawl 1 (dns-only) complete" in (tmp_path / "data" / "crawl.log").read_text()
