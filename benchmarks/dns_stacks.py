"""Two DNS message layers, one whole crawl: monitor's hand-written one against dnspython's.

    python benchmarks/dns_stacks.py [--hosts 20000] [--rounds 3] [--dns-delay 0.0]

One simulated world (the World's networks and .mmdb files, N hosts: 40% one or two A, 20% A and
AAAA, 10% AAAA only, 20% a CNAME to an A name, 10% NXDOMAIN) and one database with a URL per
host. After a first crawl that fills the database (not counted), `monitor crawl --dns-only` runs
in a child process, as cron runs it, alternately on each stack for --rounds rounds: the same
transport (monitor/resolve/dnsio.py), only message building and parsing differ (for dnspython,
monitor/resolve/dnsref.py is swapped in for monitor/resolve/dnsmsg.py: the same rules). The DNS
server runs in this process, so the crawl has a core of its own.

Reported: whole crawl hosts/s (hosts / wall time of the command), the resolve phase's hosts/s,
and the child's CPU seconds; medians over the rounds, and the spread (max - min) / median.
Decision rule: the hand-written layer stays only if it makes the whole crawl faster in every
round (the two stacks run back to back, so both meet the same load from whatever else runs on
the machine) and by at least 5% in the median of the rounds' ratios. (A first rule, "median
gain above the larger spread", was dropped: on a shared machine the spread measured the other
tenants' load, 30-90% between rounds, not the stacks; the CPU seconds barely moved.)
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from monitor.config import load_file
from monitor.intake import import_file
from monitor.sim.dns import DNSServer
from monitor.sim.world import NETWORKS, World
from monitor.store import open_store

STACKS = {
    "hand-written": "",
    "dnspython": (
        "import monitor.resolve.dns, monitor.resolve.dnsio, monitor.resolve.dnsref as ref\n"
        "monitor.resolve.dns.Question = ref.Question\n"
        "monitor.resolve.dnsio.read_answer = ref.read_answer\n"
    ),
}
CRAWL = """
import sys
{install}from monitor.cli import main
sys.argv = ["monitor", "--config", {config!r}, "crawl", "--dns-only"]
main()
"""


def hostnames(hosts: int) -> list[str]:
    return [f"h{i}.bench.test" for i in range(hosts)]


def build(server: DNSServer, hosts: int) -> None:
    """The world's DNS records for ``hostnames(hosts)``."""
    addresses = [network.address(i) for network in NETWORKS.values() for i in range(1, 31)]
    for i, host in enumerate(hostnames(hosts)):
        v4, v4b = addresses[i % len(addresses)], addresses[(i * 7 + 3) % len(addresses)]
        v6 = f"2001:db8::{i:x}"
        kind = ("a", "a", "a2", "a2", "both", "both", "aaaa", "cname", "cname", "nxdomain")[i % 10]
        if kind == "a":
            server.set_a(host, v4)
        elif kind == "a2":
            server.set_a(host, [v4, v4b])
        elif kind == "both":
            server.set_a(host, v4)
            server.set_aaaa(host, v6)
        elif kind == "aaaa":
            server.set_aaaa(host, v6)
        elif kind == "cname":
            server.set_cname(host, f"t{i}.cdn.test")
            server.set_a(f"t{i}.cdn.test", v4)
        else:
            server.set_nxdomain(host)


def serve(hosts: int, delay: float, ready, stop) -> None:
    """The DNS server process: fill the zone, report the port, answer until told to stop."""
    with DNSServer(delay=delay) as server:
        build(server, hosts)
        gc.freeze()  # the zone's objects live to the end: keep the collector from rescanning them
        ready.send(server.port)
        stop.wait()


def crawl(config: Path, database: Path, stack: str) -> dict[str, float]:
    """One dns-only crawl in a child process on ``stack``: wall and CPU seconds, its phases."""
    code = CRAWL.format(install=STACKS[stack], config=str(config))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-P", "-c", code], check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with sqlite3.connect(database) as db:
        counts = json.loads(db.execute("SELECT counts FROM crawls ORDER BY id DESC LIMIT 1").fetchone()[0])
    db.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "resolve": counts["seconds"]["resolve"], "hosts": counts["hosts"]}


def night(port: int, hosts: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    """A database of one URL per host, crawled once to fill it, then by each stack in turn."""
    with tempfile.TemporaryDirectory() as tmp, World(Path(tmp) / "world") as world:  # for its .mmdb files
        folder = Path(tmp)
        database = folder / "monitor.db"
        settings = yaml.safe_load(world.config_text(database, log_file=None))
        settings["dns"]["port"] = port  # the server process's, not the World's own
        config = folder / "config.yaml"
        config.write_text(yaml.safe_dump(settings))
        load_file(config)  # fails here, not in a child, if the config is wrong
        reports = folder / "reports.txt"
        reports.write_text("".join(f"http://{host}/{i}.jpg\n" for i, host in enumerate(hostnames(hosts))))
        db = open_store(database)
        import_file(db, reports, on_reject=lambda row: None)
        db.close()
        crawl(config, database, "hand-written")  # the first night writes every state: not counted
        runs: dict[str, list[dict[str, float]]] = {stack: [] for stack in STACKS}
        for round_ in range(rounds):
            order = list(STACKS) if round_ % 2 == 0 else list(reversed(STACKS))
            for stack in order:
                run = crawl(config, database, stack)
                runs[stack].append(run)
                print(f"  round {round_ + 1} {stack}: whole crawl {run['hosts'] / run['wall']:,.0f} hosts/s "
                      f"({run['wall']:.2f} s, CPU {run['cpu']:.2f} s), resolve phase "
                      f"{run['hosts'] / run['resolve']:,.0f} hosts/s", flush=True)
    return runs


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dns-delay", type=float, default=0.0, help="the DNS server's delay per answer, seconds")
    args = parser.parse_args()
    print(f"benchmark {date.today()}, {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}: {args.hosts:,} hosts, {args.rounds} rounds, DNS delay "
          f"{args.dns_delay * 1000:.0f} ms", flush=True)
    context = multiprocessing.get_context("fork")
    ready, port_end = context.Pipe()
    stop = context.Event()
    server = context.Process(target=serve, args=(args.hosts, args.dns_delay, port_end, stop), daemon=True)
    server.start()
    try:
        runs = night(ready.recv(), args.hosts, args.rounds)
    finally:
        stop.set()
        server.join()
    print("\n| stack | whole crawl, hosts/s (median) | spread | resolve phase, hosts/s | CPU s per crawl |")
    print("| --- | --- | --- | --- | --- |")
    for stack, done in runs.items():
        whole = [run["hosts"] / run["wall"] for run in done]
        print(f"| {stack} | {statistics.median(whole):,.0f} | {spread(whole):.1%} | "
              f"{statistics.median(run['hosts'] / run['resolve'] for run in done):,.0f} | "
              f"{statistics.median(run['cpu'] for run in done):.2f} |")
    ratios = [other["wall"] / hand["wall"] for hand, other in zip(runs["hand-written"], runs["dnspython"])]
    gain = statistics.median(ratios) - 1
    keep = min(ratios) > 1 and gain >= 0.05
    print(f"\nhand-written vs dnspython, whole crawl, round by round: "
          f"{', '.join(f'{ratio - 1:+.0%}' for ratio in ratios)}; median {gain:+.1%}: "
          f"{'keep the hand-written layer' if keep else 'dnspython: the hand-written layer goes'}")


if __name__ == "__main__":
    main()
