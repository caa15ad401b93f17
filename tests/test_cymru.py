"""Team Cymru lookups through ipwhois, against the simulated DNS server on 127.0.0.1.

The origin data served are what ipwhois's own recordings (tests/data/ipwhois/rdap.json,
``asn_data``) say Team Cymru answered for those addresses, in Cymru's TXT formats. The client
is pure; where the store's cache is the point, rows go through monitor.store.caches as the
enricher moves them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

from monitor.config import DNS
from monitor.ips import address_hex
from monitor.resolve.cymru import CymruAnswer, CymruClient, cymru_zone, ipwhois_net
from monitor.store import caches
from monitor.sim.cymru import origin_name, publish_origin
from monitor.sim.dns import DNSServer

RECORDING = Path(__file__).parent / "data" / "ipwhois" / "rdap.json"
ASN_DATA = {ip: entry["asn_data"] for ip, entry in json.loads(RECORDING.read_text()).items()}

# AS names as Cymru's AS TXT records give them (ASN | country | registry | date | name).
AS_NAMES = {
    "15169": "GOOGLE - Google LLC, US",
    "2856": "BT-UK-AS BTnet UK Regional network, GB",
    "3786": "LGDACOM LG DACOM Corporation, KR",
    "12091": "MTNNS-1, ZA",
}


def origin_txt(data: dict) -> str:
    return (
        f"{data['asn']} | {data['asn_cidr']} | {data['asn_country_code']} | "
        f"{data['asn_registry']} | {data['asn_date']}"
    )


def publish(server: DNSServer) -> None:
    for ip, data in ASN_DATA.items():
        publish_origin(
            server, ip, asn=int(data["asn"]), prefix=data["asn_cidr"], country=data["asn_country_code"],
            registry=data["asn_registry"], as_name=AS_NAMES[data["asn"]], allocated=data["asn_date"],
        )


@pytest.fixture
def server() -> Iterator[DNSServer]:
    with DNSServer() as running:
        publish(running)
        yield running


def settings(server: DNSServer, timeout: float = 2.0) -> DNS:
    return DNS(nameservers=("127.0.0.1",), port=server.port, timeout=timeout)


@pytest.fixture
def client(server: DNSServer) -> Iterator[CymruClient]:
    with CymruClient(settings(server)) as running:
        yield running


def through_store(client: CymruClient, db, *ips: str) -> list[CymruAnswer]:
    """As the enricher does it: cached rows in, answers out, new rows saved."""
    client.remember(caches.load_prefixes(db, client.missing(ips), client.max_age_days))
    results = client.lookup_many(ips)
    caches.save(db, prefixes=results.rows)
    return [results.answers[ip] for ip in ips]


def test_the_recordings_hold_ipv4_and_ipv6() -> None:
    versions = {ipaddress.ip_address(ip).version for ip in ASN_DATA}
    assert versions == {4, 6}


def test_every_field_of_every_recorded_answer(server: DNSServer) -> None:
    for ip, data in sorted(ASN_DATA.items()):
        server.reset_log()
        with CymruClient(settings(server)) as client:
            answer = client.lookup(ip)
        assert answer == CymruAnswer(
            asn=int(data["asn"]),
            as_org=AS_NAMES[data["asn"]],
            prefix=data["asn_cidr"],
            registry=data["asn_registry"],
            registry_country=data["asn_country_code"],
            status="ok",
            detail=None,
        ), ip
        assert server.queries == [
            (origin_name(ip).lower(), "TXT"),
            (f"as{data['asn']}.asn.cymru.com", "TXT"),
        ]


def test_many_addresses_are_asked_at_once_and_answered_in_one_go(server: DNSServer, client: CymruClient) -> None:
    results = client.lookup_many(sorted(ASN_DATA) + ["10.0.0.1", "8.8.4.4"])
    assert {ip: a.asn for ip, a in results.answers.items() if ip in ASN_DATA} == {
        ip: int(data["asn"]) for ip, data in ASN_DATA.items()
    }
    assert (results.answers["10.0.0.1"].status, results.answers["8.8.4.4"].status) == ("not-applicable", "not-found")
    # Rows for the store: one per prefix learnt, none for what Cymru does not know.
    assert sorted(row.prefix for row in results.rows) == sorted({d["asn_cidr"] for d in ASN_DATA.values()})


def test_the_zone_is_the_one_cymru_documents() -> None:
    """Team Cymru's documented origin question (https://www.team-cymru.com/ip-asn-mapping):
    the IPv4 address's octets reversed, under origin.asn.cymru.com. Written out by hand, so that
    a wrong zone in the client (which the simulation shares) fails here."""
    assert ipwhois_net("74.125.225.229").dns_zone == "229.225.125.74.origin.asn.cymru.com."
    assert origin_name("74.125.225.229") == "229.225.125.74.origin.asn.cymru.com"
    assert cymru_zone("196.11.240.215") == "215.240.11.196.origin.asn.cymru.com."


@pytest.mark.parametrize(
    "ip",
    [
        "74.125.225.229",
        "8.8.4.0",
        "1.0.0.1",
        "2001:4860:4860::8888",
        "2a00:1450:4001:80b::200e",
        "2a02:26f0::",  # trailing zero groups: ipwhois leaves them out
        "2a01:4f8::1:0:0:0",  # zero groups inside and at the end
        "2600::1",
    ],
)
def test_the_zone_is_named_as_ipwhois_net_names_it(ip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import ipwhois.net

    # Net.__init__ builds dns.resolver.Resolver(), which reads /etc/resolv.conf; not here.
    resolver_class = dns.resolver.Resolver
    monkeypatch.setattr(dns.resolver, "Resolver", lambda: resolver_class(configure=False))
    real = ipwhois.net.Net(ip)
    assert cymru_zone(ip) == real.dns_zone
    ours = ipwhois_net(ip)
    assert (ours.dns_zone, ours.reversed, ours.address_str, ours.version) == (
        real.dns_zone, real.reversed, real.address_str, real.version,
    )


def test_an_ipv6_address_with_trailing_zero_groups(server: DNSServer, client: CymruClient) -> None:
    publish_origin(server, "2a02:26f0::", asn=20940, prefix="2a02:26f0::/29", country="EU",
                   registry="ripencc", as_name="AKAMAI-ASN1, NL")
    answer = client.lookup("2a02:26f0::")
    assert (answer.status, answer.asn, answer.prefix) == ("ok", 20940, "2a02:26f0::/29")
    assert server.queries[0] == ("0.f.6.2.2.0.a.2.origin6.asn.cymru.com", "TXT")


def test_an_unannounced_address_is_not_found(server: DNSServer, client: CymruClient) -> None:
    answer = client.lookup("8.8.4.4")  # no TXT record: the server says NXDOMAIN
    assert answer.status == "not-found"
    assert answer.asn is None and answer.prefix is None
    assert "NXDOMAIN" in (answer.detail or "")
    assert server.queries == [("4.4.8.8.origin.asn.cymru.com", "TXT")]


def test_a_name_without_txt_is_not_found(server: DNSServer, client: CymruClient) -> None:
    server.set_a(origin_name("8.8.4.4"), "127.0.0.2")
    assert client.lookup("8.8.4.4").status == "not-found"


@pytest.mark.parametrize(
    "ip", ["10.1.2.3", "192.168.0.1", "127.0.0.1", "100.64.0.1", "169.254.1.1", "::1", "fe80::1", "fc00::1"]
)
def test_private_and_reserved_addresses_ask_nothing(server: DNSServer, client: CymruClient, ip: str) -> None:
    answer = client.lookup(ip)
    assert answer.status == "not-applicable"
    assert (answer.asn, answer.prefix, answer.registry) == (None, None, None)
    assert server.query_count == 0


def test_not_an_address_is_a_value_error(client: CymruClient) -> None:
    with pytest.raises(ValueError):
        client.lookup("not-an-ip")


def test_a_silent_server_is_an_error_naming_the_timeout(server: DNSServer) -> None:
    server.set_silent(origin_name("8.8.4.4"))
    with CymruClient(settings(server, timeout=0.2)) as client:
        answer = client.lookup("8.8.4.4")
    assert answer.status == "error"
    assert "timeout" in (answer.detail or "")


def test_servfail_is_an_error(server: DNSServer, client: CymruClient) -> None:
    server.set_servfail(origin_name("8.8.4.4"))
    answer = client.lookup("8.8.4.4")
    assert answer.status == "error"
    assert answer.detail


def test_an_error_is_not_cached(server: DNSServer, client: CymruClient) -> None:
    server.set_servfail(origin_name("8.8.4.4"))
    assert client.lookup("8.8.4.4").status == "error"
    server.set_txt(origin_name("8.8.4.4"), "15169 | 8.8.4.0/24 | US | arin | 1992-12-01")
    server.set_txt("AS15169.asn.cymru.com", "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US")
    assert client.lookup("8.8.4.4").prefix == "8.8.4.0/24"


def test_without_an_as_name_the_answer_is_still_ok(server: DNSServer, client: CymruClient) -> None:
    server.set_txt(origin_name("8.8.8.8"), "15169 | 8.8.8.0/24 | US | arin | 1992-12-01")
    server.remove("AS15169.asn.cymru.com")
    answer = client.lookup("8.8.8.8")
    assert (answer.status, answer.asn, answer.as_org, answer.prefix) == ("ok", 15169, None, "8.8.8.0/24")


def test_the_most_specific_of_several_origins_wins(server: DNSServer, client: CymruClient) -> None:
    server.set_txt(
        origin_name("8.8.8.8"),
        ["3356 | 8.0.0.0/9 | US | arin | 1992-12-01", "15169 | 8.8.8.0/24 | US | arin | 1992-12-01"],
    )
    answer = client.lookup("8.8.8.8")
    assert (answer.asn, answer.prefix, answer.as_org) == (15169, "8.8.8.0/24", "GOOGLE - Google LLC, US")


def test_a_prefix_announced_by_several_ases_gives_the_first(server: DNSServer, client: CymruClient) -> None:
    server.set_txt(origin_name("8.8.8.8"), "15169 36040 | 8.8.8.0/24 | US | arin | 1992-12-01")
    answer = client.lookup("8.8.8.8")
    assert (answer.status, answer.asn) == ("ok", 15169)


def test_an_as_name_in_utf8_is_not_escaped(server: DNSServer, client: CymruClient) -> None:
    server.set_txt(origin_name("80.58.61.250"), "3352 | 80.58.0.0/16 | ES | ripencc | 2001-06-22")
    server.set_txt("AS3352.asn.cymru.com", "3352 | ES | ripencc | 1994-11-23 | TELEFÓNICA DE ESPAÑA, ES")
    assert client.lookup("80.58.61.250").as_org == "TELEFÓNICA DE ESPAÑA, ES"


def test_an_address_in_a_known_prefix_asks_no_server(server: DNSServer, client: CymruClient) -> None:
    first = client.lookup("74.125.225.229")
    server.reset_log()
    second = client.lookup("74.125.225.1")
    assert second == first
    assert second.prefix == "74.125.225.0/24"
    assert server.query_count == 0
    client.lookup("74.125.224.1")  # outside the /24: asks
    assert server.query_count == 1  # the AS name is known by now


def test_a_not_found_address_is_asked_once_per_client(server: DNSServer, client: CymruClient) -> None:
    client.lookup("8.8.4.4")
    client.lookup("8.8.4.4")
    assert server.query_count == 1


def test_the_store_remembers_prefixes_across_clients(server: DNSServer, db) -> None:
    with CymruClient(settings(server)) as client:
        through_store(client, db, "74.125.225.229", "2001:4860:4860::8888")
    rows = list(db["asn_prefixes"].rows)
    assert {r["prefix"] for r in rows} == {"74.125.225.0/24", "2001:4860::/32"}
    google4 = next(r for r in rows if r["prefix"] == "74.125.225.0/24")
    assert google4["start_hex"] == address_hex("74.125.225.0") == "00000000000000000000ffff4a7de100"
    assert google4["end_hex"] == address_hex("74.125.225.255")
    assert (google4["asn"], google4["as_org"], google4["registry"], google4["registry_country"]) == (
        15169, "GOOGLE - Google LLC, US", "arin", "US",
    )
    server.reset_log()
    with CymruClient(settings(server)) as again:
        answer, answer6 = through_store(again, db, "74.125.225.7", "2001:4860::1")
    assert server.query_count == 0
    assert (answer.status, answer.asn, answer.prefix, answer.as_org) == (
        "ok", 15169, "74.125.225.0/24", "GOOGLE - Google LLC, US",
    )
    assert (answer6.asn, answer6.prefix, answer6.registry) == (15169, "2001:4860::/32", "arin")


def test_a_stale_prefix_is_asked_again(server: DNSServer, db) -> None:
    with CymruClient(settings(server)) as client:
        through_store(client, db, "74.125.225.229")
    db.execute("UPDATE asn_prefixes SET fetched_at = '2000-01-01T00:00:00Z'")
    db.conn.commit()
    server.reset_log()
    with CymruClient(settings(server)) as client:
        assert through_store(client, db, "74.125.225.229")[0].status == "ok"
    assert server.query_count == 2
    (fetched_at,) = db.execute("SELECT fetched_at FROM asn_prefixes").fetchone()
    assert fetched_at > "2000-01-01T00:00:00Z"
    server.reset_log()
    with CymruClient(settings(server), max_age_days=0) as client:
        through_store(client, db, "74.125.225.229")
        client.lookup("74.125.225.229")
    # max_age_days=0: no prefix is fresh, not even in memory: the origin is asked twice (the AS
    # name, which no cache age applies to, once)
    assert server.queries.count((origin_name("74.125.225.229"), "TXT")) == 2 and server.query_count == 3


def test_many_lookups_at_once_share_the_cache_and_the_store(server: DNSServer, db) -> None:
    ips = [f"74.125.225.{n}" for n in range(1, 40)] + sorted(ASN_DATA)
    for ip in ips:  # Cymru answers for every address of the prefix
        server.set_txt(origin_name(ip), origin_txt(ASN_DATA["74.125.225.229"]))
    publish(server)
    with CymruClient(settings(server)) as client:
        answers = through_store(client, db, *ips)
    assert all(answer.status == "ok" for answer in answers)
    assert {answer.asn for answer in answers} == {int(data["asn"]) for data in ASN_DATA.values()}
    assert db["asn_prefixes"].count == len(ASN_DATA)
    server.reset_log()
    with CymruClient(settings(server)) as client:
        assert through_store(client, db, *ips) == answers
    assert server.query_count == 0


def test_addresses_of_one_block_asked_at_once_are_asked_once(server: DNSServer) -> None:
    ips = [f"74.125.225.{n}" for n in range(1, 17)]
    for ip in ips:  # Cymru answers for every address of the prefix
        server.set_txt(origin_name(ip), origin_txt(ASN_DATA["74.125.225.229"]))
    with CymruClient(settings(server)) as client:
        answers = list(client.lookup_many(ips).answers.values())
    assert {(a.status, a.prefix) for a in answers} == {("ok", "74.125.225.0/24")}
    origin_questions = [name for name, _ in server.queries if name.endswith(".origin.asn.cymru.com")]
    assert len(origin_questions) == 1
    assert server.query_count == 2  # and the AS name once


def test_an_as_name_is_asked_once_for_prefixes_asked_at_once(server: DNSServer) -> None:
    ips = [f"8.{n}.0.1" for n in range(8)]  # eight /24 blocks, one AS
    for n, ip in enumerate(ips):
        server.set_txt(origin_name(ip), f"15169 | 8.{n}.0.0/24 | US | arin | 1992-12-01")
    server.set_txt("AS15169.asn.cymru.com", "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US")
    with CymruClient(settings(server)) as client:
        answers = client.lookup_many(ips).answers
    assert {a.as_org for a in answers.values()} == {"GOOGLE - Google LLC, US"}
    assert server.queries.count(("as15169.asn.cymru.com", "TXT")) == 1


def test_the_most_specific_cached_prefix_answers(server: DNSServer, client: CymruClient) -> None:
    server.set_txt(origin_name("8.8.8.8"), "15169 | 8.8.8.0/24 | US | arin | 1992-12-01")
    server.set_txt(origin_name("8.9.1.1"), "3356 | 8.0.0.0/9 | US | arin | 1992-12-01")
    server.set_txt("AS3356.asn.cymru.com", "3356 | US | arin | 2000-03-28 | LEVEL3, US")
    assert client.lookup("8.8.8.8").prefix == "8.8.8.0/24"
    assert client.lookup("8.9.1.1").prefix == "8.0.0.0/9"  # outside the /24: asked
    server.reset_log()
    assert (client.lookup("8.8.8.200").asn, client.lookup("8.8.9.1").asn) == (15169, 3356)
    assert client.lookup("8.127.0.1").prefix == "8.0.0.0/9"
    assert server.query_count == 0
    client.lookup("8.128.0.1")  # outside both
    assert server.query_count == 1


def test_nothing_reads_resolv_conf(server: DNSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without nameservers in /etc/resolv.conf: ipwhois's Net() would fail there."""

    def no_resolv_conf(self, *args, **kwargs):
        raise dns.resolver.NoResolverConfiguration("no nameservers in /etc/resolv.conf")

    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", no_resolv_conf)
    with pytest.raises(dns.resolver.NoResolverConfiguration):
        dns.resolver.Resolver()  # the patch bites
    with CymruClient(settings(server)) as client:
        answer = client.lookup("74.125.225.229")
        assert client.lookup("10.0.0.1").status == "not-applicable"
    assert (answer.status, answer.asn) == ("ok", 15169)


def test_no_nameserver_at_all_is_an_error_that_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_resolv_conf(self, *args, **kwargs):
        raise dns.resolver.NoResolverConfiguration("no nameservers in /etc/resolv.conf")

    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", no_resolv_conf)
    with CymruClient(DNS(nameservers=())) as client:
        answer = client.lookup("74.125.225.229")
    assert answer.status == "error"
    assert "dns.nameservers" in (answer.detail or "")
