"""DNS speed: N hosts (A and AAAA each) through AsyncResolver against the simulated DNS server.

    python benchmarks/resolve_hosts.py [--hosts 20000] [--delay 0.0] [--concurrency 500] [--profile]

Target: at least 2,000 hosts/s (4,000 queries/s) on a 2-core machine. The DNS server runs in a
separate process, as a real resolver would, so that server and client do not share one GIL.
Hosts are a mix: 40% one or two A, 20% A and AAAA, 10% AAAA only, 20% CNAME to an A name,
10% NXDOMAIN. Every answer is checked against what the zone says.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import pstats
import time
from collections import Counter

from monitor.resolve.dns import DEFAULT_CONCURRENCY, AsyncResolver, DnsAnswer


def world(n: int) -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """host -> (kind, CNAME chain, expected ips), the same in both processes."""
    hosts = {}
    for i in range(n):
        host = f"h{i}.bench.example"
        v4 = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        v6 = f"2001:db8::{i:x}"
        kind = ("a", "a", "a2", "a2", "both", "both", "aaaa", "cname", "cname", "nxdomain")[i % 10]
        if kind == "a":
            hosts[host] = (kind, (), (v4,))
        elif kind == "a2":
            hosts[host] = (kind, (), (v4, f"11.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"))
        elif kind == "both":
            hosts[host] = (kind, (), (v4, v6))
        elif kind == "aaaa":
            hosts[host] = (kind, (), (v6,))
        elif kind == "cname":
            hosts[host] = (kind, (f"t{i}.cdn.example",), (v4,))
        else:
            hosts[host] = (kind, (), ())
    return hosts


def serve(n: int, delay: float, ready, stop) -> None:
    """The DNS server process: fill the zone, report the port, run until told to stop."""
    from monitor.sim.dns import DNSServer

    with DNSServer(delay=delay) as server:
        for host, (kind, chain, ips) in world(n).items():
            if kind == "nxdomain":
                server.set_nxdomain(host)
                continue
            name = host
            if chain:
                server.set_cname(host, chain[0])
                name = chain[0]
            v4 = [ip for ip in ips if ":" not in ip]
            v6 = [ip for ip in ips if ":" in ip]
            if v4:
                server.set_a(name, v4)
            if v6:
                server.set_aaaa(name, v6)
        ready.send(server.port)
        cpu = time.process_time()
        stop.wait()
        ready.send(time.process_time() - cpu)  # the server's CPU seconds while serving


async def resolve_all(hosts: list[str], port: int, concurrency: int, timeout: float) -> tuple[list[DnsAnswer], dict]:
    async with AsyncResolver(["127.0.0.1"], port, timeout, concurrency=concurrency) as resolver:
        return [answer async for answer in resolver.resolve_many(hosts)], resolver.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--delay", type=float, default=0.0, help="the server's delay per answer, seconds")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the client; print the top 25")
    args = parser.parse_args()

    expected = world(args.hosts)
    context = multiprocessing.get_context("spawn")
    ready_recv, ready_send = context.Pipe(duplex=False)
    stop = context.Event()
    process = context.Process(target=serve, args=(args.hosts, args.delay, ready_send, stop), daemon=True)
    process.start()
    try:
        port = ready_recv.recv()
        hosts = list(expected)
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        answers, stats = asyncio.run(resolve_all(hosts, port, args.concurrency, args.timeout))
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        stop.set()
        server_cpu = ready_recv.recv() if ready_recv.poll(10) else float("nan")
        process.join(10)
        ready_recv.close()
        ready_send.close()

    statuses = Counter(answer.status for answer in answers)
    wrong = 0
    for answer in answers:
        kind, chain, ips = expected[answer.host]
        want = "nxdomain" if kind == "nxdomain" else "ok"
        if (answer.status, answer.cname_chain, set(answer.ips)) != (want, chain, set(ips)):
            wrong += 1
    assert len(answers) == len(hosts) and {a.host for a in answers} == set(hosts)
    print(f"{len(answers):,} hosts ({2 * len(answers):,} queries) in {elapsed:.2f} s: "
          f"{len(answers) / elapsed:,.0f} hosts/s, {2 * len(answers) / elapsed:,.0f} queries/s "
          f"(delay {args.delay:g} s, concurrency {args.concurrency}); "
          f"statuses {dict(statuses)}; {wrong} wrong; resolver stats {stats}")
    print(f"CPU: client {cpu:.2f} s ({cpu / elapsed:.0%} of a core), "
          f"server {server_cpu:.2f} s ({server_cpu / elapsed:.0%} of a core)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
