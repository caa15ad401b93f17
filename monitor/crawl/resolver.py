"""Name resolution in a crawl worker: Scrapy connects to exactly the addresses the batch gave.

The coordinator resolves every host of a crawl once, before any HTTP, records the answers, and
sends each URL's host with its answer in the worker's batch (``monitor.crawl.protocol``). This
module holds those answers and answers Scrapy's (Twisted's) name lookups from them, so the address
a revisit records (``response.ip_address``) is one the crawl recorded for the host, and no second,
different resolution (the system's resolver, another moment's answer) decides where we connect.
Nothing here opens a database.

- ``Hosts``: host -> ``HostEntry`` (DNS status and addresses), from three places: the batch's host
  lines (a bounded window the sender mirrors, see ``protocol.Window``), kept past the window for
  as long as a URL in flight needs its host (a pin); hosts the batch does not name (redirect
  targets), resolved by ONE ``AsyncResolver`` running on the reactor's own asyncio loop and kept
  in a bounded LRU; and IP literals, their own answer. One per worker, shared by the resolver and
  the spider (``Hosts.shared``), so both see one answer.
- ``BatchResolver``: the ``IHostnameResolver`` set as ``TWISTED_DNS_RESOLVER``. With
  ``crawl.allow_private_addresses`` false it never hands Twisted a loopback, private, link-local,
  multicast, reserved or unspecified address: a host left with none fails as a DNS lookup error,
  so no connection is ever attempted. The spider decides ``refused-private`` before it builds a
  request where it can (a URL's own host, a redirect to a known host); this is the safety net that
  also covers redirects to hosts first seen mid-crawl.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from zope.interface import implementer

from ..config import DNS
from ..ips import ip_literal, is_private  # noqa: F401  (is_private: importable from here too)
from .protocol import HOST_WINDOW, Window, host_key

log = logging.getLogger("monitor.crawl.resolver")

# Hosts resolved by the worker itself (redirect targets) kept in memory.
CACHE_SIZE = 2_048


@dataclass(frozen=True, slots=True)
class HostEntry:
    """What DNS said about a host: the crawl's answer, or the worker's for a redirect target."""

    host: str
    status: str  # ok, nxdomain, no-answer, servfail, timeout, error
    ips: tuple[str, ...] = ()
    detail: str | None = None

    @property
    def resolved(self) -> bool:
        return self.status == "ok" and bool(self.ips)

    def allowed_ips(self, allow_private: bool) -> tuple[str, ...]:
        """The addresses a connection may go to."""
        return self.ips if allow_private else tuple(ip for ip in self.ips if not is_private(ip))


Lookup = Callable[[str], Awaitable[HostEntry]]


class Hosts:
    """The worker's hosts; see the module doc."""

    _shared: dict[str, Hosts] = {}

    def __init__(self, dns: DNS | None = None, *, window: int = HOST_WINDOW, size: int = CACHE_SIZE,
                 lookup: Lookup | None = None) -> None:
        self.dns = dns
        self.window = Window(window)
        self.pins: dict[str, list[Any]] = {}  # host -> [entry, URLs in flight needing it]
        self.found: OrderedDict[str, HostEntry] = OrderedDict()  # resolved here, LRU
        self.size = size
        self._lookup = lookup or self._resolve
        self._pending: dict[str, list[Deferred[HostEntry]]] = {}
        self._resolver: Any = None  # an open AsyncResolver, once a host needed one
        self._opening: asyncio.Future | None = None

    @classmethod
    def shared(cls, settings: Any) -> Hosts:
        """The one ``Hosts`` of this worker (settings: from ``monitor.crawl.settings``)."""
        key = str(settings["MONITOR_WORKER"])
        hosts = cls._shared.get(key)
        if hosts is None:
            dns = settings.get("MONITOR_DNS")
            hosts = cls(DNS.model_validate(dns) if dns is not None else None,
                        window=int(settings.get("MONITOR_HOST_WINDOW") or HOST_WINDOW))
            cls._shared[key] = hosts
        return hosts

    # -- the batch ------------------------------------------------------------------------------

    def announce(self, host: str, status: str, ips: Sequence[str], detail: str | None = None) -> HostEntry:
        """A host line of the batch."""
        entry = HostEntry(host_key(host), status, tuple(ips), detail)
        self.window.put(entry.host, entry)  # a host let go stays reachable while pinned
        return entry

    def use(self, host: str) -> HostEntry | None:
        """A URL line: the batch's answer for its host, None if the batch gave none."""
        key = host_key(host)
        return self.window.get(key) if self.window.touch(key) else None

    def pin(self, entry: HostEntry) -> None:
        """A URL in flight needs entry until its observation is made (retries, redirect hops and
        the GET after a refused HEAD all connect again, resolving again)."""
        pinned = self.pins.setdefault(entry.host, [entry, 0])
        pinned[1] += 1

    def release(self, host: str) -> None:
        pinned = self.pins.get(host_key(host))
        if pinned is not None:
            pinned[1] -= 1
            if pinned[1] <= 0:
                del self.pins[host_key(host)]

    # -- lookups --------------------------------------------------------------------------------

    def get(self, host: str | bytes) -> HostEntry | None:
        """The host's entry if this worker has one (changes no order: only lines do)."""
        key = host_key(host)
        entry = self.window.get(key)
        if entry is not None:
            return entry
        pinned = self.pins.get(key)
        if pinned is not None:
            return pinned[0]
        entry = self.found.get(key)
        if entry is not None:
            self.found.move_to_end(key)
            return entry
        literal = ip_literal(key)
        return HostEntry(key, "ok", (literal,)) if literal is not None else None

    def resolve(self, host: str | bytes) -> Deferred[HostEntry]:
        """The host's entry, resolving it (once, whoever asks meanwhile) when the worker has none.
        Must be called on the running asyncio loop (the reactor's, in a crawl)."""
        key = host_key(host)
        entry = self.get(key)
        if entry is not None:
            return succeed(entry)
        waiting: Deferred[HostEntry] = Deferred()
        if key in self._pending:
            self._pending[key].append(waiting)
            return waiting
        self._pending[key] = [waiting]
        found = Deferred.fromFuture(asyncio.ensure_future(self._lookup(key)))

        def done(result: Any) -> None:
            if not isinstance(result, HostEntry):  # a Failure: the lookup itself broke
                log.warning("resolving %s failed: %s", key, result.getErrorMessage())
                result = HostEntry(key, "error", (), detail=type(result.value).__name__)
            self._remember(result)
            for d in self._pending.pop(key, []):
                d.callback(result)

        found.addBoth(done)
        return waiting

    def _remember(self, entry: HostEntry) -> None:
        self.found[entry.host] = entry
        self.found.move_to_end(entry.host)
        while len(self.found) > self.size:
            self.found.popitem(last=False)

    async def _resolve(self, host: str) -> HostEntry:
        """Through the worker's one resolver, opened on first need on the running loop."""
        if self.dns is None:
            return HostEntry(host, "error", (), detail="no DNS configuration")
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        resolver = await asyncio.shield(self._opening)
        answer = await resolver.resolve(host)
        return HostEntry(host, answer.status, tuple(answer.ips), detail=answer.detail)

    async def _open(self) -> Any:
        from ..resolve.dns import AsyncResolver

        assert self.dns is not None
        self._resolver = await AsyncResolver.from_config(self.dns).__aenter__()
        return self._resolver

    async def close(self) -> None:
        """Close the resolver, if one was opened (on the loop it runs on)."""
        opening, self._opening = self._opening, None
        if opening is not None:
            try:
                await opening
            except Exception:  # it never opened: nothing to close
                return
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            await resolver.__aexit__(None, None, None)
        for key, hosts in list(self._shared.items()):
            if hosts is self:
                del self._shared[key]


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # Twisted never cancels host resolutions it started
        pass


@implementer(IHostnameResolver)
class BatchResolver:
    """Twisted's name resolver in a worker (``TWISTED_DNS_RESOLVER``); see the module doc.

    Scrapy builds it with ``from_crawler(crawler, reactor)`` where ``crawler`` is the crawler
    process: only its settings are used.
    """

    def __init__(self, reactor: Any, hosts: Hosts, allow_private: bool) -> None:
        self.reactor = reactor
        self.hosts = hosts
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> BatchResolver:
        settings = crawler.settings
        return cls(reactor, Hosts.shared(settings), settings.getbool("MONITOR_ALLOW_PRIVATE"))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(self, resolutionReceiver: IResolutionReceiver, hostName: str,
                        portNumber: int = 0, addressTypes: Sequence[type] | None = None,
                        transportSemantics: str = "TCP") -> IHostResolution:
        resolution = _Resolution(host_key(hostName))
        resolutionReceiver.resolutionBegan(resolution)
        found = self.hosts.resolve(hostName)

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
