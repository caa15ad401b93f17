"""monitor/ips.py: the IP helpers shared by resolution, enrichment, the crawl and the store."""

from __future__ import annotations

import ipaddress

import pytest

from monitor.crawl.resolver import is_private as crawl_is_private
from monitor.ips import address_hex, block_key, ip_literal, is_private, not_routed

ADDRESSES = [
    "8.8.8.8", "1.1.1.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "100.64.0.1", "169.254.1.1",
    "224.0.0.1", "240.0.0.1", "0.0.0.0", "255.255.255.255", "192.0.2.1", "198.51.100.7", "203.0.113.9",
    "192.0.0.8", "2001:4860:4860::8888", "::1", "::", "fe80::1", "fc00::1", "ff02::1", "2001:db8::1",
    "::ffff:10.0.0.1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002::1", "100::1",
]


@pytest.mark.parametrize("ip", ADDRESSES)
def test_is_private_is_the_crawls(ip: str) -> None:
    # The crawl's copy (monitor/crawl/resolver.py) moves here at the merge: same answers.
    assert is_private(ip) == crawl_is_private(ip)


def test_is_private_judges_a_mapped_address_by_what_it_maps() -> None:
    assert is_private("::ffff:10.0.0.1") and not is_private("::ffff:8.8.8.8")
    assert [ip for ip in ("8.8.8.8", "100.64.0.1", "192.0.2.1") if is_private(ip)] == ["100.64.0.1", "192.0.2.1"]


def test_ip_literal() -> None:
    assert ip_literal("[2001:DB8::1]") == "2001:db8::1"
    assert ip_literal("192.0.2.01") is None  # leading zeros are not an address (nor a name we resolve as one)
    assert [ip_literal(host) for host in ("192.0.2.1", "example.com", "1.2.3", "", "a:b")] == [
        "192.0.2.1", None, None, None, None,
    ]


def test_not_routed_says_why() -> None:
    assert not_routed("8.8.8.8") is None
    assert "Private-Use" in (not_routed("10.0.0.1") or "")
    assert not_routed("100.64.0.1") == "100.64.0.1 is not a globally routed address"  # missing from ipwhois's list
    assert "Loopback" in (not_routed(ipaddress.ip_address("::1")) or "")


def test_address_hex_orders_addresses_as_text() -> None:
    ips = ["2001:db8::1", "10.0.0.1", "9.255.255.255", "::1", "255.255.255.255", "::ffff:0.0.0.1"]
    by_text = sorted(ips, key=address_hex)
    by_number = sorted(ips, key=lambda ip: int(ipaddress.ip_address(ip)) | (0xFFFF << 32 if "." in ip else 0))
    assert by_text == by_number
    assert address_hex("192.0.2.1") == "00000000000000000000ffffc0000201"
    assert address_hex("::ffff:192.0.2.1") == address_hex("192.0.2.1")  # one key for one address


def test_block_key_is_the_24_or_48() -> None:
    a, b, c = (ipaddress.ip_address(ip) for ip in ("192.0.2.1", "192.0.2.254", "192.0.3.1"))
    assert block_key(a) == block_key(b) != block_key(c)
    assert block_key(ipaddress.ip_address("2001:db8:1:2::1")) == block_key(ipaddress.ip_address("2001:db8:1:ffff::1"))
    assert block_key(ipaddress.ip_address("2001:db8:1::")) != block_key(ipaddress.ip_address("2001:db8:2::"))
