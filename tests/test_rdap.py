"""The RDAP client against the simulated RDAP server on 127.0.0.1, serving real recorded answers.

Expected values are read from the raw recorded JSON at test time, not typed in by hand. Waits
(rate limits, Retry-After) run on a fake clock: what is checked is how long the client chose to
wait, never how long a test took. The client is pure; where the store's cache is the point, rows
go through monitor.store.caches as the enricher moves them.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.config import RDAP
from monitor.resolve.ratelimit import RateLimiter
from monitor.resolve.rdap import RdapAnswer, RdapClient, RdapNetwork
from monitor.sim.rdap import RDAPServer, load_recorded
from monitor.store import caches

RECORDING = Path(__file__).parent / "data" / "ipwhois" / "rdap.json"
RECORDED = load_recorded(RECORDING)
ASN_DATA = {ip: entry["asn_data"] for ip, entry in json.loads(RECORDING.read_text()).items()}
REGISTRIES = ("arin", "ripencc", "apnic", "lacnic", "afrinic")
FAST = {registry: 60_000.0 for registry in REGISTRIES}  # no noticeable rate limit


@pytest.fixture
def server() -> Iterator[RDAPServer]:
    with RDAPServer(RECORDED) as running:
        yield running


def settings(server: RDAPServer, **changes: Any) -> RDAP:
    values: dict[str, Any] = {
        "servers": {registry: server.base_url for registry in REGISTRIES},
        "rate_limits": dict(FAST),
        "timeout": 5.0,
    }
    values.update(changes)
    return RDAP(**values)


@pytest.fixture
def client(server: RDAPServer) -> Iterator[RdapClient]:
    with RdapClient(settings(server)) as running:
        yield running


class FakeClock:
    """A monotonic clock that only sleeping moves; ``sleeps`` lists the waits asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def through_store(client: RdapClient, db, *requests: tuple[str, str | None]) -> list[RdapAnswer]:
    """As the enricher does it: cached rows in, answers out, new rows saved."""
    client.remember(caches.load_networks(db, client.missing(ip for ip, _ in requests), client.config.cache_days))
    results = client.lookup_many(requests)
    caches.save(db, networks=results.rows)
    return [results.answers[ip] for ip, _ in requests]


def raw_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as registries write them: ARIN pads IPv4 octets, RIPE adds "/32"."""
    text = text.split("/")[0].strip()
    if ":" not in text:
        text = ".".join(str(int(octet)) for octet in text.split("."))
    return ipaddress.ip_address(text)


def expected_network(raw: dict[str, Any]) -> dict[str, Any]:
    start, end = raw_address(raw["startAddress"]), raw_address(raw["endAddress"])
    if raw.get("cidr0_cidrs"):
        cidrs = [
            f"{c.get('v4prefix') or c.get('v6prefix')}/{c['length']}" for c in raw["cidr0_cidrs"]
        ]
    else:
        cidrs = [str(n) for n in ipaddress.summarize_address_range(start, end)]
    return {
        "handle": raw["handle"].strip(),
        "name": raw["name"].strip(),
        "country": raw["country"].strip().upper() if raw.get("country") else None,
        "cidr": ", ".join(cidrs),
        "start_address": str(start),
        "end_address": str(end),
    }


def fields(network: RdapNetwork | None) -> dict[str, Any]:
    assert network is not None
    return {key: getattr(network, key) for key in ("handle", "name", "country", "cidr", "start_address", "end_address")}


def other_address_in(raw: dict[str, Any], ip: str) -> str:
    """Another address of the same network."""
    start, end = raw_address(raw["startAddress"]), raw_address(raw["endAddress"])
    candidate = start + 1 if str(start + 1) != ip else start + 2
    assert start <= candidate <= end
    return str(candidate)


def test_every_recorded_network(server: RDAPServer) -> None:
    for ip in sorted(RECORDED):
        registry = ASN_DATA[ip]["asn_registry"]
        server.reset_log()
        with RdapClient(settings(server)) as client:
            answer = client.lookup(ip, registry)
        assert answer.status == "ok", (ip, answer.detail)
        assert fields(answer.network) == expected_network(RECORDED[ip]), ip
        assert answer.network is not None and answer.network.registry == registry
        assert server.requests == [f"/ip/{ip}"]


def test_without_a_registry_arin_is_asked_and_the_network_names_its_registry(server: RDAPServer) -> None:
    only_arin = {"arin": server.base_url}
    with RdapClient(settings(server, servers=only_arin)) as client:
        results = client.lookup_many([(ip, None) for ip in sorted(RECORDED)])
    for ip in sorted(RECORDED):
        answer = results.answers[ip]
        assert answer.status == "ok", ip
        assert answer.network is not None
        assert answer.network.registry == ASN_DATA[ip]["asn_registry"]  # from the network's port43
        assert fields(answer.network) == expected_network(RECORDED[ip])
    assert len(results.rows) == len(RECORDED)


def test_abuse_emails_of_a_root_abuse_entity(client: RdapClient) -> None:
    raw = RECORDED["62.239.237.1"]
    (abuse,) = [entity for entity in raw["entities"] if "abuse" in entity.get("roles", [])]
    assert abuse["handle"] == "BTCR3-RIPE"
    network = client.lookup("62.239.237.1", "ripencc").network
    assert network is not None
    assert network.abuse_emails == ("zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com")


def test_abuse_emails_of_an_abuse_entity_nested_in_the_registrant(client: RdapClient) -> None:
    # ARIN: the abuse contact sits inside the registrant organisation's entity.
    raw = RECORDED["74.125.225.229"]
    assert [entity["roles"] for entity in raw["entities"]] == [["registrant"]]
    network = client.lookup("74.125.225.229", "arin").network
    assert network is not None
    assert network.abuse_emails == ("arin-contact@google.com",)


def test_abuse_emails_once_each_and_none_without_an_abuse_role(client: RdapClient) -> None:
    network = client.lookup("2001:4860:4860::8888", "arin").network  # root and nested: same contact
    assert network is not None and network.abuse_emails == ("arin-contact@google.com",)
    network = client.lookup("210.107.73.73", "apnic").network  # the same address twice in the vCard
    assert network is not None and network.abuse_emails == ("hostmaster@nic.or.kr",)
    network = client.lookup("196.11.240.215", "afrinic").network  # entities without roles
    assert network is not None and network.abuse_emails == ()


def test_404_is_not_found(server: RDAPServer, client: RdapClient) -> None:
    answer = client.lookup("8.8.8.8", "arin")
    assert answer == RdapAnswer(None, "not-found", answer.detail)
    assert "404" in (answer.detail or "")
    client.lookup("8.8.8.8", "arin")
    assert server.request_count == 1  # asked once per client


def test_private_addresses_and_disabled_ask_nothing(server: RDAPServer, client: RdapClient) -> None:
    for ip in ("10.0.0.1", "127.0.0.1", "100.64.1.1", "fd00::1", "::1"):
        assert client.lookup(ip).status == "not-applicable"
    with RdapClient(settings(server, enabled=False)) as disabled:
        assert disabled.lookup("74.125.225.229").status == "disabled"
    assert server.request_count == 0


def test_an_unknown_registry_is_asked_of_arin(server: RDAPServer) -> None:
    with RdapClient(settings(server, servers={"arin": server.base_url})) as client:
        answer = client.lookup("62.239.237.1", "lacnic")
    assert answer.status == "ok"
    assert answer.network is not None and answer.network.registry == "ripencc"


def test_other_http_errors_and_refused_connections_are_errors(server: RDAPServer, client: RdapClient) -> None:
    server.fail_next(1, status=503)
    answer = client.lookup("74.125.225.229", "arin")
    assert answer.status == "error" and "503" in (answer.detail or "")
    assert client.lookup("74.125.225.229", "arin").status == "ok"  # errors are not cached
    port = server.port
    server.stop()
    with RdapClient(settings(server, servers={"arin": f"http://127.0.0.1:{port}"})) as gone:
        assert gone.lookup("62.239.237.1", "arin").status == "error"


def test_a_proxy_in_the_environment_is_not_used_for_loopback(
    server: RDAPServer, client: RdapClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with RdapClient(settings(server)) as fresh:
        assert fresh.lookup("74.125.225.229", "arin").status == "ok"


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_redirects_are_followed(server: RDAPServer) -> None:
    handler = type("Redirect", (_Redirect,), {"target": server.base_url})
    redirector = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=redirector.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        servers = {"arin": f"http://127.0.0.1:{redirector.server_address[1]}", "ripencc": server.base_url}
        with RdapClient(settings(server, servers=servers)) as client:
            answer = client.lookup("62.239.237.1")
    finally:
        redirector.shutdown()
        thread.join()
        redirector.server_close()
    assert answer.status == "ok"
    assert answer.network is not None and answer.network.registry == "ripencc"
    assert server.requests == ["/ip/62.239.237.1"]


def test_the_cache_within_a_client_and_across_clients(server: RDAPServer, db) -> None:
    raw = RECORDED["74.125.225.229"]
    neighbour = other_address_in(raw, "74.125.225.229")
    with RdapClient(settings(server)) as client:
        (first,) = through_store(client, db, ("74.125.225.229", "arin"))
        assert server.request_count == 1
        assert client.lookup("74.125.225.229", "arin") == first
        assert client.lookup(neighbour, "arin") == first
        assert server.request_count == 1
    rows = list(db["rdap_networks"].rows)
    assert len(rows) == 1
    assert rows[0]["handle"] == raw["handle"]
    assert json.loads(rows[0]["abuse_emails"]) == ["arin-contact@google.com"]
    assert rows[0]["start_hex"] == "00000000000000000000ffff4a7d0000"
    assert rows[0]["end_hex"] == "00000000000000000000ffff4a7dffff"
    with RdapClient(settings(server)) as again:
        assert through_store(again, db, ("74.125.3.4", "ripencc")) == [first]  # the range answers, whoever is named
        assert server.request_count == 1


def test_an_ipv6_network_is_cached_by_range(server: RDAPServer, db) -> None:
    with RdapClient(settings(server)) as client:
        (first,) = through_store(client, db, ("2001:4860:4860::8888", "arin"))
    with RdapClient(settings(server)) as again:
        assert through_store(again, db, ("2001:4860:ffff::1", "arin")) == [first]
    assert server.request_count == 1


def test_the_narrowest_cached_network_answers(server: RDAPServer, db) -> None:
    def name(client: RdapClient, ip: str) -> str | None:
        (answer,) = through_store(client, db, (ip, "arin"))
        return answer.network.name if answer.network else None

    with RdapClient(settings(server)) as client:
        assert name(client, "74.125.225.229") == "GOOGLE"
    # A wider network holding it, cached later (an IP outside the narrower one asked for it).
    wide = dict(RECORDED["74.125.225.229"], handle="NET-74-0-0-0-1", startAddress="74.0.0.0",
                endAddress="74.255.255.255", name="WIDE")
    with RDAPServer({"74.1.1.1": wide}) as other:
        with RdapClient(settings(other)) as client:
            assert name(client, "74.1.1.1") == "WIDE"
            assert name(client, "74.125.9.9") == "WIDE"  # memory: only WIDE
    with RdapClient(settings(server)) as client:
        assert name(client, "74.125.1.1") == "GOOGLE"
        assert name(client, "74.200.1.1") == "WIDE"
        assert name(client, "74.125.1.2") == "GOOGLE"  # memory: both now
    assert server.request_count == 1


def test_an_expired_entry_is_asked_again(server: RDAPServer, db) -> None:
    with RdapClient(settings(server)) as client:
        through_store(client, db, ("62.239.237.1", "ripencc"))
    with RdapClient(settings(server, cache_days=0)) as client:
        assert through_store(client, db, ("62.239.237.1", "ripencc"))[0].status == "ok"
    assert server.request_count == 2
    db.execute("UPDATE rdap_networks SET fetched_at = '2000-01-01T00:00:00Z'")
    db.conn.commit()
    with RdapClient(settings(server)) as client:
        assert through_store(client, db, ("62.239.237.1", "ripencc"))[0].status == "ok"
    assert server.request_count == 3
    # The same network seen again: its row is refreshed, not duplicated.
    rows = list(db["rdap_networks"].rows)
    assert len(rows) == 1 and rows[0]["fetched_at"] > "2000-01-01T00:00:00Z"


def test_a_changed_network_gets_a_new_row(server: RDAPServer, db) -> None:
    with RdapClient(settings(server)) as client:
        through_store(client, db, ("62.239.237.1", "ripencc"))
    db.execute("UPDATE rdap_networks SET fetched_at = '2000-01-01T00:00:00Z', name = 'OLD-NAME'")
    db.conn.commit()
    with RdapClient(settings(server)) as client:
        assert through_store(client, db, ("62.239.237.1", "ripencc"))[0].network.name == "BT-CORPORATE"
    assert sorted(row["name"] for row in db["rdap_networks"].rows) == ["BT-CORPORATE", "OLD-NAME"]


def test_429_with_retry_after_waits_and_retries(server: RDAPServer) -> None:
    server.fail_next(1, status=429, retry_after=1)
    clock = FakeClock()
    with RdapClient(settings(server), max_retry_wait=5.0, clock=clock, sleep=clock.sleep) as client:
        answer = client.lookup("74.125.225.229", "arin")
    assert answer.status == "ok"
    assert server.request_count == 2
    assert clock.sleeps == [1.0]  # as Retry-After said


def test_429_forever_is_rate_limited_after_the_retries(server: RDAPServer) -> None:
    server.fail_next(10, status=429, retry_after=30)
    clock = FakeClock()
    with RdapClient(settings(server), max_retry_wait=0.05, clock=clock, sleep=clock.sleep) as client:
        answer = client.lookup("74.125.225.229", "arin")
    assert answer.status == "rate-limited"
    assert answer.network is None
    assert server.request_count == 3  # the first try and two retries
    assert clock.sleeps == [0.05, 0.05]  # Retry-After capped at max_retry_wait


def test_429_without_retry_after_backs_off_too(server: RDAPServer) -> None:
    server.fail_next(2, status=429)
    clock = FakeClock()
    with RdapClient(settings(server), max_retry_wait=60.0, default_retry_wait=0.2, clock=clock,
                    sleep=clock.sleep) as client:
        assert client.lookup("74.125.225.229", "arin").status == "ok"
    assert clock.sleeps == [0.2, 0.4]  # the default wait, doubling


def test_a_429_pauses_every_request_to_that_registry(server: RDAPServer) -> None:
    server.fail_next(1, status=429, retry_after=3)
    clock = FakeClock()
    with RdapClient(settings(server), clock=clock, sleep=clock.sleep, threads=1) as client:
        answers = client.lookup_many([("74.125.225.229", "arin"), ("62.239.237.1", "arin")]).answers
    assert {a.status for a in answers.values()} == {"ok"}
    assert clock.sleeps == [3.0, 0.001]  # one pause for both addresses, then the usual spacing
    assert server.request_count == 3


def test_the_rate_limit_spaces_requests_to_a_registry(server: RDAPServer) -> None:
    limits = dict(FAST, arin=120.0)  # one every 0.5 s
    clock = FakeClock()
    with RdapClient(settings(server, rate_limits=limits), clock=clock, sleep=clock.sleep) as client:
        for ip in ("74.125.225.229", "62.239.237.1", "210.107.73.73"):
            assert client.lookup(ip, "arin").status == "ok"
        assert clock.sleeps == [0.5, 0.5]
        clock.sleeps.clear()
        answers = client.lookup_many([(ip, "arin") for ip in ("2001:4860:4860::8888", "196.11.240.215")]).answers
        assert {a.status for a in answers.values()} == {"ok"}
        assert clock.sleeps == [0.5, 0.5]  # in one call too: each waits its turn
    assert server.request_count == 5


def test_other_registries_do_not_wait_for_a_slow_one(server: RDAPServer) -> None:
    limits = dict(FAST, arin=1.0)  # one a minute
    clock = FakeClock()
    with RdapClient(settings(server, rate_limits=limits), clock=clock, sleep=clock.sleep) as client:
        results = client.lookup_many([("74.125.225.229", "arin"), ("2001:4860:4860::8888", "arin"),
                                      ("62.239.237.1", "ripencc"), ("210.107.73.73", "apnic")])
    assert {a.status for a in results.answers.values()} == {"ok"}
    assert clock.sleeps == [60.0]  # the second ARIN address only
    assert server.requests.index("/ip/2001:4860:4860::8888") == 3  # the others went first


def test_the_rate_limit_holds_across_threads() -> None:
    clock = FakeClock()
    waits: list[float] = []
    limiter = RateLimiter(600.0, clock=clock, sleep=waits.append)  # one every 0.1 s; the clock stands still
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda _: limiter.acquire(), range(5)))
    assert sorted(round(w, 6) for w in waits) == [0.1, 0.2, 0.3, 0.4]  # one slot each, in a row


def test_addresses_of_one_network_asked_at_once_are_fetched_once(server: RDAPServer) -> None:
    ips = [f"74.125.225.{n}" for n in range(1, 17)]  # all in Google's 74.125.0.0/16
    server.delay = 0.2  # the first fetch is still out when the others are looked at
    with RdapClient(settings(server)) as client:
        results = client.lookup_many([(ip, "arin") for ip in ips])
    assert {(a.status, a.network.handle if a.network else None) for a in results.answers.values()} == {
        ("ok", RECORDED["74.125.225.229"]["handle"])
    }
    assert server.request_count == 1
    assert len(results.rows) == 1


def test_a_network_fetched_while_waiting_for_the_rate_limit_is_not_fetched_again(server: RDAPServer) -> None:
    """Addresses of one network in different blocks: the second is looked up in memory again when
    its registry's turn comes, and found there."""
    clock = FakeClock()
    with RdapClient(settings(server, rate_limits=dict(FAST, arin=60.0)), clock=clock, sleep=clock.sleep) as client:
        results = client.lookup_many([("74.125.1.1", "arin"), ("74.125.200.1", "arin")])
    assert {ip: a.network.name for ip, a in results.answers.items()} == {"74.125.1.1": "GOOGLE", "74.125.200.1": "GOOGLE"}
    assert server.requests == ["/ip/74.125.1.1"]
    assert clock.sleeps == []  # nothing left to wait for


def test_many_networks_in_memory_the_narrowest_holding_the_address_answers(server: RDAPServer) -> None:
    # /24s inside a /16 inside a /8, and a range that is no prefix; in memory only.
    raw = RECORDED["74.125.225.229"]
    responses = {
        "74.0.0.0/8": dict(raw, handle="WIDE", name="WIDE", startAddress="74.0.0.0", endAddress="74.255.255.255"),
        "74.125.0.0/16": dict(raw, handle="MID", name="MID", startAddress="74.125.0.0", endAddress="74.125.255.255"),
        "74.125.7.0/24": dict(raw, handle="N7", name="N7", startAddress="74.125.7.0", endAddress="74.125.7.255"),
        "74.125.9.0/24": dict(raw, handle="N9", name="N9", startAddress="74.125.9.0", endAddress="74.125.9.255"),
        "74.125.10.0/24": dict(raw, handle="ODD", name="ODD", startAddress="74.125.10.3", endAddress="74.125.10.9"),
    }
    with RDAPServer(responses) as other, RdapClient(settings(other)) as client:
        for ip in ("74.125.7.1", "74.125.9.1", "74.125.10.5", "74.125.1.1", "74.1.1.1"):  # narrow first
            client.lookup(ip, "arin")
        assert other.request_count == 5
        expected = {
            "74.125.7.200": "N7", "74.125.9.0": "N9", "74.125.8.1": "MID", "74.125.10.2": "MID",
            "74.125.10.3": "ODD", "74.125.10.9": "ODD", "74.125.10.10": "MID", "74.126.0.0": "WIDE",
            "74.124.255.255": "WIDE", "74.0.0.1": "WIDE",
        }
        assert {ip: client.lookup(ip, "arin").network.name for ip in expected} == expected
        assert other.request_count == 5
        assert len(client._index) == 5
        client.lookup("74.125.7.9", "arin")  # seen again: still one entry per network
        assert len(client._index) == 5


def test_many_lookups_at_once_fill_the_store(server: RDAPServer, db) -> None:
    with RdapClient(settings(server)) as client:
        answers = through_store(client, db, *((ip, ASN_DATA[ip]["asn_registry"]) for ip in sorted(RECORDED)))
    assert [a.status for a in answers] == ["ok"] * len(RECORDED)
    assert db["rdap_networks"].count == len(RECORDED)
    server.reset_log()
    with RdapClient(settings(server)) as client:
        assert through_store(client, db, *((ip, None) for ip in sorted(RECORDED))) == answers
    assert server.request_count == 0
