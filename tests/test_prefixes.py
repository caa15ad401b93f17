"""monitor/resolve/prefixes.py: one longest-prefix index (py-radix) for the Cymru and RDAP caches."""

from __future__ import annotations

from ipaddress import ip_address as ip

import pytest

from monitor.resolve.prefixes import PrefixIndex


def test_the_narrowest_of_nested_prefixes_and_ranges_answers() -> None:
    index = PrefixIndex()
    index.add_prefix("74.0.0.0/8", "WIDE", "2026-01-01T00:00:00Z")
    index.add_prefix("74.125.0.0/16", "MID", "2026-01-01T00:00:00Z")
    index.add_range(ip("74.125.10.3"), ip("74.125.10.9"), "ODD", "2026-01-01T00:00:00Z")  # no single prefix
    index.add_prefix("2001:db8::/32", "V6", "2026-01-01T00:00:00Z")
    found = {a: index.narrowest(ip(a)) for a in (
        "74.125.10.3", "74.125.10.9", "74.125.10.2", "74.125.10.10", "74.1.1.1", "75.0.0.1", "2001:db8::1", "::1")}
    assert found == {"74.125.10.3": "ODD", "74.125.10.9": "ODD", "74.125.10.2": "MID", "74.125.10.10": "MID",
                     "74.1.1.1": "WIDE", "75.0.0.1": None, "2001:db8::1": "V6", "::1": None}
    assert len(index) == 4


def test_ranges_sharing_a_prefix_the_narrower_wins_then_the_newer() -> None:
    index = PrefixIndex()
    # 10.0.0.0-10.0.0.255 and 10.0.0.0-10.0.1.127 both hold the prefix 10.0.0.0/24.
    index.add_range(ip("10.0.0.0"), ip("10.0.1.127"), "WIDER", "2026-01-01T00:00:00Z")
    index.add_range(ip("10.0.0.0"), ip("10.0.0.255"), "NARROW", "2025-01-01T00:00:00Z")
    index.add_range(ip("10.0.0.0"), ip("10.0.1.127"), "WIDER-AGAIN", "2027-01-01T00:00:00Z")
    assert index.narrowest(ip("10.0.0.7")) == "NARROW"  # narrower, though older
    assert index.narrowest(ip("10.0.1.7")) == "WIDER-AGAIN"  # the same range again: the newer
    index.add_prefix("10.0.0.0/24", "NEWER", "2026-06-01T00:00:00Z")
    index.add_prefix("10.0.0.0/24", "OLDER", "2026-05-01T00:00:00Z")
    assert index.narrowest(ip("10.0.0.7")) == "NEWER"


def test_not_a_range_is_a_value_error() -> None:
    index = PrefixIndex()
    with pytest.raises(ValueError):
        index.add_range(ip("10.0.0.9"), ip("10.0.0.1"), "BACKWARDS", "2026-01-01T00:00:00Z")
    with pytest.raises(ValueError):
        index.add_range(ip("10.0.0.1"), ip("::1"), "MIXED", "2026-01-01T00:00:00Z")
    with pytest.raises(ValueError):
        index.add_prefix("not a prefix", "X", "2026-01-01T00:00:00Z")
