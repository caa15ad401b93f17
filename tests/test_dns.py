"""monitor.resolve.dns against the simulated DNS server on loopback (and a raw responder for
answers the simulation cannot give: forged, REFUSED, long CNAME chains, loops answered NOERROR,
names with dots and spaces inside labels)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from collections.abc import Iterator

import pytest
from dnslib import CNAME, QTYPE, RCODE, RR, A, DNSLabel, DNSRecord

import monitor.resolve.dns as resolve_dns
import monitor.resolve.dnsio as resolve_dnsio
from monitor.config import DNS
from monitor.errors import ConfigError
from monitor.resolve.dns import MAX_CHAIN, AsyncResolver, DnsAnswer, TxtAnswer, _combine, resolve_hosts
from monitor.resolve.dnsmsg import Reply
from monitor.sim.dns import DNSServer


@pytest.fixture
def server() -> Iterator[DNSServer]:
    with DNSServer() as running:
        yield running


def _ipv6_loopback() -> bool:
    """Whether this machine can bind a UDP socket to ::1 (not in every container)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def two_servers() -> Iterator[tuple[DNSServer, DNSServer]]:
    """Two nameservers on one port (the config has one port): 127.0.0.1 and ::1."""
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine")
    for _ in range(20):
        first = DNSServer("127.0.0.1")
        first.start()
        second = DNSServer("::1", port=first.port)
        try:
            second.start()
        except OSError:  # that port is taken on ::1; try another
            first.stop()
            continue
        try:
            yield first, second
        finally:
            second.stop()
            first.stop()
        return
    pytest.fail("found no port free on both 127.0.0.1 and ::1")


def resolve(server: DNSServer, *hosts: str, **options) -> list[DnsAnswer]:
    """Resolve hosts one at a time through a fresh resolver on ``server``."""
    options.setdefault("timeout", 2.0)

    async def run() -> list[DnsAnswer]:
        async with AsyncResolver(["127.0.0.1"], server.port, **options) as resolver:
            return [await resolver.resolve(host) for host in hosts]

    return asyncio.run(run())


def one(server: DNSServer, host: str, **options) -> DnsAnswer:
    return resolve(server, host, **options)[0]


# -- answers -----------------------------------------------------------------------


def test_several_a_sorted_numerically(server: DNSServer) -> None:
    server.set_a("shop.example", ["10.0.0.10", "10.0.0.9", "9.1.1.1"])
    assert one(server, "shop.example") == DnsAnswer(
        "shop.example", "ok", (), ("9.1.1.1", "10.0.0.9", "10.0.0.10")
    )


def test_aaaa_only_host_in_canonical_form(server: DNSServer) -> None:
    server.set_aaaa("v6.example", ["2001:DB8:0:0::2", "2001:db8::1"])
    answer = one(server, "v6.example")
    assert (answer.status, answer.ips) == ("ok", ("2001:db8::1", "2001:db8::2"))


def test_both_families_ipv4_first_deduplicated(server: DNSServer) -> None:
    server.set_a("dual.example", ["192.0.2.7", "192.0.2.7", "192.0.2.1"])
    server.set_aaaa("dual.example", ["2001:db8::7", "::1"])
    answer = one(server, "dual.example")
    assert answer == DnsAnswer("dual.example", "ok", (), ("192.0.2.1", "192.0.2.7", "::1", "2001:db8::7"))
    assert answer.detail is None


def test_cname_chain_of_one(server: DNSServer) -> None:
    server.set_cname("www.shop.example", "shop.cdn.example")
    server.set_a("shop.cdn.example", "192.0.2.1")
    answer = one(server, "www.shop.example")
    assert (answer.status, answer.cname_chain, answer.ips) == ("ok", ("shop.cdn.example",), ("192.0.2.1",))


def test_cname_chain_of_three(server: DNSServer) -> None:
    server.set_cname("a.example", "B.example.")
    server.set_cname("b.example", "c.example")
    server.set_cname("c.example", "edge.cdn.example")
    server.set_a("edge.cdn.example", ["192.0.2.2"])
    server.set_aaaa("edge.cdn.example", ["2001:db8::2"])
    answer = one(server, "a.example")
    assert answer == DnsAnswer(
        "a.example", "ok", ("b.example", "c.example", "edge.cdn.example"), ("192.0.2.2", "2001:db8::2")
    )


def test_cname_chain_ending_in_nxdomain_keeps_the_chain(server: DNSServer) -> None:
    server.set_cname("old.example", "gone.example")
    assert one(server, "old.example") == DnsAnswer("old.example", "nxdomain", ("gone.example",), ())


def test_nxdomain(server: DNSServer) -> None:
    server.set_nxdomain("nothing.example")
    assert one(server, "nothing.example") == DnsAnswer("nothing.example", "nxdomain", (), ())
    assert one(server, "never-set.example").status == "nxdomain"


def test_no_answer(server: DNSServer) -> None:
    server.set_txt("mail-only.example", "v=spf1 -all")
    server.set_a("empty.example", [])
    assert one(server, "mail-only.example") == DnsAnswer("mail-only.example", "no-answer", (), ())
    assert one(server, "empty.example").status == "no-answer"


def test_cname_chain_ending_without_addresses_is_no_answer(server: DNSServer) -> None:
    server.set_cname("alias.example", "txt-only.example")
    server.set_txt("txt-only.example", "hello")
    assert one(server, "alias.example") == DnsAnswer("alias.example", "no-answer", ("txt-only.example",), ())


def test_servfail(server: DNSServer) -> None:
    server.set_servfail("broken.example")
    answer = one(server, "broken.example")
    assert (answer.status, answer.ips) == ("servfail", ())
    assert "SERVFAIL" in (answer.detail or "")
    # A server that answered, even SERVFAIL, is not asked again: one query per type.
    assert sorted(server.queries) == [("broken.example", "A"), ("broken.example", "AAAA")]


def test_servfail_from_every_nameserver(two_servers: tuple[DNSServer, DNSServer]) -> None:
    first, second = two_servers
    first.set_servfail("broken.example")
    second.set_servfail("broken.example")

    async def run() -> DnsAnswer:
        async with AsyncResolver(["127.0.0.1", "::1"], first.port, timeout=2.0) as resolver:
            return await resolver.resolve("broken.example")

    assert asyncio.run(run()).status == "servfail"
    assert first.query_count == second.query_count == 2


def test_servfail_then_an_answer_from_the_next_nameserver(two_servers: tuple[DNSServer, DNSServer]) -> None:
    first, second = two_servers
    first.set_servfail("flaky.example")
    second.set_a("flaky.example", "192.0.2.9")

    async def run() -> DnsAnswer:
        async with AsyncResolver(["127.0.0.1", "::1"], first.port, timeout=2.0) as resolver:
            return await resolver.resolve("flaky.example")

    assert asyncio.run(run()) == DnsAnswer("flaky.example", "ok", (), ("192.0.2.9",))


def test_timeout(server: DNSServer) -> None:
    server.set_silent("quiet.example")
    answer = one(server, "quiet.example", timeout=0.2, retries=1)
    assert (answer.status, answer.ips, answer.cname_chain) == ("timeout", (), ())
    assert "2 tries of 0.2 s" in (answer.detail or "")
    assert server.query_count == 4  # A and AAAA, each tried twice


def test_timeout_without_retries(server: DNSServer) -> None:
    server.set_silent("quiet.example")
    assert one(server, "quiet.example", timeout=0.2, retries=0).status == "timeout"
    assert server.query_count == 2


def test_ip_literal_sends_no_query(server: DNSServer) -> None:
    answers = resolve(server, "192.0.2.1", "2001:DB8::1", "[::1]")
    assert [(a.status, a.ips, a.cname_chain) for a in answers] == [
        ("ok", ("192.0.2.1",), ()),
        ("ok", ("2001:db8::1",), ()),
        ("ok", ("::1",), ()),
    ]
    assert server.query_count == 0


def test_trailing_dot_and_upper_case(server: DNSServer) -> None:
    server.set_a("shop.example", "192.0.2.1")
    answer = one(server, "Shop.Example.")
    assert (answer.host, answer.status, answer.ips) == ("Shop.Example.", "ok", ("192.0.2.1",))
    assert set(server.queries) == {("shop.example", "A"), ("shop.example", "AAAA")}


def test_invalid_names_are_errors_without_a_query(server: DNSServer) -> None:
    answers = resolve(server, "bad..example", "x" * 64 + ".example", "", ".")
    assert [a.status for a in answers] == ["error"] * 4
    assert all("not a valid DNS name" in (a.detail or "") for a in answers)
    assert server.query_count == 0


def test_truncated_answer_is_asked_again_over_tcp(server: DNSServer) -> None:
    many = [f"192.0.2.{i}" for i in range(1, 61)]  # 60 A records: more than 512 bytes
    server.set_a("big.example", many)

    async def run() -> tuple[DnsAnswer, dict]:
        async with AsyncResolver(["127.0.0.1"], server.port, timeout=2.0) as resolver:
            return await resolver.resolve("big.example"), resolver.stats

    answer, stats = asyncio.run(run())
    assert (answer.status, answer.ips) == ("ok", tuple(many))
    assert stats["tcp"] == 1
    assert server.queries.count(("big.example", "A")) == 2  # UDP, then TCP


def test_an_idn_host_is_asked_in_punycode(server: DNSServer) -> None:
    server.set_a("xn--bcher-kva.example", "192.0.2.3")
    assert one(server, "bücher.example").ips == ("192.0.2.3",)


# -- mixed results -----------------------------------------------------------------


def test_addresses_of_one_type_win_over_a_failure_of_the_other() -> None:
    timeout = Reply("timeout", detail="no answer")
    found = Reply("noerror", records=(bytes(15) + b"\x01",))
    assert _combine("h.example", timeout, found) == DnsAnswer("h.example", "ok", (), ("::1",))


def test_no_addresses_and_a_failure_is_the_failure() -> None:
    empty = Reply("noerror")
    answer = _combine("h.example", empty, Reply("timeout", detail="no answer from x"))
    assert answer.status == "timeout"
    assert answer.detail == "AAAA: no answer from x; A: no addresses"


def test_nxdomain_for_one_type_and_a_failure_for_the_other_is_nxdomain() -> None:
    assert _combine("h.example", Reply("nxdomain"), Reply("servfail", detail="x")).status == "nxdomain"


# -- nameservers -------------------------------------------------------------------


def test_silent_first_nameserver_falls_back_to_the_second(two_servers: tuple[DNSServer, DNSServer]) -> None:
    first, second = two_servers
    first.set_a("shop.example", "192.0.2.1")
    second.set_silent("shop.example")

    async def run() -> DnsAnswer:
        async with AsyncResolver(["::1", "127.0.0.1"], first.port, timeout=0.2, retries=0) as resolver:
            return await resolver.resolve("shop.example")

    assert asyncio.run(run()) == DnsAnswer("shop.example", "ok", (), ("192.0.2.1",))
    assert second.query_count == 2 and first.query_count == 2


def test_dead_first_nameserver_falls_back_to_the_second(server: DNSServer) -> None:
    server.set_a("shop.example", "192.0.2.1")

    async def run() -> DnsAnswer:
        # Nothing listens on [::1]:port (the server is on 127.0.0.1 only).
        async with AsyncResolver(["::1", "127.0.0.1"], server.port, timeout=0.2, retries=0) as resolver:
            return await resolver.resolve("shop.example")

    assert asyncio.run(run()).ips == ("192.0.2.1",)


def test_from_config_uses_the_configured_nameservers(server: DNSServer) -> None:
    server.set_a("shop.example", "192.0.2.1")
    config = DNS(nameservers=("127.0.0.1",), port=server.port, timeout=2.0)
    assert resolve_hosts(["shop.example"], config)[0].ips == ("192.0.2.1",)


def test_from_config_falls_back_to_resolv_conf(server: DNSServer, tmp_path, monkeypatch) -> None:
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("# test\nnameserver 127.0.0.1\n")
    monkeypatch.setattr(resolve_dns, "RESOLV_CONF", str(resolv_conf))
    server.set_a("shop.example", "192.0.2.1")
    config = DNS(port=server.port, timeout=2.0)
    assert AsyncResolver.from_config(config).nameservers == ("127.0.0.1",)
    assert resolve_hosts(["shop.example"], config)[0].ips == ("192.0.2.1",)


def test_no_nameservers_anywhere_is_a_config_error(tmp_path, monkeypatch) -> None:
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("search example\n")
    monkeypatch.setattr(resolve_dns, "RESOLV_CONF", str(resolv_conf))
    with pytest.raises(ConfigError, match="dns.nameservers in config.yaml"):
        AsyncResolver.from_config(DNS())
    monkeypatch.setattr(resolve_dns, "RESOLV_CONF", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="dns.nameservers"):
        AsyncResolver.from_config(DNS())


# -- many hosts ----------------------------------------------------------------------


def fill(server: DNSServer, n: int) -> dict[str, DnsAnswer]:
    """n hosts of every kind, and the answer each should get."""
    expected = {}
    for i in range(n):
        host = f"h{i}.many.example"
        v4, v6 = f"10.{i >> 8 & 255}.{i & 255}.1", f"2001:db8::{i:x}"
        kind = i % 5
        if kind == 0:
            server.set_a(host, v4)
            expected[host] = DnsAnswer(host, "ok", (), (v4,))
        elif kind == 1:
            server.set_a(host, v4)
            server.set_aaaa(host, v6)
            expected[host] = DnsAnswer(host, "ok", (), (v4, v6))
        elif kind == 2:
            server.set_aaaa(host, v6)
            expected[host] = DnsAnswer(host, "ok", (), (v6,))
        elif kind == 3:
            server.set_cname(host, f"t{i}.cdn.example")
            server.set_a(f"t{i}.cdn.example", v4)
            expected[host] = DnsAnswer(host, "ok", (f"t{i}.cdn.example",), (v4,))
        else:
            server.set_nxdomain(host)
            expected[host] = DnsAnswer(host, "nxdomain", (), ())
    return expected


def test_two_thousand_hosts_concurrently(server: DNSServer) -> None:
    expected = fill(server, 2000)

    async def run() -> tuple[list[DnsAnswer], dict]:
        async with AsyncResolver(["127.0.0.1"], server.port, timeout=3.0) as resolver:
            return [a async for a in resolver.resolve_many(expected)], resolver.stats

    answers, stats = asyncio.run(run())
    assert len(answers) == 2000
    for answer in answers:
        assert answer == expected[answer.host]
    assert stats["queries"] >= 4000 and stats["tcp"] == 0


def test_resolve_many_streams_every_host_once_reading_hosts_lazily(server: DNSServer) -> None:
    expected = fill(server, 300)
    pulled = 0

    def hosts() -> Iterator[str]:
        nonlocal pulled
        for host in expected:
            pulled += 1
            yield host

    async def run() -> tuple[list[DnsAnswer], int]:
        async with AsyncResolver(["127.0.0.1"], server.port, timeout=3.0, concurrency=20) as resolver:
            answers, pulled_at_first = [], None
            async for answer in resolver.resolve_many(hosts()):
                if pulled_at_first is None:
                    pulled_at_first = pulled
                answers.append(answer)
            return answers, pulled_at_first or 0

    answers, pulled_at_first = asyncio.run(run())
    assert sorted(a.host for a in answers) == sorted(expected)  # each host exactly once
    assert all(a == expected[a.host] for a in answers)
    assert pulled_at_first <= 21  # a window of 20 in flight, not the whole input


def test_leaving_resolve_many_early_cancels_the_rest(server: DNSServer) -> None:
    expected = fill(server, 200)
    server.delay = 0.05

    async def run() -> DnsAnswer:
        async with AsyncResolver(["127.0.0.1"], server.port, timeout=3.0, concurrency=50) as resolver:
            stream = resolver.resolve_many(expected)
            async for answer in stream:
                break
            await stream.aclose()
            assert all(not s.pending for s in resolver._servers)  # no query left in flight
            return answer

    answer = asyncio.run(run())
    assert answer == expected[answer.host]


def test_resolve_hosts_answers_each_distinct_host_in_order(server: DNSServer) -> None:
    server.set_a("a.example", "192.0.2.1")
    config = DNS(nameservers=("127.0.0.1",), port=server.port, timeout=2.0)
    answers = resolve_hosts(["b.example", "a.example", "192.0.2.5", "b.example"], config)
    assert [(a.host, a.status) for a in answers] == [
        ("b.example", "nxdomain"), ("a.example", "ok"), ("192.0.2.5", "ok"),
    ]


# -- answers that are not ours -------------------------------------------------------


@pytest.fixture
def responder() -> Iterator[tuple[int, list]]:
    """A raw UDP responder on 127.0.0.1: for each query, sends the replies that the functions in
    the list (consumed in turn) make of it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    scripts: list = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(512)
            except TimeoutError:
                continue
            request = DNSRecord.parse(data)
            make = scripts.pop(0) if scripts else (lambda r: [])
            for reply in make(request):
                sock.sendto(reply.pack(), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], scripts
    finally:
        stop.set()
        thread.join()
        sock.close()


def _answer(request: DNSRecord, ip: str | None = None, rcode: int = RCODE.NOERROR) -> DNSRecord:
    reply = request.reply()
    reply.header.rcode = rcode
    if ip and request.q.qtype == QTYPE.A:
        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(ip), ttl=60))
    return reply


def test_answers_to_another_question_or_id_are_ignored(responder) -> None:
    port, scripts = responder

    def forged_then_real(request: DNSRecord) -> list[DNSRecord]:
        other = DNSRecord.question("evil.example", "A")
        other.header.id = request.header.id  # right ID, wrong question
        wrong_id = _answer(request, "192.0.2.66")
        wrong_id.header.id = (request.header.id + 1) % 65536
        return [_answer(other, "192.0.2.66"), wrong_id, _answer(request, "192.0.2.1")]

    scripts.extend([forged_then_real, forged_then_real])

    async def run() -> DnsAnswer:
        async with AsyncResolver(["127.0.0.1"], port, timeout=2.0) as resolver:
            return await resolver.resolve("shop.example")

    assert asyncio.run(run()) == DnsAnswer("shop.example", "ok", (), ("192.0.2.1",))


def test_refused_is_an_error_with_detail(responder) -> None:
    port, scripts = responder
    scripts.extend([lambda r: [_answer(r, rcode=RCODE.REFUSED)]] * 2)

    async def run() -> DnsAnswer:
        async with AsyncResolver(["127.0.0.1"], port, timeout=2.0) as resolver:
            return await resolver.resolve("shop.example")

    answer = asyncio.run(run())
    assert answer.status == "error"
    assert answer.detail == f"REFUSED from 127.0.0.1:{port}"


class _Raw:
    """A reply given as wire bytes, for answers dnslib would not build."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def pack(self) -> bytes:
        return self.data


def _looping_answer(request: DNSRecord) -> list[_Raw]:
    """An answer to ``request`` whose one record's owner name is the label "a" followed by a
    compression pointer back to that label: a name without end."""
    question = request.pack()[12:]  # the question exactly as asked
    header = request.header.id.to_bytes(2, "big") + bytes.fromhex("8180 0001 0001 0000 0000")
    start = 12 + len(question)
    owner = b"\x01a" + bytes([0xC0 | start >> 8, start & 0xFF])
    record = owner + bytes.fromhex("0001 0001 0000003c 0004") + bytes([192, 0, 2, 1])
    return [_Raw(header + question + record)]


def test_a_compression_pointer_loop_is_a_malformed_answer(responder) -> None:
    port, scripts = responder
    scripts.extend([_looping_answer, _looping_answer])
    finished: list[DnsAnswer] = []

    async def run() -> None:
        async with AsyncResolver(["127.0.0.1"], port, timeout=1.0, retries=0) as resolver:
            finished.append(await resolver.resolve("shop.example"))

    # In a thread of its own, so that a resolver stuck in the loop fails the test, not hangs it.
    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the resolver hangs on a looping compression pointer"
    (answer,) = finished
    assert (answer.status, answer.ips) == ("error", ())
    assert "malformed answer" in (answer.detail or "")


# -- CNAME chains, loops and exact names ---------------------------------------------------
# The simulated server follows at most 16 CNAMEs (and answers longer chains SERVFAIL, as
# resolvers do), so these answers come from the raw responder.


def _chain_reply(links: list[DNSLabel | str], ip: str | None = "192.0.2.1", rcode: int = RCODE.NOERROR,
                 extra: list[RR] = ()):
    """A script answering any question with the CNAMEs links[0] -> links[1] -> ... and, for A,
    the address of the last name."""

    def make(request: DNSRecord) -> list:
        reply = request.reply()
        reply.header.rcode = rcode
        for owner, target in zip(links, links[1:]):
            reply.add_answer(RR(owner, QTYPE.CNAME, rdata=CNAME(target), ttl=60))
        if ip and request.q.qtype == QTYPE.A:
            reply.add_answer(RR(links[-1], QTYPE.A, rdata=A(ip), ttl=60))
        for record in extra:
            reply.add_answer(record)
        return [_Raw(bytes(reply.pack()))]

    return make


def _ask(port: int, scripts: list, script, host: str) -> DnsAnswer:
    scripts.extend([script, script])  # the A and the AAAA question

    async def run() -> DnsAnswer:
        async with AsyncResolver(["127.0.0.1"], port, timeout=2.0, retries=0) as resolver:
            return await resolver.resolve(host)

    return asyncio.run(run())


def test_thirty_cnames_in_one_answer(responder) -> None:
    port, scripts = responder
    names = ["shop.example", *(f"hop{n}.cdn.example" for n in range(1, 31))]
    answer = _ask(port, scripts, _chain_reply(names), "shop.example")
    assert answer == DnsAnswer("shop.example", "ok", tuple(names[1:]), ("192.0.2.1",))


def test_the_chain_cap_is_stated_and_a_longer_chain_is_an_error(responder) -> None:
    port, scripts = responder
    names = ["shop.example", *(f"hop{n}.cdn.example" for n in range(1, MAX_CHAIN + 1))]
    longest = _ask(port, scripts, _chain_reply(names), "shop.example")
    assert (longest.status, len(longest.cname_chain), longest.ips) == ("ok", MAX_CHAIN, ("192.0.2.1",))
    longer = _ask(port, scripts, _chain_reply([*names, "one.more.example"]), "shop.example")
    assert (longer.status, longer.ips) == ("error", ())
    assert f"longer than {MAX_CHAIN}" in (longer.detail or "")


def test_a_cname_loop_answered_noerror_is_its_own_status(responder) -> None:
    port, scripts = responder
    loop = ["shop.example", "b.example", "c.example", "b.example"]
    answer = _ask(port, scripts, _chain_reply(loop, ip=None), "shop.example")
    assert (answer.status, answer.cname_chain, answer.ips) == ("cname-loop", ("b.example", "c.example", "b.example"), ())
    assert "CNAME loop" in (answer.detail or "") and "b.example again" in (answer.detail or "")
    # A name that is its own alias, and a loop back to the name asked.
    assert _ask(port, scripts, _chain_reply(["self.example", "self.example"], ip=None), "self.example").status == "cname-loop"
    back = _ask(port, scripts, _chain_reply(["a.example", "b.example", "A.Example"], ip=None), "a.example")
    assert (back.status, back.cname_chain) == ("cname-loop", ("b.example", "a.example"))


def test_a_loop_in_an_nxdomain_answer_stays_nxdomain(responder) -> None:
    port, scripts = responder
    answer = _ask(port, scripts, _chain_reply(["a.example", "b.example", "a.example"], ip=None, rcode=RCODE.NXDOMAIN),
                  "a.example")
    assert (answer.status, answer.cname_chain) == ("nxdomain", ("b.example", "a.example"))


def test_names_with_dots_and_spaces_in_labels_are_kept_exact(responder) -> None:
    port, scripts = responder
    weird = DNSLabel([b"we.ird", b"example"])  # two labels, the first holding a dot
    decoy = RR("we.ird.example", QTYPE.A, rdata=A("192.0.2.66"), ttl=60)  # three labels: another name
    answer = _ask(port, scripts, _chain_reply(["shop.example", weird], extra=[decoy]), "shop.example")
    assert answer == DnsAnswer("shop.example", "ok", ("we\\.ird.example",), ("192.0.2.1",))
    odd = DNSLabel([b"Sp ace\xff", b"x\\y", b"example"])
    answer = _ask(port, scripts, _chain_reply(["shop.example", odd, "end.example"]), "shop.example")
    assert answer.cname_chain == ("sp\\032ace\\255.x\\\\y.example", "end.example")
    assert answer.ips == ("192.0.2.1",)


def test_a_cname_that_ends_in_a_family_the_name_lacks_is_no_answer(responder) -> None:
    port, scripts = responder
    answer = _ask(port, scripts, _chain_reply(["shop.example", "v4only.example"], ip=None), "shop.example")
    assert (answer.status, answer.cname_chain) == ("no-answer", ("v4only.example",))


# -- TXT: Team Cymru's questions go through the same resolver ---------------------------------


def txt(server: DNSServer, *names: str, **options) -> list[TxtAnswer]:
    options.setdefault("timeout", 2.0)

    async def run() -> list[TxtAnswer]:
        async with AsyncResolver(["127.0.0.1"], server.port, **options) as resolver:
            return [await resolver.txt(name) for name in names]

    return asyncio.run(run())


def test_txt_records_and_failures(server: DNSServer) -> None:
    server.set_txt("AS15169.asn.cymru.com", "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US")
    server.set_txt("two.example", ["first", "sécond"])
    server.set_a("no-txt.example", "192.0.2.1")
    server.set_servfail("broken.example")
    server.set_silent("quiet.example")
    found, two, gone, empty, broken, quiet = txt(
        server, "AS15169.asn.cymru.com", "two.example", "gone.example", "no-txt.example", "broken.example",
        "quiet.example", timeout=0.2, retries=0,
    )
    assert found == TxtAnswer("AS15169.asn.cymru.com", "ok", (b"15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US",))
    assert sorted(two.records) == [b"first", "sécond".encode()]
    assert (gone.status, empty.status, broken.status, quiet.status) == ("nxdomain", "no-answer", "servfail", "timeout")
    assert server.queries[0] == ("as15169.asn.cymru.com", "TXT")


def test_a_long_txt_answer_is_asked_again_over_tcp(server: DNSServer) -> None:
    strings = [f"{n} | 192.0.{n}.0/24 | US | arin | 2000-01-01" for n in range(20)]  # > 512 bytes
    server.set_txt("many.example", strings)
    (answer,) = txt(server, "many.example")
    assert sorted(answer.records) == sorted(s.encode() for s in strings)
    assert server.queries.count(("many.example", "TXT")) == 2  # UDP, then TCP


# -- resources -----------------------------------------------------------------------


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_no_socket_left_open(server: DNSServer) -> None:
    server.set_a("shop.example", "192.0.2.1")
    server.set_a("big.example", [f"192.0.2.{i}" for i in range(1, 61)])  # the TCP path too
    server.set_silent("quiet.example")
    before = _open_files()
    answers = resolve(server, "shop.example", "big.example", "quiet.example", timeout=0.2, retries=0)
    assert [a.status for a in answers] == ["ok", "ok", "timeout"]
    assert _open_files() == before


class _NoIPv6:
    """The socket module of a machine without IPv6: an AF_INET6 socket cannot be made."""

    def __getattr__(self, name: str):
        return getattr(socket, name)

    @staticmethod
    def socket(family: int = socket.AF_INET, *args, **kwargs) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
        return socket.socket(family, *args, **kwargs)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_nameserver_without_a_socket_is_a_config_error_and_closes_the_others(
    server: DNSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolve_dnsio, "socket", _NoIPv6())
    before = _open_files()

    async def run() -> None:
        async with AsyncResolver(["127.0.0.1", "::1"], server.port, timeout=0.2) as resolver:
            await resolver.resolve("shop.example")

    with pytest.raises(ConfigError, match=r"dns\.nameservers.*::1"):
        asyncio.run(run())
    assert _open_files() == before  # the socket to 127.0.0.1 was closed again
    assert server.query_count == 0


def test_closing_with_questions_in_flight(server: DNSServer) -> None:
    server.set_silent("quiet.example")

    async def run() -> DnsAnswer:
        resolver = AsyncResolver(["127.0.0.1"], server.port, timeout=5.0)
        task = asyncio.create_task(resolver.resolve("quiet.example"))
        await asyncio.sleep(0.05)
        await resolver.close()
        answer = await task
        with pytest.raises(RuntimeError, match="closed"):
            await resolver.resolve("quiet.example")
        return answer

    answer = asyncio.run(run())
    assert answer.status == "error" and "closed" in (answer.detail or "")
