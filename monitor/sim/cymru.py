"""Team Cymru's IP-to-ASN DNS zone, served by the simulated DNS server.

Records in Cymru's own TXT formats, so the real client code (ipwhois's zone names and parsers)
runs unchanged against loopback:
    <reversed IPv4>.origin.asn.cymru.com   "15169 | 8.8.8.0/24 | US | arin | 1992-12-01"
    <reversed nibbles>.origin6.asn.cymru.com  (IPv6, the same format)
    AS15169.asn.cymru.com                  "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US"

An address is published under the very name the client asks (``monitor.resolve.cymru.cymru_zone``,
ipwhois's naming: an IPv6 address's trailing all-zero groups are left out).
"""

from __future__ import annotations

from ..resolve.cymru import cymru_zone
from .dns import DNSServer


def origin_name(ip: str) -> str:
    """The origin question for ``ip``, without the trailing dot."""
    return cymru_zone(ip).rstrip(".")


def publish_origin(
    server: DNSServer, ip: str, *, asn: int, prefix: str, country: str, registry: str, as_name: str,
    allocated: str = "2000-01-01",
) -> None:
    """Answer Cymru's origin question for ip, and the AS description question for asn."""
    server.set_txt(origin_name(ip), f"{asn} | {prefix} | {country} | {registry} | {allocated}")
    server.set_txt(f"AS{asn}.asn.cymru.com", f"{asn} | {country} | {registry} | {allocated} | {as_name}")
