"""The whole job on a simulated world at scale, with the latency of the real internet.

    python benchmarks/run.py [--urls 20000] [--http-delay 0.05] [--dns-delay 0.01] [--sample 300]

Builds a world of N reported URLs over N/10 hosters on 270 loopback addresses in nine networks
and seven countries (a few slow servers among them); the DNS and web servers answer after the
given delays, since on bare loopback nothing is slow and no comparison means anything. Then it
measures, in one run: import URLs/s; head-mode crawls (URLs/s) with the default processes, with
one and with two (`crawl.processes`), and through Celery with one and with two local `monitor
worker` processes (Redis on 127.0.0.1:6379, database 15, which must be empty); the coordinator's
ingestion rate (observations written per second); a dns-only crawl (hosts/s);
database size after 1 and after 30 nights at 1% daily churn; `moves` and `timeline` latency; peak
memory; and, on a sample, the same night done by a plain sequential script (urllib HEAD +
dnspython + geoip2, one URL after another) and by a lean asyncio loop (resolve + HEAD only, the
practical ceiling here), with the ratios. Crawls run as `monitor crawl` in a child process, as cron
runs them, while this process serves the world.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dns.resolver
import geoip2.database
from ingest import ingestion_rate  # benchmarks/ingest.py, beside this script

from monitor.config import load_file
from monitor.detect import MoveFilter, list_moves, timeline
from monitor.intake import import_file
from monitor.sim.http import WebServer
from monitor.sim.world import NETWORKS, World
from monitor.store import open_store

ADDRESSES_PER_NETWORK = 30
SLOW_SHARE = 0.01  # hosters whose server takes 1 s


class Bench:
    def __init__(self, folder: Path, urls: int, http_delay: float, dns_delay: float, seed: int = 11) -> None:
        self.folder = folder
        self.rng = random.Random(seed)
        self.hosters = max(1, urls // 10)
        self.urls = urls
        self.world = World(folder / "world", dns_delay=dns_delay)
        self.addresses = [n.address(i) for n in NETWORKS.values() for i in range(1, ADDRESSES_PER_NETWORK + 1)]
        self.web = WebServer(self.addresses, delay=http_delay)
        self.database = folder / "monitor.db"
        self.rows: list[tuple[str, str]] = []

    def host(self, h: int) -> str:
        return f"img.hoster{h}.test"

    def place(self, h: int) -> None:
        self.world.dns.set_a(self.host(h), [self.rng.choice(self.addresses)])

    def start(self) -> None:
        self.world.start()
        self.web.start()
        for h in range(self.hosters):
            self.place(h)
            if self.rng.random() < SLOW_SHARE:
                self.web.set_default(self.host(h), 200, delay=1.0)
        self.config_path = self.configure("config.yaml")
        self.config = load_file(self.config_path)

    def configure(self, name: str, **crawl: object) -> Path:
        """A config for this world: the defaults (a process per core) unless ``crawl`` says."""
        return self.world.write_config(self.folder / name, self.database, concurrency=128, per_host_concurrency=8,
                                       timeout=10.0, **crawl)

    def stop(self) -> None:
        self.web.stop()
        self.world.stop()

    def row(self, what: str, figure: str) -> None:
        self.rows.append((what, figure))
        print(f"  {what}: {figure}", flush=True)

    def crawl(self, *options: str, config: Path | None = None) -> tuple[float, dict]:
        """Seconds of one `monitor crawl` in a child process (as cron runs it), and its summary."""
        started = time.perf_counter()
        subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(config or self.config_path), "crawl",
                        *options], check=True, capture_output=True)
        elapsed = time.perf_counter() - started
        db = open_store(self.database)
        counts = json.loads(db.execute("SELECT counts FROM crawls ORDER BY id DESC LIMIT 1").fetchone()[0])
        db.close()
        return elapsed, counts

    def size(self) -> int:
        db = open_store(self.database)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return self.database.stat().st_size

    def run(self, sample: int, nights: int) -> None:
        reports = self.folder / "reports.txt"
        with reports.open("w") as out:
            for u in range(self.urls):
                out.write(f"http://{self.host(u % self.hosters)}:{self.web.port}/gallery/{u}.jpg\n")
        db = open_store(self.database)
        started = time.perf_counter()
        import_file(db, reports, on_reject=lambda r: None)
        db.close()
        self.row("import", f"{self.urls / (time.perf_counter() - started):,.0f} URLs/s")

        seconds, counts = self.crawl()
        head_rate = self.urls / seconds
        self.row(f"head-mode crawl, night 1 ({os.cpu_count()} processes, the default)",
                 f"{head_rate:,.0f} URLs/s ({seconds:.1f} s in all; HEAD revisits "
                 f"{self.urls / counts['seconds']['revisit']:,.0f} URLs/s)")
        memory = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size_1 = self.size()
        # Nights 2 and 3, alike (each finds the states of the night before): one process, then two.
        rates = {}
        for processes in (1, 2):
            seconds, counts = self.crawl(config=self.configure(f"processes-{processes}.yaml", processes=processes))
            rates[processes] = self.urls / seconds
            self.row(f"head-mode crawl, crawl.processes: {processes}",
                     f"{rates[processes]:,.0f} URLs/s ({seconds:.1f} s; HEAD revisits "
                     f"{self.urls / counts['seconds']['revisit']:,.0f} URLs/s; largest worker "
                     f"{counts['worker_peak_mib']} MiB)")
        self.row("two processes against one", f"x{rates[2] / rates[1]:.2f}")
        for workers in (1, 2):  # nights 4 and 5
            with celery_workers(workers) as broker:
                seconds, counts = self.crawl(config=self.configure(f"celery-{workers}.yaml", broker=broker))
            self.row(f"head-mode crawl, Celery, {workers} local worker{'s' * (workers > 1)} (--concurrency 1)",
                     f"{self.urls / seconds:,.0f} URLs/s ({seconds:.1f} s; batches of "
                     f"{self.config.crawl.batch_size:,} URLs)")
        ingested, observations = ingestion_rate(self.config, self.folder)
        self.row("coordinator ingestion", f"{ingested:,.0f} observations/s (parsed, located and written; "
                 f"{observations:,} observations)")
        seconds, counts = self.crawl("--dns-only")
        self.row("dns-only crawl", f"{self.hosters / counts['seconds']['resolve']:,.0f} hosts/s resolved; whole "
                 f"crawl {seconds:.1f} s for {self.hosters:,} hosts and {self.urls:,} URLs")

        sequential = self.sequential(sample)
        self.row(f"plain sequential script ({sample} URLs)", f"{sequential:,.1f} URLs/s; head-mode crawl is "
                 f"{head_rate / sequential:,.1f}x faster")
        with multiprocessing.get_context("fork").Pool(1) as pool:  # not competing with the servers here
            lean = pool.apply(_lean, (self.world.dns.port, self.web.port, self.hosters, sample * 10))
        self.row(f"lean asyncio resolve + HEAD ({sample * 10} URLs)", f"{lean:,.0f} URLs/s; head-mode crawl is at "
                 f"{head_rate / lean:.0%} of this ceiling")

        for night in range(7, nights + 1):  # nights 1-6 were crawled above; 1% churn a night
            for h in self.rng.sample(range(self.hosters), max(1, self.hosters // 100)):
                self.place(h)
            self.crawl("--dns-only")
        size_30 = self.size()
        self.row("database size", f"{size_1 / 1e6:.1f} MB after 1 night, {size_30 / 1e6:.1f} MB after {nights} "
                 f"(x{size_30 / size_1:.2f})")

        db = open_store(self.database)
        started = time.perf_counter()
        moves = list_moves(db)
        warm = time.perf_counter()
        list_moves(db, MoveFilter(kind="left-home"))
        listed = time.perf_counter()
        timeline(db, "hoster7.test")
        done = time.perf_counter()
        db.close()
        self.row("moves", f"{len(moves):,} moves; first listing {warm - started:.3f} s, then "
                 f"{listed - warm:.3f} s; timeline {done - listed:.3f} s")
        self.row("peak memory of a head-mode crawl (largest process)", f"{memory / 1024:,.0f} MiB")

    def sequential(self, sample: int) -> float:
        """The night as one would script it without this tool: one URL after another."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], self.world.dns.port
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        started = time.perf_counter()
        with geoip2.database.Reader(str(self.world.country_db)) as geo:
            for u in range(sample):
                host = self.host(u % self.hosters)
                ip = resolver.resolve(host, "A")[0].to_text()
                geo.country(ip)
                request = urllib.request.Request(f"http://{ip}:{self.web.port}/gallery/{u}.jpg", method="HEAD",
                                                 headers={"Host": host})
                try:
                    opener.open(request, timeout=10).close()
                except OSError:
                    pass
        return sample / (time.perf_counter() - started)


# A Redis database of its own on the loopback server every machine here runs (tests use 1-14).
BENCH_BROKER = "redis://127.0.0.1:6379/15"


@contextmanager
def celery_workers(count: int) -> Iterator[str]:
    """``count`` `monitor worker` processes (one thread each) on an empty Redis database; its URL."""
    import redis

    client = redis.Redis.from_url(BENCH_BROKER)
    if client.dbsize():
        sys.exit(f"{BENCH_BROKER} is not empty: the benchmark uses it alone; empty it first")
    workers = [subprocess.Popen([sys.executable, "-P", "-m", "monitor", "worker", "--broker", BENCH_BROKER,
                                 "--concurrency", "1", "--name", f"bench-{n}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for n in range(1, count + 1)]
    try:
        yield BENCH_BROKER
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
        client.flushdb()


def _lean(dns_port: int, web_port: int, hosters: int, count: int) -> float:
    return asyncio.run(_lean_night(dns_port, web_port, hosters, count))


async def _lean_night(dns_port: int, web_port: int, hosters: int, count: int) -> float:
    """Only what must happen: resolve each host once, one HEAD per URL, 128 at a time."""
    from monitor.resolve.dns import AsyncResolver

    limit = asyncio.Semaphore(128)
    started = time.perf_counter()
    async with AsyncResolver(["127.0.0.1"], port=dns_port) as resolver:
        hosts = {f"img.hoster{u % hosters}.test" for u in range(count)}
        answers = {a.host: a.ips[0] for a in await asyncio.gather(*(resolver.resolve(h) for h in hosts))}

    async def head(u: int) -> None:
        host = f"img.hoster{u % hosters}.test"
        async with limit:
            reader, writer = await asyncio.open_connection(answers[host], web_port)
            writer.write(f"HEAD /gallery/{u}.jpg HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await reader.readuntil(b"\r\n\r\n")
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(head(u) for u in range(count)))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--http-delay", type=float, default=0.05)
    parser.add_argument("--dns-delay", type=float, default=0.01)
    parser.add_argument("--sample", type=int, default=300, help="URLs for the sequential script")
    parser.add_argument("--nights", type=int, default=30, help="nights for the database growth figure (6 or more)")
    args = parser.parse_args()
    if args.nights < 6:
        parser.error("--nights: the head-mode and the dns-only crawls already make six nights")
    print(f"benchmark {date.today()}, {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}: "
          f"{args.urls:,} URLs over {args.urls // 10:,} hosters, HTTP delay {args.http_delay * 1000:.0f} ms, "
          f"DNS delay {args.dns_delay * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.urls, args.http_delay, args.dns_delay)
        bench.start()
        try:
            bench.run(args.sample, args.nights)
        finally:
            bench.stop()
    print("\n| what | figure |\n| --- | --- |")
    for what, figure in bench.rows:
        print(f"| {what} | {figure} |")


if __name__ == "__main__":
    main()
