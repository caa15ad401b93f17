"""When a crawl could not see, judged on its own: tables of what a crawl saw and the verdict.

The end-to-end side (a real crawl of a simulated world whose resolver is down) is in
test_crawl_blind.py."""

from __future__ import annotations

import pytest

from monitor.config import Crawl
from monitor.crawl.blind import dns_blind, dns_verdict
from monitor.resolve.dns import DnsAnswer


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


def answer(host: str, *ips: str, status: str = "ok") -> DnsAnswer:
    return DnsAnswer(host, status, (), tuple(ips))


def test_the_coordinators_call_takes_the_configs_threshold():
    answers = {"a.test": answer("a.test", "192.0.2.1"), "b.test": answer("b.test", "198.51.100.7"),
               "c.test": answer("c.test", "203.0.113.9"), "d.test": answer("d.test", status="timeout")}
    assert dns_blind(Crawl(), answers, {}) is None
    assert "1 of 4 hosts" in dns_blind(Crawl(degraded_share=0.2), answers, {})
    canary = {"x.example": answer("x.example", status="timeout")}
    assert "canary x.example (timeout)" in dns_blind(Crawl(), answers, canary)
