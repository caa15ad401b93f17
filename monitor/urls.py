"""Reported URLs: validation, normalisation and hoster identity.

Two spellings of one URL must become one string, because the store deduplicates on it and every
later night revisits it. Only what the design names is normalised (scheme and host case, IDN to
punycode, default port, fragment, an empty path); path and query are kept byte for byte since a
server may treat them case-sensitively.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

import idna
import tldextract

MAX_URL_BYTES = 8192
DEFAULT_PORTS = {"http": 80, "https": 443}

# One DNS label: letters, digits, hyphen; underscore too, since real hosts use it.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")

# The snapshot bundled with tldextract, private section included (blogspot.com, github.io...);
# suffix_list_urls=() guarantees nothing is fetched at run time.
_PSL = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


class InvalidURL(ValueError):
    """The reason a reported URL is rejected; str() is the reason shown to the user."""


@dataclass(frozen=True, slots=True)
class ReportedURL:
    url: str  # normalised
    host: str  # lower-case, punycode; an IPv6 literal without brackets
    hoster: str


def normalise(raw: str) -> ReportedURL:
    """Validate and normalise one reported URL, or raise InvalidURL saying why."""
    text = raw.strip()
    if len(text.encode("utf-8")) > MAX_URL_BYTES:
        raise InvalidURL(f"URL longer than {MAX_URL_BYTES} bytes")
    if not text:
        raise InvalidURL("no URL (empty)")
    if _CONTROL_OR_SPACE.search(text):
        raise InvalidURL("not a URL: contains white space or control characters")
    match = _URL.match(text)
    if match is None:
        scheme, sep, _ = text.partition(":")
        if sep and _SCHEME.fullmatch(scheme) and scheme.lower() not in DEFAULT_PORTS:
            raise InvalidURL(f"scheme {scheme.lower()!r} is not http or https")
        raise InvalidURL("not a URL: no http:// or https:// in front (write it as http://...)")
    scheme, netloc, path, query = match.groups()
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL(f"scheme {scheme!r} is not http or https")
    authority, host, hoster = _authority(scheme, netloc)
    return ReportedURL(
        url=f"{scheme}://{authority}{path or '/'}{'?' + query if query else ''}", host=host, hoster=hoster
    )


# scheme://netloc path ?query #fragment, as RFC 3986 appendix B splits them.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


@lru_cache(maxsize=1 << 18)
def _authority(scheme: str, netloc: str) -> tuple[str, str, str]:
    """(normalised authority, host, hoster) of a netloc; cached since most URLs of a night
    share a few netlocs."""
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        literal, bracket, port = hostport[1:].partition("]")
        try:
            host = ipaddress.IPv6Address(literal).compressed
        except ValueError:
            raise InvalidURL(f"host [{literal}] is not an IPv6 address") from None
        if not bracket or (port and not port.startswith(":")):
            raise InvalidURL(f"not a URL: bad IPv6 host {hostport!r}")
        port = port[1:]
        shown = f"[{host}]"
    else:
        name, _, port = hostport.partition(":")
        if not name:
            raise InvalidURL("no host")
        shown = host = canonical_host(name)
    if port:
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise InvalidURL(f"port {port!r} is not a number from 0 to 65535")
        if int(port) != DEFAULT_PORTS[scheme]:
            shown += f":{int(port)}"
    return f"{userinfo}{at}{shown}", host, hoster_of(host)


@lru_cache(maxsize=1 << 18)
def canonical_host(host: str) -> str:
    """A host name or IP literal as the store keeps it, or InvalidURL."""
    host = host.rstrip(".").lower() if host != "." else ""
    if not host:
        raise InvalidURL("no host")
    if _is_ip(host):
        return str(ipaddress.ip_address(host))
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise InvalidURL(f"host {host!r} is not a valid international domain name: {error}") from None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidURL(f"host {host!r} is not a valid DNS name")
    if labels[-1].isdigit():
        # 1.2.3 or 999.1.1.1: an attempt at an IPv4 address, not a name.
        raise InvalidURL(f"host {host!r} is neither a valid IP address nor a DNS name")
    if len(labels) < 2:
        raise InvalidURL(f"host {host!r} has no dot: not a public DNS name")
    return host


@lru_cache(maxsize=1 << 18)
def hoster_of(host: str) -> str:
    """Who runs the host: its registrable domain under the Public Suffix List (private section
    included), or the IP itself for an IP literal."""
    if _is_ip(host):
        return host
    parts = _PSL.extract_str(host)
    if parts.suffix:
        return f"{parts.domain}.{parts.suffix}" if parts.domain else host
    # No listed suffix: the PSL's default rule "*" makes the last label the public suffix.
    return ".".join(host.rsplit(".", 2)[-2:])


def _is_ip(host: str) -> bool:
    if ":" not in host and not host[-1].isdigit():
        return False  # the common case, without the cost of an exception
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def hoster_or_host(text: str) -> str:
    """The hoster a user means by a host, a hoster name, an IP or a URL they typed."""
    text = text.strip()
    if "://" in text:
        return normalise(text).hoster
    return hoster_of(canonical_host(text.strip("[]")))
