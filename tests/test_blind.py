"""When a crawl could not see, judged on its own: tables of what a crawl saw and the verdict.

The end-to-end side (a real crawl of a simulated world whose resolver or web servers are down) is
in test_crawl_blind.py."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.config import Crawl
from monitor.crawl.blind import (
    by_network,
    dark,
    dns_blind,
    dns_verdict,
    http_blind,
    http_verdict,
    network_of,
)
from monitor.resolve.dns import DnsAnswer
from monitor.resolve.enrich import IpInfo
from monitor.resolve.rdap import RdapAnswer
from monitor.resolve.rdapparse import RdapNetwork


@pytest.mark.parametrize("canaries, statuses, share, says", [
    ({}, [], 0.5, None),
    ({}, ["ok", "ok", "nxdomain", "no-answer"], 0.5, None),  # gone is evidence, not blindness
    ({}, ["ok", "timeout"], 0.5, None),  # half is not over half
    ({}, ["ok", "timeout", "servfail"], 0.5, "2 of 3 hosts could not be looked up"),
    ({}, ["timeout", "refused", "error", "ok"], 0.8, None),
    ({}, ["timeout"] * 9 + ["ok"], 0.8, "9 of 10 hosts could not be looked up"),
    ({"canary.example": "ok"}, ["ok"], 0.5, None),
    ({"canary.example": "nxdomain"}, ["ok"], 0.5, "canary canary.example (nxdomain) did not resolve"),
    ({"a.example": "ok", "b.example": "timeout"}, [], 0.5, "canary b.example (timeout) did not resolve"),
    # A canary says so first, whatever the hosts did.
    ({"c.example": "servfail"}, ["timeout"] * 3, 0.5, "canary c.example (servfail)"),
])
def test_dns_verdict(canaries, statuses, share, says):
    verdict = dns_verdict(canaries, statuses, share=share)
    if says is None:
        assert verdict is None
    else:
        assert verdict is not None and says in verdict


@pytest.mark.parametrize("outcomes, expected", [
    ({}, None),
    ({"unreachable": 2}, None),  # too few to tell
    ({"unreachable": 2, "unresolved": 5, "unknown": 5, "refused-private": 3}, None),  # no request for those
    ({"unreachable": 3}, True),
    ({"unreachable": 2, "online": 1}, False),
    ({"unreachable": 2, "removed": 1}, False),  # a 404 is an answer: the network is up
    ({"unreachable": 2, "http-error": 1}, False),
    ({"unreachable": 9, "online": 1}, True),  # nearly every one
    ({"unreachable": 8, "online": 2}, False),
    ({"unreachable": 3, "unresolved": 10}, True),  # judged on the URLs revisited over HTTP
    ({"online": 3}, False),
    ({"removed": 2, "redirect-loop": 1, "too-many-redirects": 1}, False),
])
def test_a_network_is_dark_when_every_or_nearly_every_request_said_nothing(outcomes, expected):
    assert dark(outcomes) is expected


UP = {"online": 5}
DOWN = {"unreachable": 5}
FEW = {"unreachable": 2}  # too few URLs: not judged


@pytest.mark.parametrize("networks, share, min_networks, degraded", [
    ({}, 0.5, 3, False),
    ({"AS1": DOWN, "AS2": DOWN}, 0.5, 3, False),  # two networks judged: too few for the rule
    ({"AS1": DOWN, "AS2": DOWN, "AS3": FEW, "AS4": FEW}, 0.5, 3, False),  # small ones are not judged
    ({"AS1": DOWN, "AS2": DOWN, "AS3": DOWN}, 0.5, 3, True),
    ({"AS1": DOWN, "AS2": DOWN}, 0.5, 2, True),
    # One big hoster's network down, however many URLs it holds, is not our fault.
    ({"AS1": {"unreachable": 5000}, "AS2": UP, "AS3": UP, "AS4": UP}, 0.5, 3, False),
    ({"AS1": DOWN, "AS2": DOWN, "AS3": UP, "AS4": UP}, 0.5, 3, False),  # half is not over half
    ({"AS1": DOWN, "AS2": DOWN, "AS3": DOWN, "AS4": UP}, 0.5, 3, True),
    ({"AS1": DOWN, "AS2": DOWN, "AS3": DOWN, "AS4": UP}, 0.8, 3, False),
    ({f"AS{n}": DOWN for n in range(9)} | {"AS9": UP}, 0.8, 3, True),
    # Removed URLs (404) and HTTP errors are answers: a night of 404s is no fault.
    ({"AS1": {"removed": 5}, "AS2": {"http-error": 5}, "AS3": {"removed": 3}}, 0.5, 3, False),
    # Nearly every URL unreachable in each of them.
    ({"AS1": {"unreachable": 19, "online": 1}, "AS2": {"unreachable": 10}, "AS3": {"unreachable": 9, "online": 1}},
     0.5, 3, True),
])
def test_http_verdict_counts_dark_networks_not_urls(networks, share, min_networks, degraded):
    verdict = http_verdict(networks, share=share, min_networks=min_networks)
    assert (verdict is not None) is degraded, verdict


def test_the_http_verdict_says_why_in_one_line():
    networks = {"AS1": DOWN, "AS2": DOWN, "AS3": DOWN, "AS4": DOWN, "AS5": DOWN, "AS6": UP}
    verdict = http_verdict(networks, share=0.5, min_networks=3)
    assert verdict == ("in 5 of 6 networks (AS1, AS2, AS3 and 2 more) the URLs revisited over HTTP were "
                       "unreachable (timeouts, refused connections or network errors; over "
                       "crawl.degraded_networks 0.5): our network is likelier down than that many hosters at once")
    assert "\n" not in verdict


def rdap(cidr: str | None, handle: str | None = None) -> RdapAnswer:
    return RdapAnswer(RdapNetwork("ripencc", handle, "NET", cidr, None, None, "NL"), "ok")


INFOS = {
    "192.0.2.1": IpInfo("192.0.2.1", "NL", 64501, "Polder Hosting B.V.", prefix="192.0.2.0/24"),
    "192.0.2.2": IpInfo("192.0.2.2", "NL", 64501, "Polder Hosting B.V."),
    "198.51.100.7": IpInfo("198.51.100.7", "DE", 64511, "Rhein Server GmbH"),
    "203.0.113.9": IpInfo("203.0.113.9", "MD", prefix="203.0.112.0/23"),  # no ASN: its BGP prefix
    "203.0.113.10": IpInfo("203.0.113.10", "MD", rdap=rdap("203.0.113.0/25")),  # no ASN, no prefix: RDAP
    "203.0.113.11": IpInfo("203.0.113.11", "MD", rdap=rdap(None, "NET-HANDLE-1")),
    "203.0.113.200": IpInfo("203.0.113.200"),  # enriched, nothing known: its /24
}


@pytest.mark.parametrize("ips, network", [
    ((), None),
    (("192.0.2.1",), "AS64501"),
    (("192.0.2.1", "192.0.2.2"), "AS64501"),  # one network, two addresses
    (("192.0.2.1", "198.51.100.7"), "AS64501+AS64511"),  # a host on two networks
    (("198.51.100.7", "192.0.2.1"), "AS64501+AS64511"),  # in any order
    (("203.0.113.9",), "203.0.112.0/23"),
    (("203.0.113.10",), "203.0.113.0/25"),
    (("203.0.113.11",), "NET-HANDLE-1"),
    (("203.0.113.200",), "203.0.113.0/24"),
    (("198.18.7.7",), "198.18.7.0/24"),  # not enriched at all
    (("2001:db8:1:2::1",), "2001:db8:1::/48"),
])
def test_network_of_a_host_is_its_asn_else_prefix_else_registry_network_else_block(ips, network):
    assert network_of(ips, INFOS) == network


def test_outcomes_are_grouped_by_the_network_of_each_host():
    counts = [("a.test", "online", 3), ("a.test", "unreachable", 1), ("b.test", "unreachable", 2),
              ("c.test", "removed", 4), ("gone.test", "unresolved", 5), ("late.test", "unresolved", 1)]
    ips_of = {"a.test": ("192.0.2.1",), "b.test": ("192.0.2.2",), "c.test": ("198.51.100.7",), "gone.test": ()}
    assert by_network(counts, ips_of, INFOS) == {
        "AS64501": Counter(online=3, unreachable=3),
        "AS64511": Counter(removed=4),
    }


def answer(host: str, *ips: str, status: str = "ok") -> DnsAnswer:
    return DnsAnswer(host, status, (), tuple(ips))


def test_the_coordinators_calls_take_the_configs_thresholds():
    answers = {"a.test": answer("a.test", "192.0.2.1"), "b.test": answer("b.test", "198.51.100.7"),
               "c.test": answer("c.test", "203.0.113.9"), "d.test": answer("d.test", status="timeout")}
    assert dns_blind(Crawl(), answers, {}) is None
    assert "1 of 4 hosts" in dns_blind(Crawl(degraded_share=0.2), answers, {})
    canary = {"x.example": answer("x.example", status="timeout")}
    assert "canary x.example (timeout)" in dns_blind(Crawl(), answers, canary)
    counts = [("a.test", "unreachable", 3), ("b.test", "unreachable", 3), ("c.test", "online", 3)]
    assert "in 2 of 3 networks (AS64501, AS64511)" in http_blind(Crawl(), counts, answers, INFOS)
    assert http_blind(Crawl(degraded_networks=0.7), counts, answers, INFOS) is None
    assert http_blind(Crawl(degraded_min_networks=4), counts, answers, INFOS) is None
