"""Origin ASN, BGP prefix, registry and registry country of IPs from Team Cymru's DNS service.

Two TXT questions, as ipwhois asks them (``Net.get_asn_dns`` and ``Net.get_asn_verbose_dns``):

    229.225.125.74.origin.asn.cymru.com  TXT "15169 | 74.125.225.0/24 | US | arin | 2007-03-13"
    AS15169.asn.cymru.com                TXT "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US"

The zone is named as ipwhois's ``Net`` names it (``cymru_zone``), ipwhois parses both answers
(``IPASN.parse_fields_dns``, ``parse_fields_verbose_dns``), and the questions go through the
crawl's own resolver (monitor/resolve/dns.py), which tells NXDOMAIN, no answer, SERVFAIL and
timeout apart where ipwhois's wrappers make them one ``ASNLookupError``.

The client is pure: cached rows in (``remember``), answers and rows to cache out
(``lookup_many``); the enricher reads and writes the store. In memory it keeps, for its life,
the prefixes it knows (one longest-prefix index), the addresses Cymru does not know, and AS
names. Addresses of one /24 (IPv6: /48) block - one origin prefix in BGP - are asked once: the
others wait and look at the index again.

Answers are cached per BGP prefix ``max_age_days`` (default 7): BGP moves faster than registry
data, hence a shorter default than RDAP's ``rdap.cache_days``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import ipwhois.net
from ipwhois.asn import IPASN
from ipwhois.exceptions import ASNParseError, ASNRegistryError, IPDefinedError

from ..config import DNS
from ..errors import ConfigError
from ..ips import Address, block_key, not_routed
from ..store import utcnow
from ..store.caches import PrefixRow, fresh_after
from .dns import AsyncResolver, TxtAnswer, system_nameservers
from .prefixes import PrefixIndex

__all__ = ["DEFAULT_MAX_AGE_DAYS", "CymruAnswer", "CymruClient", "CymruResults", "cymru_zone", "ipwhois_net"]

DEFAULT_MAX_AGE_DAYS = 7

CymruStatus: TypeAlias = Literal["ok", "not-found", "not-applicable", "error"]


# -- ipwhois's Net, without Net.__init__ ---------------------------------------------------------
# ipwhois's parsers (IPASN, RDAP) want an ``ipwhois.net.Net``, but read only a few of its
# attributes. Net.__init__ builds far more (a dns.resolver.Resolver(), which reads
# /etc/resolv.conf and fails on a machine without nameservers there; a proxy opener): ~700 us,
# and useless to us. So ``ipwhois_net`` makes the object without running __init__.


def cymru_zone(address: Address | str) -> str:
    """The origin question Team Cymru answers for ``address``, named as ipwhois's Net.__init__
    names it (``Net(ip).dns_zone``): the reversed octets under origin.asn.cymru.com., or the
    reversed nibbles under origin6.asn.cymru.com. - without the address's trailing all-zero
    groups, which ipwhois drops because Cymru times out on them."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address)
    if address.version == 4:
        return ipwhois.net.IPV4_DNS_ZONE.format(_reversed(address))
    return ipwhois.net.IPV6_DNS_ZONE.format(_reversed(address))


def _reversed(address: Address) -> str:
    """ipwhois's ``Net.reversed``: the labels of the address in the order Cymru's zone wants."""
    if address.version == 4:
        return ".".join(reversed(str(address).split(".")))
    groups = address.exploded.split(":")
    while groups and groups[-1] == "0000":
        groups.pop()
    return ".".join(reversed("".join(groups)))


def ipwhois_net(ip: str | Address) -> ipwhois.net.Net:
    """An ``ipwhois.net.Net`` for ``ip`` that is enough for ipwhois's parsers and names Cymru's
    zone (``dns_zone``); it asks nothing and reads no /etc/resolv.conf.

    Raises ``IPDefinedError`` for private, reserved and other not globally routed addresses
    (``monitor.ips.not_routed``), and ``ValueError`` for text that is not an IP address.
    """
    address = ip if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) else ipaddress.ip_address(ip)
    reason = not_routed(address)
    if reason is not None:
        raise IPDefinedError(reason)
    net = ipwhois.net.Net.__new__(ipwhois.net.Net)
    net.address = address
    net.address_str = str(address)
    net.version = address.version
    net.reversed = _reversed(address)
    net.dns_zone = cymru_zone(address)
    return net


# -- the client ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CymruAnswer:
    """What Team Cymru says about one IP.

    status: ``ok``; ``not-found`` (no origin TXT: NXDOMAIN or no answer, i.e. not announced);
    ``not-applicable`` (private or reserved address, nothing asked); ``error`` (timeout, SERVFAIL,
    an answer that does not parse; ``detail`` says which).
    """

    asn: int | None
    as_org: str | None
    prefix: str | None
    registry: str | None
    registry_country: str | None
    status: CymruStatus
    detail: str | None = None


@dataclass(slots=True)
class CymruResults:
    """``answers`` by IP as given; ``rows``: what was learnt, for the store's cache."""

    answers: dict[str, CymruAnswer] = field(default_factory=dict)
    rows: list[PrefixRow] = field(default_factory=list)


class CymruClient:
    """Team Cymru lookups with an in-memory prefix cache; ``close()`` when done.

        with CymruClient(config.dns) as client:
            client.remember(rows_from_the_store)
            results = client.lookup_many(["74.125.225.229"])
            results.answers["74.125.225.229"]
            # CymruAnswer(asn=15169, as_org='GOOGLE - Google LLC, US', prefix='74.125.225.0/24',
            #             registry='arin', registry_country='US', status='ok', detail=None)
            results.rows   # [PrefixRow(prefix='74.125.225.0/24', ...)]: for the store

    Not thread-safe: one caller thread. The questions run in an event loop in a thread of the
    client's own, so callers may be inside an event loop of their own or not.
    """

    def __init__(self, dns_config: DNS, max_age_days: float = DEFAULT_MAX_AGE_DAYS) -> None:
        self.dns_config = dns_config
        self.max_age_days = max_age_days
        try:
            self._nameservers: tuple[str, ...] = dns_config.nameservers or system_nameservers()
            self._unusable = ""
        except ConfigError as error:  # no nameserver configured nor in resolv.conf
            self._nameservers = ()
            self._unusable = f"cannot ask Team Cymru: {error}"
        self._index = PrefixIndex()  # CymruAnswer by BGP prefix
        self._misses: dict[Address, CymruAnswer] = {}  # not announced, by IP, this run only
        self._as_orgs: dict[int, str | None] = {}
        self._loop_thread: ThreadPoolExecutor | None = None
        self.closed = False

    # -- public ---------------------------------------------------------------------------

    def remember(self, rows: Iterable[PrefixRow]) -> None:
        """Take rows the store cached (fresh ones only count) into memory."""
        if self.max_age_days <= 0:
            return
        oldest = fresh_after(self.max_age_days)
        for row in rows:
            if row.fetched_at > oldest:
                answer = CymruAnswer(row.asn, row.as_org, row.prefix, row.registry, row.registry_country, "ok")
                try:
                    self._index.add_prefix(row.prefix, answer, row.fetched_at)
                except ValueError:
                    continue  # not a prefix: never written by us

    def missing(self, ips: Iterable[str]) -> list[str]:
        """Of ``ips``, those this client would ask Team Cymru about: routed, not known here."""
        return [ip for ip in ips if (a := ipaddress.ip_address(ip)).is_global and self._cached(a) is None]

    def lookup_many(self, ips: Sequence[str]) -> CymruResults:
        """Answers for ``ips`` (ValueError for text that is not an IP), asked concurrently."""
        results = CymruResults()
        to_ask: list[tuple[str, Address, Any]] = []
        for ip in dict.fromkeys(ips):
            address = ipaddress.ip_address(ip)
            early = self._without_asking(address)
            if early is not None:
                results.answers[ip] = early
            else:
                to_ask.append((ip, address, ipwhois_net(address)))
        if to_ask:
            if self._loop_thread is None:
                self._loop_thread = ThreadPoolExecutor(1, thread_name_prefix="cymru")
            asked = self._loop_thread.submit(asyncio.run, self._ask_all(to_ask)).result()
            for ip, (answer, row) in zip((ip for ip, _, _ in to_ask), asked):
                results.answers[ip] = answer
                if row is not None:
                    results.rows.append(row)
        return results

    def lookup(self, ip: str) -> CymruAnswer:
        """Team Cymru's answer for one IP; raises ValueError only for text that is not an IP."""
        return self.lookup_many([ip]).answers[ip]

    def close(self) -> None:
        if self._loop_thread is not None:
            self._loop_thread.shutdown()
            self._loop_thread = None
        self.closed = True

    def __enter__(self) -> CymruClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- memory ---------------------------------------------------------------------------

    def _without_asking(self, address: Address) -> CymruAnswer | None:
        """The answer when no question is needed: not applicable, known, or no nameserver."""
        if not address.is_global:
            return _not_applicable(not_routed(address) or f"{address} is not a globally routed address")
        cached = self._cached(address)
        if cached is not None:
            return cached
        try:
            ipwhois_net(address)  # ipwhois's own list of defined ranges, too
        except IPDefinedError as error:
            return _not_applicable(str(error))
        if not self._nameservers:
            return CymruAnswer(None, None, None, None, None, "error", self._unusable)
        return None

    def _cached(self, address: Address) -> CymruAnswer | None:
        if self.max_age_days <= 0:
            return None
        return self._misses.get(address) or self._index.narrowest(address)

    def _learn(self, address: Address, answer: CymruAnswer) -> PrefixRow | None:
        """Keep a conclusive answer in memory; the row for the store (whatever max_age_days says:
        the store keeps what was seen)."""
        if answer.status != "ok" or answer.prefix is None:
            if self.max_age_days > 0:
                self._misses[address] = answer
            return None
        fetched_at = utcnow()
        if self.max_age_days > 0:
            self._index.add_prefix(answer.prefix, answer, fetched_at)
        return PrefixRow(answer.prefix, answer.asn, answer.as_org, answer.registry, answer.registry_country,
                         fetched_at)

    # -- the questions (in the client's event loop) -----------------------------------------

    async def _ask_all(self, to_ask: list[tuple[str, Address, Any]]) -> list[tuple[CymruAnswer, PrefixRow | None]]:
        resolver = AsyncResolver(self._nameservers, self.dns_config.port, self.dns_config.timeout)
        flights: dict[tuple[int, int], asyncio.Future[None]] = {}
        as_flights: dict[int, asyncio.Future[None]] = {}

        async def one(address: Address, net: Any) -> tuple[CymruAnswer, PrefixRow | None]:
            # One question per /24 (/48) block at a time: the others wait, then look again.
            key = block_key(address)
            while key in flights:
                await asyncio.shield(flights[key])
                cached = self._cached(address)
                if cached is not None:
                    return cached, None
            flights[key] = asyncio.get_running_loop().create_future()
            try:
                answer, cacheable = await self._ask(resolver, net, as_flights)
                return answer, self._learn(address, answer) if cacheable else None
            finally:
                flights.pop(key).set_result(None)

        async with resolver:
            return list(await asyncio.gather(*(one(address, net) for _, address, net in to_ask)))

    async def _ask(self, resolver: AsyncResolver, net: Any,
                   as_flights: dict[int, asyncio.Future[None]]) -> tuple[CymruAnswer, bool]:
        """The answer, and whether it may be cached (not when something failed on the way)."""
        zone = net.dns_zone
        texts, failure = _texts(await resolver.txt(zone))
        if failure is not None:
            status, detail = failure
            return CymruAnswer(None, None, None, None, None, status, detail), status == "not-found"
        parser = IPASN(net)
        parsed: list[dict[str, Any]] = []
        problems: list[str] = []
        for text in texts:
            try:
                parsed.append(parser.parse_fields_dns(text))
            except (ASNRegistryError, ASNParseError) as error:
                problems.append(str(error))
        if not parsed:
            detail = f"{zone}: unexpected answer {texts!r}: {'; '.join(problems)}"
            return CymruAnswer(None, None, None, None, None, "error", detail), False
        # Several origins (overlapping announcements): the most specific prefix wins, as in
        # ipwhois's IPASN.lookup.
        best = max(parsed, key=_prefix_length)
        # An announcement by several ASes (MOAS) lists them all: "23028 24940 | ...".
        numbers = [int(token) for token in best["asn"].split() if token.isdigit()]
        if not numbers:
            detail = f"{zone}: no origin AS in {best['asn']!r}"
            return CymruAnswer(None, None, None, None, None, "not-found", detail), True
        asn = numbers[0]
        while asn in as_flights:  # another address asks for this AS's name: wait for it
            await asyncio.shield(as_flights[asn])
        if asn in self._as_orgs:
            as_org, conclusive = self._as_orgs[asn], True
        else:
            as_flights[asn] = asyncio.get_running_loop().create_future()
            try:
                as_org, conclusive = await self._as_org(resolver, net, asn)
            finally:
                as_flights.pop(asn).set_result(None)
        answer = CymruAnswer(
            asn=asn,
            as_org=as_org,
            prefix=_clean_prefix(best["asn_cidr"]),
            registry=best["asn_registry"] or None,
            registry_country=best["asn_country_code"] or None,
            status="ok",
        )
        return answer, conclusive and answer.prefix is not None

    async def _as_org(self, resolver: AsyncResolver, net: Any, asn: int) -> tuple[str | None, bool]:
        """The AS description, and whether the answer was conclusive (not a timeout)."""
        texts, failure = _texts(await resolver.txt(f"AS{asn}.asn.cymru.com"))
        if failure is not None:
            if failure[0] != "not-found":
                return None, False
            org = None
        else:
            try:
                org = IPASN(net).parse_fields_verbose_dns(texts[0])["asn_description"] or None
            except (ASNRegistryError, ASNParseError):
                org = None
        self._as_orgs[asn] = org
        return org, True


def _texts(answer: TxtAnswer) -> tuple[list[str], tuple[CymruStatus, str] | None]:
    """The TXT texts (UTF-8: AS names are not ASCII-escaped), or (status, detail) without any."""
    name = answer.name
    if answer.status == "ok":
        return [record.decode("utf-8", "replace") for record in answer.records], None
    if answer.status == "nxdomain":
        return [], ("not-found", f"{name}: NXDOMAIN")
    if answer.status == "no-answer":
        return [], ("not-found", f"{name}: no TXT record")
    what = {"timeout": "timeout", "servfail": "SERVFAIL"}.get(answer.status, answer.status)
    return [], ("error", f"{name}: {what}: {answer.detail}")


def _not_applicable(detail: str) -> CymruAnswer:
    return CymruAnswer(None, None, None, None, None, "not-applicable", detail)


def _prefix_length(parsed: dict[str, Any]) -> int:
    try:
        return ipaddress.ip_network(parsed["asn_cidr"], strict=False).prefixlen
    except (KeyError, ValueError, TypeError):
        return -1


def _clean_prefix(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False)) if text else None
    except ValueError:
        return None
