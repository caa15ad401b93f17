"""Reported URLs: validation, normalisation and hoster identity.

A reported URL is attributed to the host a browser would contact, so http and https URLs are parsed
by ada (ada-url), a maintained implementation of the WHATWG URL standard, the parser Node.js uses:
backslashes, userinfo, IPv4 in hex, octal and short forms, IDNA (UTS 46), percent-encoded hosts
and IPv6 are read as browsers read them, and what the standard refuses is refused.

- Normalised: the standard's serialisation without the fragment (its "exclude fragments"
  equality), with one addition of ours: a trailing dot of a domain is dropped (`example.com.` is
  the name `example.com` in DNS; keeping both would count one report twice). Userinfo stays: the
  standard's URL identity includes it, and it is part of what was reported (credentials, or the
  `good.example@evil.example` disguise). It never names the host.
- Host: the domain (ASCII, lower case, no trailing dot) or IP literal (IPv6 without brackets).
- Hoster: for an IP literal the IP itself; for a domain its registrable domain under the Public
  Suffix List, private section included.
- Refused on top of the standard: white space or control characters inside (a broken copy, or two
  URLs on a line), schemes other than http and https, single-label hosts, names DNS cannot carry
  (an empty label, a label over 63 or a name over 253 bytes), more than 8 KiB.
- ada 4.0 lets `xn--` labels through unchecked, which UTS 46 and so the standard refuse when they
  are not the punycode of a valid label; that check is done here (_check_punycode).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

import tldextract
from ada_url import URL, HostType, parse_url
from ada_url import idna as ada_idna

MAX_URL_BYTES = 8192
DEFAULT_PORTS = {"http": 80, "https": 443}

# What the standard strips from both ends (C0 controls and space), and Unicode white space too.
_TRIM = re.compile(r"\A[\x00-\x20\s]+|[\x00-\x20\s]+\Z")
# Inside, the standard would drop tabs and newlines and percent-encode the rest; we refuse them.
_SPACE_INSIDE = re.compile(r"[\x00-\x20\x7f\s]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")

# The snapshot bundled with tldextract, private section included (blogspot.com, github.io...);
# suffix_list_urls=() guarantees nothing is fetched at run time.
_PSL = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


class InvalidURL(ValueError):
    """The reason a reported URL is rejected; str() is the reason shown to the user."""


@dataclass(frozen=True, slots=True)
class ReportedURL:
    url: str  # normalised
    host: str  # lower-case, punycode, no trailing dot; an IPv6 literal without brackets
    hoster: str
    port: int | None  # None: the scheme's default
    path: str  # the standard's pathname


def normalise(raw: str) -> ReportedURL:
    """Validate and normalise one reported URL, or raise InvalidURL saying why."""
    text = raw.strip()
    if text and (text[0] <= " " or text[-1] <= " "):  # C0 controls that str.strip() leaves
        text = _TRIM.sub("", text)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_URL_BYTES:
        raise InvalidURL(f"URL longer than {MAX_URL_BYTES} bytes")
    if not text:
        raise InvalidURL("no URL (empty)")
    if _SPACE_INSIDE.search(text):
        raise InvalidURL("not a URL: contains white space or control characters")
    scheme = _SCHEME.match(text)
    if scheme is None:
        raise InvalidURL("not a URL: no http:// or https:// in front (write it as http://...)")
    if scheme.group(1).lower() not in DEFAULT_PORTS:
        raise InvalidURL(f"scheme {scheme.group(1).lower()!r} is not http or https")
    try:
        parsed = parse_url(text, _PARTS)
    except (ValueError, UnicodeError):  # UnicodeError: a lone surrogate, which is no text at all
        raise InvalidURL(why_refused(text)) from None
    hostname, href = parsed["hostname"], parsed["href"]
    host, shown, hoster = _host(hostname, parsed["host_type"])
    if shown != hostname:  # rare (a trailing dot): let the parser write the URL with it dropped
        respelled = URL(href)
        respelled.hostname = shown
        href = respelled.href
    url = href.partition("#")[0]  # '#' is percent-encoded everywhere before the fragment
    if len(url.encode("utf-8")) > MAX_URL_BYTES:
        raise InvalidURL(f"URL longer than {MAX_URL_BYTES} bytes once normalised")
    port = parsed["port"]
    return ReportedURL(url=url, host=host, hoster=hoster, port=int(port) if port else None, path=parsed["pathname"])


# parse_url reads only these (each part read costs a call into the parser).
_PARTS = ("href", "hostname", "host_type", "port", "pathname")


@lru_cache(maxsize=1 << 18)
def _host(hostname: str, kind: HostType) -> tuple[str, str, str]:
    """(host, the host as the URL shows it, hoster) of a host the standard accepted, or
    InvalidURL by our own rules. Cached: most URLs of an import share a few thousand hosts."""
    if kind == HostType.IPV6:
        # The address as the rest of the program writes IPs (resolve, crawl): Python's form.
        host = str(ipaddress.IPv6Address(hostname[1:-1]))
        return host, hostname, host
    if kind == HostType.IPV4:
        return hostname, hostname, hostname
    name = hostname[:-1] if hostname.endswith(".") else hostname
    labels = name.split(".")
    if "" in labels:
        raise InvalidURL(f"host {hostname!r} has an empty label: DNS cannot look it up")
    for label in labels:
        if label.startswith("xn--"):
            _check_punycode(hostname, label)
    if len(labels) < 2:
        raise InvalidURL(f"host {hostname!r} has no dot: not a public DNS name")
    if len(name) > 253 or max(map(len, labels)) > 63:
        raise InvalidURL(f"host {hostname!r} is longer than DNS allows (63 bytes a label, 253 a name)")
    return name, name, hoster_of(name)


def _check_punycode(hostname: str, label: str) -> None:
    """UTS 46 (as the standard applies it): an `xn--` label must be the punycode of a non-ASCII
    label that is valid and already mapped, i.e. encoding its decoding gives it back."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
        valid = bool(decoded) and not decoded.isascii() and ada_idna.encode(decoded) == label.encode("ascii")
    except (UnicodeError, ValueError):  # not punycode, or a decoding that is no text (surrogates)
        valid = False
    if not valid:
        raise InvalidURL(f"host {hostname!r}: {label!r} is not the punycode of a valid international name")


def why_refused(text: str) -> str:
    """A reason for a URL the standard refuses (ada says only that it does): a rough reading of
    its authority, for the message alone; the refusal itself is the standard's."""
    rest = text.partition(":")[2].lstrip("/\\")
    authority = re.split(r"[/\\?#]", rest, maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        literal, _, port = hostport[1:].partition("]")
        if "%" in literal:
            return f"host [{literal}]: an IPv6 zone identifier has no meaning outside one machine"
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return f"host [{literal}] is not an IPv6 address"
        host, port = hostport, port.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return f"port {port!r} is not a number from 0 to 65535"
    if not host:
        return "no host"
    last = host.removesuffix(".").rpartition(".")[2].lower()
    if re.fullmatch(r"[0-9]+|0x[0-9a-f]*", last):
        return f"host {host!r} is neither a valid IPv4 address nor a domain name"
    if "%" in host:
        return f"host {host!r}: its percent-encoding does not decode to a valid host name"
    return f"host {host!r} is not a valid host name (a forbidden character, or an invalid international name)"


@lru_cache(maxsize=1 << 18)
def canonical_host(text: str) -> str:
    """A host name or IP literal a user typed, as the store keeps it (the host of
    `http://TEXT/`), or InvalidURL."""
    text = text.strip()
    if ":" in text and not text.startswith("["):
        text = f"[{text}]"  # an IPv6 address
    if not text or re.search(r"[/\\?#@]|\s", text):
        raise InvalidURL(f"{text!r} is not a host name or IP address")
    if text.startswith("[") and not text.endswith("]"):
        raise InvalidURL(f"{text!r} is a host and a port; give the host alone")
    try:
        parsed = URL(f"http://{text}/")
    except (ValueError, UnicodeError):
        raise InvalidURL(why_refused(f"http://{text}/")) from None
    return _host(parsed.hostname, parsed.host_type)[0]


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
