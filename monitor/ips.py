"""IP address helpers shared by resolution, enrichment, the crawl and the store.

    ip_literal("[2001:DB8::1]")  -> "2001:db8::1"     (a host that is an IP address, else None)
    is_private("10.1.2.3")       -> True              (never connect there unless allowed)
    not_routed(address)          -> "... private ..."  (why no registry or BGP table has it)
    address_hex("192.0.2.1")     -> "...ffffc0000201" (the store's sortable range columns)
    block_key(address)           -> (4, 0xc00002)     (its /24 or /48: one BGP origin prefix)
"""

from __future__ import annotations

import ipaddress
from typing import TypeAlias

from ipwhois.utils import ipv4_is_defined, ipv6_is_defined

__all__ = [
    "Address",
    "address_hex",
    "as_address",
    "block_key",
    "ip_literal",
    "is_private",
    "not_routed",
]

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


def as_address(ip: str | Address) -> Address:
    """``ip`` as an address object; ValueError for text that is not an IP address."""
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ip
    return ipaddress.ip_address(ip)


def ip_literal(host: str) -> str | None:
    """The canonical text of ``host`` if it is an IP address (brackets allowed), else None."""
    if not host or (":" not in host and not host[-1].isdigit()):
        return None  # the common case (a name), without the cost of an exception
    try:
        return str(ipaddress.ip_address(host.removeprefix("[").removesuffix("]")))
    except ValueError:
        return None


def is_private(ip: str | Address) -> bool:
    """True for any address that is not on the public internet: loopback, private (RFC 1918,
    ULA), link-local, multicast, reserved, unspecified, shared (CGN), documentation... An
    IPv4-mapped IPv6 address is judged by the IPv4 address it maps."""
    address = as_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (not address.is_global or address.is_private or address.is_loopback
            or address.is_link_local or address.is_multicast or address.is_reserved
            or address.is_unspecified)


def not_routed(ip: str | Address) -> str | None:
    """Why no registry or BGP table holds ``ip`` (private, reserved, shared...), or None.

    ipwhois's list of defined ranges first, so that the reason reads as ipwhois's own
    ``IPDefinedError`` does; then ``ipaddress``, which also knows ranges ipwhois's list misses
    (e.g. the shared address space 100.64.0.0/10 of carrier-grade NAT).
    """
    address = as_address(ip)
    text = str(address)
    defined = (ipv4_is_defined if address.version == 4 else ipv6_is_defined)(text)
    if defined[0]:
        return f"IPv{address.version} address {text} is already defined as {defined[1]} via {defined[2]}."
    if not address.is_global:
        return f"{text} is not a globally routed address"
    return None


def address_hex(ip: str | Address) -> str:
    """The address as the store's *_hex columns hold it: 32 lower-case hex digits, IPv4 mapped
    into IPv6 (::ffff:a.b.c.d), so that text comparison orders addresses."""
    address = as_address(ip)
    if address.version == 4:
        return format(0xFFFF_0000_0000 | int(address), "032x")
    return format(int(address), "032x")


def block_key(address: Address) -> tuple[int, int]:
    """The /24 (IPv4) or /48 (IPv6) block of ``address``: the longest prefixes announced in BGP,
    so every address of one block has the same origin prefix (and, mostly, RDAP network)."""
    if address.version == 4:
        return 4, int(address) >> 8
    return 6, int(address) >> 80
