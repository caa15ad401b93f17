"""Name resolution for the Scrapy crawl: Scrapy connects to exactly the addresses our DNS layer found.

The crawl resolves every host once, before any HTTP (`run.py`), and writes the answers to the
store as this crawl's ``host_states`` (and each address's enrichment as ``ip_states``). This module
answers Scrapy's (Twisted's) name lookups from there, so the address a revisit records
(``response.ip_address``) is one of the addresses the crawl recorded for the host, found through
the configured nameservers, and no second, different resolution (the system's resolver, another
moment's answer) ever decides where we connect.

- ``HostCache``: host -> ``HostEntry`` (DNS status, addresses, and the countries and ASNs of those
  addresses), read lazily from the store for this crawl with a bounded LRU in front, so memory does
  not grow with the number of hosts. A host not in the store (a redirect target on a host no
  reported URL has) is resolved through ``monitor.resolve.dns.resolve_hosts`` in a thread of the
  reactor's pool and kept in the LRU. One cache per crawl and process, shared by the resolver and
  the spider (``HostCache.shared``), so both see one answer.
- ``StoreResolver``: the ``IHostnameResolver`` set as ``TWISTED_DNS_RESOLVER``. With
  ``crawl.allow_private_addresses`` false it never hands Twisted a loopback, private, link-local,
  multicast, reserved or unspecified address: a host left with none fails as a DNS lookup error,
  so no connection is ever attempted. The spider decides ``refused-private`` before it builds a
  request where it can (a URL's own host, a redirect to a known host); this is the safety net that
  also covers redirects to hosts first seen mid-crawl.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from zope.interface import implementer

from ..config import DNS
from ..store.history import as_json

log = logging.getLogger("monitor.crawl.resolver")

# Hosts kept in memory; a host evicted is read again from the store (an indexed lookup).
CACHE_SIZE = 2_048


def is_private(ip: str) -> bool:
    """True for any address that is not on the public internet: loopback, private (RFC 1918,
    ULA), link-local, multicast, reserved, unspecified, shared (CGN), documentation... An
    IPv4-mapped IPv6 address is judged by the IPv4 address it maps."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (not address.is_global or address.is_private or address.is_loopback
            or address.is_link_local or address.is_multicast or address.is_reserved
            or address.is_unspecified)


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class HostEntry:
    """What this crawl's DNS said about a host, with where its addresses are."""

    host: str
    status: str  # ok, nxdomain, no-answer, servfail, timeout, error
    ips: tuple[str, ...] = ()
    countries: str | None = None  # JSON sorted list, as url_states stores it
    asns: str | None = None
    detail: str | None = None

    @property
    def resolved(self) -> bool:
        return self.status == "ok" and bool(self.ips)

    def allowed_ips(self, allow_private: bool) -> tuple[str, ...]:
        """The addresses a connection may go to."""
        return self.ips if allow_private else tuple(ip for ip in self.ips if not is_private(ip))


def _key(host: str | bytes) -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host.strip().lower().rstrip(".")


class HostCache:
    """This crawl's answers, host by host; see the module doc."""

    _shared: dict[tuple[str, int], HostCache] = {}

    def __init__(self, database: str, crawl_id: int, dns: DNS | None = None, *,
                 size: int = CACHE_SIZE,
                 lookup: Callable[[str], HostEntry] | None = None,
                 country_db: str | None = None, asn_db: str | None = None) -> None:
        self.database = str(database)
        self.crawl_id = int(crawl_id)
        self.dns = dns
        self.size = size
        self._geo_paths = {"country": country_db, "asn": asn_db}
        self._geo: dict[str, Any] = {}
        self._lookup = lookup or self._resolve_blocking
        self._entries: OrderedDict[str, HostEntry] = OrderedDict()
        self._pending: dict[str, list[Deferred[HostEntry]]] = {}
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def shared(cls, settings: Any) -> HostCache:
        """The one cache of this crawl in this process (settings: Scrapy settings from
        ``monitor.crawl.settings.scrapy_settings``)."""
        key = (str(settings["MONITOR_DATABASE"]), int(settings["MONITOR_CRAWL_ID"]))
        cache = cls._shared.get(key)
        if cache is None:
            dns = settings.get("MONITOR_DNS")
            geoip = settings.get("MONITOR_GEOIP") or {}
            cache = cls(key[0], key[1], DNS.model_validate(dns) if dns is not None else None,
                        country_db=geoip.get("country_db"), asn_db=geoip.get("asn_db"))
            cls._shared[key] = cache
        return cache

    # -- reading the store ------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.database, timeout=30)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        for db in self._geo.values():
            if db is not None:
                db.close()
        self._geo.clear()

    def get(self, host: str | bytes) -> HostEntry | None:
        """The host's entry, or None when this crawl has not resolved it (yet)."""
        key = _key(host)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        row = self.conn.execute(
            "SELECT dns_status, ips FROM host_states WHERE host = ? AND last_crawl = ? LIMIT 1",
            [key, self.crawl_id]).fetchone()
        if row is None:
            literal = _ip_literal(key)
            if literal is None:
                return None
            entry = self._entry(key, "ok", (literal,))  # an IP is its own answer
        else:
            entry = self._entry(key, row[0], tuple(json.loads(row[1] or "[]")))
        self._remember(entry)
        return entry

    def _entry(self, host: str, status: str, ips: Sequence[str], detail: str | None = None) -> HostEntry:
        countries, asns = self.location(ips)
        return HostEntry(host, status, tuple(ips), countries, asns, detail)

    def location(self, ips: Iterable[str]) -> tuple[str | None, str | None]:
        """(countries, asns) of addresses as JSON sorted lists; (None, None) for no addresses.

        From this crawl's enrichment (ip_states); an address it did not enrich (a redirect
        target's) is looked up in the .mmdb files only: in-process and instant, where Team Cymru
        and RDAP would be network calls in the middle of the crawl."""
        ips = list(ips)
        if not ips:
            return None, None
        marks = ", ".join("?" for _ in ips)
        rows = {ip: (country, asn) for ip, country, asn in self.conn.execute(
            f"SELECT ip, country, asn FROM ip_states WHERE last_crawl = ? AND ip IN ({marks})",
            [self.crawl_id, *ips])}
        located = [rows[ip] if ip in rows else self._mmdb(ip) for ip in ips]
        return (as_json(c for c, _ in located if c), as_json(a for _, a in located if a is not None))

    def _mmdb(self, ip: str) -> tuple[str | None, int | None]:
        from ..resolve.geo import open_asn_db, open_country_db

        found: list[Any] = []
        for kind, opener in (("country", open_country_db), ("asn", open_asn_db)):
            if kind not in self._geo:
                path = self._geo_paths.get(kind)
                try:
                    self._geo[kind] = opener(path) if path else None
                except Exception as error:  # a missing or broken file: no location, no crash
                    log.warning("cannot open %s database %s: %s", kind, path, error)
                    self._geo[kind] = None
            db = self._geo[kind]
            try:
                answer = db.lookup(ip) if db is not None else None
            except Exception:
                answer = None
            found.append(getattr(answer, kind, None))
        return found[0], found[1]

    def _remember(self, entry: HostEntry) -> None:
        self._entries[entry.host] = entry
        self._entries.move_to_end(entry.host)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    # -- hosts the crawl did not resolve beforehand ----------------------------

    def add(self, host: str, status: str, ips: Sequence[str], detail: str | None = None) -> HostEntry:
        entry = self._entry(_key(host), status, ips, detail)
        self._remember(entry)
        return entry

    def _resolve_blocking(self, host: str) -> HostEntry:
        """Runs in a thread: our DNS layer (its own event loop there), no store access."""
        literal = _ip_literal(host)
        if literal is not None:
            return HostEntry(host, "ok", (literal,))
        if self.dns is None:
            return HostEntry(host, "error", (), detail="no DNS configuration")
        from ..resolve.dns import resolve_hosts

        answer = resolve_hosts([host], self.dns)[0]
        return HostEntry(host, answer.status, tuple(answer.ips), detail=answer.detail)

    def resolve(self, host: str | bytes, reactor: Any) -> Deferred[HostEntry]:
        """The host's entry, resolving it through our DNS layer (in a thread) when needed."""
        key = _key(host)
        entry = self.get(key)
        if entry is not None:
            return _succeed(entry)
        waiting: Deferred[HostEntry] = Deferred()
        if key in self._pending:
            self._pending[key].append(waiting)
            return waiting
        self._pending[key] = [waiting]
        from twisted.internet.threads import deferToThreadPool

        found = deferToThreadPool(reactor, reactor.getThreadPool(), self._lookup, key)

        def done(result: Any) -> None:
            if isinstance(result, HostEntry):
                result = self.add(key, result.status, result.ips, result.detail)
            else:  # a Failure: the lookup itself broke
                log.warning("resolving %s failed: %s", key, result.getErrorMessage())
                result = self.add(key, "error", (), detail=type(result.value).__name__)
            for d in self._pending.pop(key, []):
                d.callback(result)

        found.addBoth(done)
        return waiting


def _succeed(value: HostEntry) -> Deferred[HostEntry]:
    d: Deferred[HostEntry] = Deferred()
    d.callback(value)
    return d


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # Twisted never cancels host resolutions it started
        pass


@implementer(IHostnameResolver)
class StoreResolver:
    """Twisted's name resolver for the crawl (``TWISTED_DNS_RESOLVER``); see the module doc.

    Scrapy builds it with ``from_crawler(crawler, reactor)`` where ``crawler`` is the crawler
    process: only its settings are used.
    """

    def __init__(self, reactor: Any, hosts: HostCache, allow_private: bool) -> None:
        self.reactor = reactor
        self.hosts = hosts
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> StoreResolver:
        settings = crawler.settings
        return cls(reactor, HostCache.shared(settings), settings.getbool("MONITOR_ALLOW_PRIVATE"))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(self, resolutionReceiver: IResolutionReceiver, hostName: str,
                        portNumber: int = 0, addressTypes: Sequence[type] | None = None,
                        transportSemantics: str = "TCP") -> IHostResolution:
        resolution = _Resolution(_key(hostName))
        resolutionReceiver.resolutionBegan(resolution)
        found = self.hosts.resolve(hostName, self.reactor)

        def deliver(entry: HostEntry) -> None:
            for ip in self._addresses(entry):
                family = IPv6Address if ":" in ip else IPv4Address
                if addressTypes is None or family in addressTypes:
                    resolutionReceiver.addressResolved(family("TCP", ip, portNumber))
            resolutionReceiver.resolutionComplete()

        found.addCallback(deliver)
        return resolution

    def _addresses(self, entry: HostEntry) -> tuple[str, ...]:
        if not entry.resolved:
            return ()
        allowed = entry.allowed_ips(self.allow_private)
        if len(allowed) < len(entry.ips):
            log.info("%s: not connecting to %s (crawl.allow_private_addresses is false)", entry.host,
                     ", ".join(ip for ip in entry.ips if ip not in allowed))
        return allowed
