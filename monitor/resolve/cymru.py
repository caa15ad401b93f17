"""Origin ASN, BGP prefix, registry and registry country of an IP from Team Cymru's DNS service.

Two TXT questions, as ipwhois asks them (``Net.get_asn_dns`` and ``Net.get_asn_verbose_dns``):

    229.225.125.74.origin.asn.cymru.com  TXT "15169 | 74.125.225.0/24 | US | arin | 2007-03-13"
    AS15169.asn.cymru.com                TXT "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US"

(IPv6: the address's nibbles under ``origin6.asn.cymru.com``, trailing zero groups dropped.)
The zone is named as ipwhois's ``Net`` names it (``cymru_zone``, checked against ``Net`` in the
tests), private and reserved addresses are refused by ipwhois's list (``ipwhois.utils``) and
``ipaddress``, and ipwhois parses both answers (``IPASN.parse_fields_dns``,
``IPASN.parse_fields_verbose_dns``); we send the two questions ourselves through our own resolver,
because ipwhois's wrappers lose what we must tell apart: ``Net.get_asn_dns`` turns NXDOMAIN,
no answer, SERVFAIL and timeout into one ``ASNLookupError`` (``IPASN.lookup`` then into an
``ASNRegistryError`` "no more methods"), ``IPASN.lookup`` also overwrites the resolver's
``lifetime``, and ``str(rdata)`` escapes non-ASCII AS names ("Telef\\195\\179nica").

Answers are cached per BGP prefix, in memory for the client's life and in the store's
``asn_prefixes`` table across crawls, ``max_age_days`` (default 7) long: an IP inside a cached
prefix asks no server. BGP moves faster than registry data, hence a shorter default than RDAP's
``rdap.cache_days``.

Threads: ``lookup`` may be called from many threads at once (the enricher's pool). The memory
cache is behind a lock; the store is reached through a connection of the client's own, made with
``check_same_thread=False`` and used only under its lock (see ``CacheStore``), never through the
caller's connection, which sqlite3 ties to the thread that opened it. Threads that miss the cache
for addresses of one /24 (IPv6: /48) block - the longest prefixes BGP carries, so one origin
prefix - ask one at a time (``KeyedLocks``), and each looks at the cache again before asking: the
prefix is asked once, not once per thread.

This module also holds what the RDAP client shares with it: ``ipwhois_net`` (a ``Net`` for
ipwhois's parsers, built without ``Net.__init__``, which reads /etc/resolv.conf), ``not_routed``,
``address_hex``, ``block_key``, ``KeyedLocks`` and ``CacheStore``.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeAlias

import dns.exception
import dns.resolver
import ipwhois.net
from ipwhois.asn import IPASN
from ipwhois.exceptions import ASNParseError, ASNRegistryError, IPDefinedError
from ipwhois.utils import ipv4_is_defined, ipv6_is_defined
from sqlite_utils import Database

from ..config import DNS
from ..errors import ConfigError, StoreError
from ..store import utcnow
from .dns import system_nameservers

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "CacheStore",
    "CymruAnswer",
    "CymruClient",
    "KeyedLocks",
    "address_hex",
    "block_key",
    "build_resolver",
    "cutoff",
    "cymru_zone",
    "ipwhois_net",
    "not_routed",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_DAYS = 7

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
CymruStatus: TypeAlias = Literal["ok", "not-found", "not-applicable", "error"]


# --------------------------------------------------------------------------------------------
# ipwhois's Net, without Net.__init__
# --------------------------------------------------------------------------------------------

# ipwhois's parsers (IPASN, RDAP) want an ``ipwhois.net.Net``, but read only a few of its
# attributes: IPASN's DNS parsers none, RDAP.lookup(response=...) ``address_str``. Net.__init__
# builds far more (a ``dns.resolver.Resolver()``, which reads /etc/resolv.conf and fails on a
# machine without nameservers there; a proxy opener; ipwhois's defined-range check): ~700 us, and
# useless to us. So ``ipwhois_net`` makes the object without running __init__ and sets what the
# parsers and our Cymru questions use, named as ipwhois names them.


def cymru_zone(address: Address | str) -> str:
    """The origin question Team Cymru answers for ``address``, named as ipwhois's Net.__init__
    names it (``Net(ip).dns_zone``): the reversed octets under origin.asn.cymru.com., or the
    reversed nibbles under origin6.asn.cymru.com. - without the address's trailing all-zero
    groups, which ipwhois drops because Cymru times out on them (2001:db8:: is asked as the
    nibbles of 2001:0db8)."""
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


def not_routed(address: Address) -> str | None:
    """Why no registry or BGP table holds ``address`` (private, reserved, shared...), or None."""
    text = str(address)
    defined = (ipv4_is_defined if address.version == 4 else ipv6_is_defined)(text)
    if defined[0]:
        return f"IPv{address.version} address {text} is already defined as {defined[1]} via {defined[2]}."
    if not address.is_global:
        # ipwhois's list of defined ranges misses some that no registry or BGP table holds,
        # e.g. the shared address space 100.64.0.0/10 of carrier-grade NAT.
        return f"{text} is not a globally routed address"
    return None


def ipwhois_net(ip: str | Address) -> ipwhois.net.Net:
    """An ``ipwhois.net.Net`` for ``ip`` that is enough for ipwhois's parsers and names Cymru's
    zone (``dns_zone``); it asks nothing and reads no /etc/resolv.conf.

    Raises ``IPDefinedError`` for private, reserved and other not globally routed addresses
    (see ``not_routed``), and ``ValueError`` for text that is not an IP address.
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


def build_resolver(config: DNS) -> dns.resolver.Resolver:
    """A dnspython resolver asking ``config.nameservers`` on ``config.port``; the system's
    (resolv.conf, through monitor.resolve.dns.system_nameservers) when none are set, and
    ConfigError when there are none either."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = list(config.nameservers or system_nameservers())
    resolver.port = config.port
    resolver.timeout = config.timeout
    # lifetime bounds the whole question: one timeout per nameserver, then give up.
    resolver.lifetime = config.timeout * max(1, len(resolver.nameservers))
    return resolver


# --------------------------------------------------------------------------------------------
# The store's cache tables
# --------------------------------------------------------------------------------------------


def address_hex(ip: str | Address) -> str:
    """The address as the store's *_hex columns hold it: 32 lower-case hex digits, IPv4 mapped
    into IPv6 (::ffff:a.b.c.d), so that text comparison orders addresses."""
    address = ip if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) else ipaddress.ip_address(ip)
    if address.version == 4:
        return format(0xFFFF_0000_0000 | int(address), "032x")
    return format(int(address), "032x")


def cutoff(max_age_days: float) -> str:
    """The oldest fetched_at still fresh, as the store writes times: fresh means ``> cutoff``."""
    moment = datetime.now(timezone.utc) - timedelta(days=max_age_days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


Statement: TypeAlias = tuple[str, Sequence[Any]]


class CacheStore:
    """The cache tables of a store, usable from any thread.

    sqlite3 ties a connection to the thread that made it, and the caller's ``Database`` was made
    in the caller's thread while lookups run in a pool. So the client opens a connection of its own
    to the same file (``check_same_thread=False``, autocommit) and uses it only under a lock. The
    store runs in WAL mode: our reads never wait for the crawl's writer.

    Writes are cache fills, so they must never stall or fail a lookup: each waits at most
    ``write_timeout`` for the write lock (the crawl may hold it in a long transaction); when it
    does not get it, the rows stay pending and are tried again on the next write after
    ``retry_pause`` seconds, and at ``close()``. A database without a file (in memory) has only
    the caller's connection: then it is used directly, so lookups must run in its thread.
    """

    def __init__(self, db: Database, *, write_timeout: float = 1.0, retry_pause: float = 30.0) -> None:
        self._lock = threading.Lock()
        self._pending: list[list[Statement]] = []
        self._retry_at = 0.0
        self._write_timeout = write_timeout
        self._retry_pause = retry_pause
        path = ""
        try:
            path = _file_of(db.conn)
            if path:
                self._conn = sqlite3.connect(
                    path, timeout=write_timeout, isolation_level=None, check_same_thread=False
                )
        except sqlite3.Error as error:
            where = path or "the store"
            raise StoreError(f"{where}: cannot open the store for the lookup caches: {error}") from None
        if path:
            self._own = True
        else:
            self._conn = db.conn
            self._own = False
        self._closed = False

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; none when the store cannot be read (the lookup then asks the service)."""
        with self._lock:
            if self._closed:
                return []
            try:
                cursor = self._conn.execute(sql, params)
                names = [column[0] for column in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
            except sqlite3.Error as error:
                log.warning("cache read failed, asking the service instead: %s", error)
                return []

    def write(self, statements: list[Statement]) -> None:
        """Run ``statements`` in one transaction, now or later (see the class)."""
        with self._lock:
            if self._closed:
                return
            self._pending.append(statements)
            if time.monotonic() >= self._retry_at:
                self._flush_locked()

    def flush(self) -> bool:
        """Write what is pending, waiting for the write lock as the store usually does."""
        with self._lock:
            return self._flush_locked(busy_ms=10_000)

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._pending:
                log.warning("cache: %d writes could not be made; they are dropped", len(self._pending))
            self._closed = True
            self._pending.clear()
            if self._own:
                self._conn.close()

    def _flush_locked(self, busy_ms: int | None = None) -> bool:
        if not self._pending or self._closed:
            return True
        conn = self._conn
        try:
            if self._own:
                if busy_ms is not None:
                    conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
                conn.execute("BEGIN IMMEDIATE")
            # One savepoint per unit: a unit that fails (a constraint) is dropped alone. On the
            # caller's connection (a store in memory) the savepoints nest inside whatever
            # transaction the caller has open and leave committing it to them.
            for statements in self._pending:
                conn.execute("SAVEPOINT cache_fill")
                try:
                    for sql, params in statements:
                        conn.execute(sql, params)
                except sqlite3.OperationalError:
                    conn.execute("ROLLBACK TO cache_fill")
                    conn.execute("RELEASE cache_fill")
                    raise
                except sqlite3.Error as error:
                    conn.execute("ROLLBACK TO cache_fill")
                    log.warning("cache write dropped: %s", error)
                conn.execute("RELEASE cache_fill")
            if self._own:
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            if self._own and conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.OperationalError) and _is_busy(error):
                self._retry_at = time.monotonic() + self._retry_pause
                return False
            log.warning("cache write failed, %d entries dropped: %s", len(self._pending), error)
            self._pending.clear()
            return False
        finally:
            if self._own and busy_ms is not None:
                conn.execute(f"PRAGMA busy_timeout={int(self._write_timeout * 1000)}")
        self._pending.clear()
        return True


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _file_of(conn: sqlite3.Connection) -> str:
    """The file of the connection's main database, '' for one in memory."""
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file or ""
    return ""  # pragma: no cover


def narrowest(rows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Of cache rows holding an address, the one with the smallest range; the newest on a tie."""
    newest_first = sorted(rows, key=lambda row: row["fetched_at"], reverse=True)
    return min(newest_first, key=lambda row: int(row["end_hex"], 16) - int(row["start_hex"], 16), default=None)


def block_key(address: Address) -> tuple[int, int]:
    """The /24 (IPv4) or /48 (IPv6) block of ``address``: the longest prefixes announced in BGP,
    so every address of one block has the same origin prefix (and, mostly, RDAP network)."""
    if address.version == 4:
        return 4, int(address) >> 8
    return 6, int(address) >> 80


class KeyedLocks:
    """A lock per key, made on first use and dropped when nobody holds or waits for it.

        with locks.hold(key):   # one thread at a time per key; other keys go on
            ...
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[Any, list[Any]] = {}  # key -> [lock, holders and waiters]

    @contextmanager
    def hold(self, key: Any) -> Iterator[None]:
        with self._lock:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.Lock(), 0]
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


# --------------------------------------------------------------------------------------------
# The Cymru client
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class _Entry:
    answer: CymruAnswer
    fetched_at: str


class CymruClient:
    """Team Cymru lookups with a per-prefix cache; thread-safe. ``close()`` when done.

        client = CymruClient(config.dns, db)
        client.lookup("74.125.225.229")
        # CymruAnswer(asn=15169, as_org='GOOGLE - Google LLC, US', prefix='74.125.225.0/24',
        #             registry='arin', registry_country='US', status='ok', detail=None)
    """

    def __init__(self, dns_config: DNS, db: Database | None = None, max_age_days: float = DEFAULT_MAX_AGE_DAYS) -> None:
        self.max_age_days = max_age_days
        try:
            self._resolver: dns.resolver.Resolver | None = build_resolver(dns_config)
            self._resolver_error = ""
        except ConfigError as error:  # no nameserver configured nor in resolv.conf
            self._resolver = None
            self._resolver_error = f"cannot ask Team Cymru: {error}"
        self._lock = threading.Lock()
        # Answers by prefix, keyed (version, prefix length, the address's bits above the host
        # part): a lookup probes only the prefix lengths cached, most specific first.
        self._prefixes: dict[tuple[int, int, int], _Entry] = {}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}  # by version, longest first
        self._misses: dict[Address, _Entry] = {}  # not-found answers, by IP, this run only
        self._as_orgs: dict[int, str | None] = {}
        # One question at a time per /24 (/48) block: threads that miss the cache for addresses
        # of one block wait for the first one's answer instead of each asking.
        self._flights = KeyedLocks()
        self._store = CacheStore(db) if db is not None else None

    # -- public ---------------------------------------------------------------------------

    def lookup(self, ip: str) -> CymruAnswer:
        """Team Cymru's answer for ``ip``; raises ValueError only for text that is not an IP."""
        address = ipaddress.ip_address(ip)
        if not address.is_global:
            return _not_applicable(not_routed(address) or f"{address} is not a globally routed address")
        cached = self._cached(address)
        if cached is not None:
            return cached
        try:
            net = ipwhois_net(address)  # ipwhois's own list of defined ranges, too
        except IPDefinedError as error:
            return _not_applicable(str(error))
        if self._resolver is None:
            return CymruAnswer(None, None, None, None, None, "error", self._resolver_error)
        with self._flights.hold(block_key(address)):
            cached = self._cached(address)  # answered while we waited for the block?
            if cached is not None:
                return cached
            answer, cacheable = self._ask(net)
            if cacheable:
                self._remember(address, answer)
        return answer

    def close(self) -> None:
        """Write what the cache still holds back to the store and let go of its connection."""
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> CymruClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- cache ----------------------------------------------------------------------------

    def _cached(self, address: Address) -> CymruAnswer | None:
        oldest = cutoff(self.max_age_days)
        value, bits, version = int(address), address.max_prefixlen, address.version
        with self._lock:
            miss = self._misses.get(address)
            if miss is not None and miss.fetched_at > oldest:
                return miss.answer
            for length in self._lengths[version]:
                entry = self._prefixes.get((version, length, value >> (bits - length)))
                if entry is not None and entry.fetched_at > oldest:
                    return entry.answer
        if self._store is None:
            return None
        key = address_hex(address)
        row = narrowest(
            self._store.query(
                "SELECT * FROM asn_prefixes WHERE start_hex <= ? AND end_hex >= ? AND fetched_at > ?",
                (key, key, oldest),
            )
        )
        if row is None:
            return None
        answer = CymruAnswer(
            row["asn"], row["as_org"], row["prefix"], row["registry"], row["registry_country"], "ok"
        )
        try:
            network = ipaddress.ip_network(row["prefix"], strict=False)
        except ValueError:
            return answer
        self._keep(network, _Entry(answer, row["fetched_at"]))
        return answer

    def _keep(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, entry: _Entry) -> None:
        version, length = network.version, network.prefixlen
        key = (version, length, int(network.network_address) >> (network.max_prefixlen - length))
        with self._lock:
            self._prefixes[key] = entry
            lengths = self._lengths[version]
            if length not in lengths:
                lengths.append(length)
                lengths.sort(reverse=True)

    def _remember(self, address: Address, answer: CymruAnswer) -> None:
        fetched_at = utcnow()
        if answer.status != "ok" or answer.prefix is None:
            with self._lock:
                self._misses[address] = _Entry(answer, fetched_at)
            return
        network = ipaddress.ip_network(answer.prefix, strict=False)
        self._keep(network, _Entry(answer, fetched_at))
        if self._store is not None:
            self._store.write([(
                """INSERT INTO asn_prefixes
                       (prefix, start_hex, end_hex, asn, as_org, registry, registry_country, fetched_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(prefix) DO UPDATE SET
                       start_hex = excluded.start_hex, end_hex = excluded.end_hex,
                       asn = excluded.asn, as_org = excluded.as_org, registry = excluded.registry,
                       registry_country = excluded.registry_country, fetched_at = excluded.fetched_at""",
                (
                    answer.prefix,
                    address_hex(network[0]),
                    address_hex(network[-1]),
                    answer.asn,
                    answer.as_org,
                    answer.registry,
                    answer.registry_country,
                    fetched_at,
                ),
            )])

    # -- the questions --------------------------------------------------------------------

    def _ask(self, net: ipwhois.net.Net) -> tuple[CymruAnswer, bool]:
        """The answer, and whether it may be cached (not when something failed on the way)."""
        zone = net.dns_zone
        texts, failure = self._txt(zone)
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
        as_org, conclusive = self._as_org(net, asn)
        registry = best["asn_registry"] or None
        answer = CymruAnswer(
            asn=asn,
            as_org=as_org,
            prefix=_clean_prefix(best["asn_cidr"]),
            registry=registry,
            registry_country=best["asn_country_code"] or None,
            status="ok",
        )
        return answer, conclusive and answer.prefix is not None

    def _as_org(self, net: ipwhois.net.Net, asn: int) -> tuple[str | None, bool]:
        """The AS description, and whether the answer was conclusive (not a timeout)."""
        with self._lock:
            if asn in self._as_orgs:
                return self._as_orgs[asn], True
        texts, failure = self._txt(f"AS{asn}.asn.cymru.com.")
        if failure is not None:
            status, _ = failure
            if status != "not-found":
                return None, False
            org = None
        else:
            try:
                org = IPASN(net).parse_fields_verbose_dns(texts[0])["asn_description"] or None
            except (ASNRegistryError, ASNParseError):
                org = None
        with self._lock:
            self._as_orgs[asn] = org
        return org, True

    def _txt(self, name: str) -> tuple[list[str], tuple[CymruStatus, str] | None]:
        """The TXT strings of ``name``, or (status, detail) when there are none."""
        assert self._resolver is not None
        try:
            answer = self._resolver.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as error:
            return [], ("not-found", f"{name}: {type(error).__name__}")
        except dns.exception.Timeout:
            return [], ("error", f"{name}: timeout after {self._resolver.lifetime:g} s")
        except dns.resolver.NoNameservers as error:
            return [], ("error", f"{name}: no nameserver answered ({error})")
        except dns.exception.DNSException as error:
            return [], ("error", f"{name}: {type(error).__name__}: {error}")
        # One TXT record may hold several strings (each at most 255 bytes): one text.
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer], None


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
