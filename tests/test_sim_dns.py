"""The simulated DNS server, queried through dnspython as the monitor will query it."""

import asyncio
import socket
from collections.abc import Iterator

import dns.asyncresolver
import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import dns.resolver
import pytest

from monitor.config import load_file
from monitor.sim.dns import DNSServer
from monitor.sim.world import World


@pytest.fixture
def server() -> Iterator[DNSServer]:
    with DNSServer() as running:
        yield running


def resolver_for(server: DNSServer, lifetime: float = 2.0) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.lifetime = lifetime
    return resolver


def addresses(server: DNSServer, name: str, rdtype: str = "A") -> list[str]:
    return sorted(rdata.to_text() for rdata in resolver_for(server).resolve(name, rdtype))


def test_a(server: DNSServer) -> None:
    server.set_a("shop.example", ["127.0.1.1"])
    answer = resolver_for(server).resolve("shop.example", "A")
    assert [rdata.address for rdata in answer] == ["127.0.1.1"]
    assert answer.rrset is not None and answer.rrset.ttl == 60


def test_several_a(server: DNSServer) -> None:
    server.set_a("shop.example", ["127.0.1.1", "127.0.1.2", "127.0.1.3"])
    assert addresses(server, "shop.example") == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]


def test_a_single_address_may_be_passed_bare(server: DNSServer) -> None:
    server.set_a("shop.example", "127.0.1.1")
    assert addresses(server, "shop.example") == ["127.0.1.1"]


def test_aaaa(server: DNSServer) -> None:
    server.set_aaaa("shop.example", ["2001:db8::1", "2001:DB8::2"])
    assert addresses(server, "shop.example", "AAAA") == ["2001:db8::1", "2001:db8::2"]


def test_names_are_case_insensitive_with_or_without_the_dot(server: DNSServer) -> None:
    server.set_a("Shop.Example.", ["127.0.1.1"])
    assert addresses(server, "shop.example") == ["127.0.1.1"]
    assert addresses(server, "SHOP.EXAMPLE.") == ["127.0.1.1"]


def test_cname_chain_is_answered_with_the_targets_addresses(server: DNSServer) -> None:
    server.set_cname("www.shop.example", "shop.cdn.example")
    server.set_cname("shop.cdn.example", "edge7.cdn.example.")
    server.set_a("edge7.cdn.example", ["127.0.2.7"])
    server.set_aaaa("edge7.cdn.example", ["2001:db8::7"])

    answer = resolver_for(server).resolve("www.shop.example", "A")

    assert [rdata.address for rdata in answer] == ["127.0.2.7"]
    assert answer.canonical_name.to_text() == "edge7.cdn.example."
    chain = [rrset for rrset in answer.response.answer if rrset.rdtype == dns.rdatatype.CNAME]
    assert [rrset[0].target.to_text() for rrset in chain] == [
        "shop.cdn.example.",
        "edge7.cdn.example.",
    ]
    assert addresses(server, "www.shop.example", "AAAA") == ["2001:db8::7"]


def test_cname_question_gets_the_cname_alone(server: DNSServer) -> None:
    server.set_cname("www.shop.example", "shop.cdn.example")
    server.set_a("shop.cdn.example", ["127.0.2.7"])
    assert addresses(server, "www.shop.example", "CNAME") == ["shop.cdn.example."]


def test_unknown_name_is_nxdomain(server: DNSServer) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver_for(server).resolve("nowhere.example", "A")


def test_set_nxdomain(server: DNSServer) -> None:
    server.set_a("gone.example", ["127.0.1.1"])
    server.set_nxdomain("gone.example")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver_for(server).resolve("gone.example", "A")


def test_dangling_cname_is_nxdomain(server: DNSServer) -> None:
    server.set_cname("www.shop.example", "nowhere.example")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver_for(server).resolve("www.shop.example", "A")


def test_cname_loop_is_servfail(server: DNSServer) -> None:
    server.set_cname("a.example", "b.example")
    server.set_cname("b.example", "a.example")
    with pytest.raises(dns.resolver.NoNameservers):
        resolver_for(server).resolve("a.example", "A")


def test_name_without_records_of_the_type_is_no_answer(server: DNSServer) -> None:
    server.set_a("v4only.example", ["127.0.1.1"])
    with pytest.raises(dns.resolver.NoAnswer):
        resolver_for(server).resolve("v4only.example", "AAAA")


def test_servfail(server: DNSServer) -> None:
    server.set_servfail("broken.example")
    with pytest.raises(dns.resolver.NoNameservers) as raised:
        resolver_for(server).resolve("broken.example", "A")
    assert "SERVFAIL" in str(raised.value)


def test_silent_name_times_out(server: DNSServer) -> None:
    server.set_silent("blackhole.example")
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver_for(server, lifetime=0.3).resolve("blackhole.example", "A")
    assert server.queries[0] == ("blackhole.example", "A")


def test_txt(server: DNSServer) -> None:
    server.set_txt("shop.example", ["v=spf1 -all", "hello world"])
    answer = resolver_for(server).resolve("shop.example", "TXT")
    assert sorted(b"".join(rdata.strings) for rdata in answer) == [b"hello world", b"v=spf1 -all"]


def test_txt_too_long_for_udp_is_retried_over_tcp(server: DNSServer) -> None:
    strings = [f"{i:03d}" + "x" * 200 for i in range(10)]
    server.set_txt("big.example", strings)

    udp = dns.query.udp(dns.message.make_query("big.example", "TXT"), server.host, 2, server.port)
    assert udp.flags & dns.flags.TC and not udp.answer

    answer = resolver_for(server).resolve("big.example", "TXT")
    assert sorted(rdata.strings[0].decode() for rdata in answer) == strings
    assert server.queries[-2:] == [("big.example", "TXT")] * 2  # UDP, then TCP


def test_several_queries_on_one_tcp_connection(server: DNSServer) -> None:
    server.set_a("a.example", ["127.0.1.1"])
    server.set_a("b.example", ["127.0.1.2"])
    with socket.create_connection((server.host, server.port), timeout=2) as sock:
        for name, address in [("a.example", "127.0.1.1"), ("b.example", "127.0.1.2")]:
            dns.query.send_tcp(sock, dns.message.make_query(name, "A"))
            response, _ = dns.query.receive_tcp(sock)
            assert response.answer[0][0].address == address


def test_txt_string_longer_than_255_bytes_is_refused(server: DNSServer) -> None:
    with pytest.raises(ValueError):
        server.set_txt("shop.example", ["x" * 256])


def test_records_change_between_lookups(server: DNSServer) -> None:
    server.set_a("shop.example", ["127.0.1.1"])
    assert addresses(server, "shop.example") == ["127.0.1.1"]

    server.set_a("shop.example", ["127.0.3.3"])
    assert addresses(server, "shop.example") == ["127.0.3.3"]

    server.set_cname("shop.example", "elsewhere.example")
    server.set_a("elsewhere.example", ["127.0.4.4"])
    assert addresses(server, "shop.example") == ["127.0.4.4"]

    server.remove("shop.example")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver_for(server).resolve("shop.example", "A")


def test_setting_addresses_replaces_a_cname(server: DNSServer) -> None:
    server.set_cname("shop.example", "elsewhere.example")
    server.set_a("shop.example", ["127.0.1.1"])
    assert addresses(server, "shop.example") == ["127.0.1.1"]
    with pytest.raises(dns.resolver.NoAnswer):
        resolver_for(server).resolve("shop.example", "CNAME")


def test_clear(server: DNSServer) -> None:
    server.set_a("shop.example", ["127.0.1.1"])
    server.clear()
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver_for(server).resolve("shop.example", "A")


def test_query_log(server: DNSServer) -> None:
    server.set_a("shop.example", ["127.0.1.1"])
    server.set_aaaa("shop.example", ["2001:db8::1"])
    resolver = resolver_for(server)
    resolver.resolve("Shop.Example", "A")
    resolver.resolve("shop.example.", "AAAA")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("nowhere.example", "A")

    assert server.queries == [
        ("shop.example", "A"),
        ("shop.example", "AAAA"),
        ("nowhere.example", "A"),
    ]
    assert server.query_count == 3

    server.reset_log()
    assert server.queries == []
    assert server.query_count == 0


# A delay shows as behaviour, not as a measured duration: a client that waits less than the
# delay gets no answer, one that waits longer gets it.


def test_delay_postpones_the_answer() -> None:
    with DNSServer(delay=1.0) as server:
        server.set_a("slow.example", ["127.0.1.1"])
        with pytest.raises(dns.resolver.LifetimeTimeout):
            resolver_for(server, lifetime=0.1).resolve("slow.example", "A")
        assert addresses(server, "slow.example") == ["127.0.1.1"]


def test_delay_can_be_changed_while_running(server: DNSServer) -> None:
    server.set_a("shop.example", ["127.0.1.1"])
    assert [r.to_text() for r in resolver_for(server, lifetime=0.1).resolve("shop.example", "A")] == ["127.0.1.1"]
    server.delay = 1.0
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver_for(server, lifetime=0.1).resolve("shop.example", "A")


def test_start_and_stop_without_context_manager() -> None:
    server = DNSServer()
    server.start()
    try:
        server.set_a("shop.example", ["127.0.1.1"])
        assert addresses(server, "shop.example") == ["127.0.1.1"]
    finally:
        server.stop()


def test_many_concurrent_delayed_lookups() -> None:
    names = {f"host{i}.example": f"127.0.{i // 250}.{i % 250 + 1}" for i in range(200)}

    async def resolve_all(server: DNSServer) -> dict[str, str]:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [server.host]
        resolver.port = server.port
        resolver.timeout = resolver.lifetime = 10

        async def one(name: str) -> tuple[str, str]:
            answer = await resolver.resolve(name, "A")
            return name, answer[0].address

        return dict(await asyncio.gather(*(one(name) for name in names)))

    with DNSServer(delay=0.05) as server:
        for name, address in names.items():
            server.set_a(name, [address])
        assert asyncio.run(resolve_all(server)) == names
        assert {name for name, _ in server.queries} == set(names)


# -- the world's config --------------------------------------------------------------------------


def test_the_worlds_config_holds_any_path(tmp_path) -> None:
    folder = tmp_path / "a world: #1 'quoted' [x]"
    database = folder / "monitor: night #2.db"
    with World(folder) as world:
        path = world.write_config(tmp_path / "config.yaml", database, log_file=folder / "crawl #3.log",
                                  timeout=3.0, concurrency=128)
    config = load_file(path)
    assert config.database == database
    assert (config.geoip.country_db, config.geoip.asn_db) == (world.country_db, world.asn_db)
    assert (config.crawl.log_file, config.crawl.timeout, config.crawl.concurrency) == (
        folder / "crawl #3.log", 3.0, 128,
    )
    assert config.crawl.allow_private_addresses is True
    assert (config.asn.cymru_dns, config.rdap.enabled) == (False, False)
    assert (config.dns.nameservers, config.dns.port) == (("127.0.0.1",), world.dns.port)
