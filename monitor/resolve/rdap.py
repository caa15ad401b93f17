"""The RDAP network of an IP: name, handle, CIDR, country and abuse e-mails, from its registry.

The query is ``{rdap.servers[registry]}/ip/{address}``, the registry being the one Team Cymru
named for the IP; when it is unknown, ARIN's server, which redirects to the right registry
(urllib follows redirects). ipwhois's ``RDAP.lookup`` can only fetch from the registries' real
servers (see monitor/sim/rdap.py), so we fetch the JSON ourselves and give it to ipwhois to parse:
``RDAP(net).lookup(response=raw, bootstrap=True, root_ent_check=False, depth=0, retry_count=0)``
fetches nothing more. Fetching ourselves also lets us honour Retry-After, which ipwhois ignores
(it sleeps a fixed 120 s on a 429).

Abuse e-mails come from the entities with the role "abuse": for root-level entities as ipwhois
parsed their vCard (``objects[handle]['contact']['email']``); an abuse entity nested inside
another (ARIN puts it under the registrant organisation) is not parsed by ipwhois at depth 0 -
depth 1 would fetch it again from the real registry - so its vCard's ``email`` entries are read
straight from the response, which carries them.

Cache: per network, in the store's ``rdap_networks`` table for ``rdap.cache_days`` (found by
address range on its *_hex columns; an IP inside a cached, fresh network asks no server) and in
memory for the client's life. ``cache_days: 0`` turns the cache off. A network seen again with
the same data only has its fetched_at moved; changed data gets a new row, so that rows
``ip_states.rdap_network`` points at keep what was seen then. The store is reached as described
in monitor/resolve/cymru.py (``CacheStore``): a connection of the client's own, under a lock.
The memory cache is an index by range (``_NetworkIndex``: O(log n) per distinct network size).

Threads: threads that miss the cache for addresses of one /24 (IPv6: /48) block fetch one at a
time, each looking at the cache again first; and every thread looks at the cache again when the
rate limiter lets it go, so a network that another thread fetched meanwhile is not fetched again.

Rate limits: ``rdap.rate_limits`` queries a minute per registry (60 when not listed), spaced
evenly across all threads of the client (monitor/resolve/ratelimit.py). A 429 pauses that
registry for Retry-After seconds (capped at ``max_retry_wait``; 5 s, doubling, when the server
gives none) and retries, ``retries`` times; then the answer is ``rate-limited``.

Proxies: for the registries' real servers the environment's proxy settings (``https_proxy``,
``no_proxy``...) are honoured, as for any well-behaved HTTP client on a network that needs them;
a server on a loopback address (tests, the demo) is always reached directly, because proxies do
not carry 127.0.0.1 back to us.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import threading
import urllib.parse
import urllib.request
from bisect import bisect_right, insort
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeAlias
from urllib.error import HTTPError, URLError

from ipwhois.exceptions import BaseIpwhoisException, IPDefinedError
from ipwhois.rdap import RDAP as IpwhoisRDAP
from sqlite_utils import Database

from ..config import RDAP
from ..store import utcnow
from .cymru import (
    Address,
    CacheStore,
    KeyedLocks,
    address_hex,
    block_key,
    cutoff,
    ipwhois_net,
    narrowest,
    not_routed,
)
from .ratelimit import DEFAULT_PER_MINUTE, RateLimits
from .update import user_agent

__all__ = ["RdapAnswer", "RdapClient", "RdapNetwork"]

log = logging.getLogger(__name__)

RdapStatus: TypeAlias = Literal["ok", "not-found", "rate-limited", "error", "not-applicable", "disabled"]

FALLBACK_REGISTRY = "arin"  # its server redirects a query for any address to the right registry
USER_AGENT = user_agent("RDAP client")
ACCEPT = "application/rdap+json, application/json;q=0.9"
DEFAULT_RETRY_WAIT = 5.0

# The whois server an RDAP network names (port43) tells its registry after a redirect.
_PORT43 = {
    "whois.arin.net": "arin",
    "whois.ripe.net": "ripencc",
    "whois.apnic.net": "apnic",
    "whois.lacnic.net": "lacnic",
    "whois.afrinic.net": "afrinic",
}


@dataclass(frozen=True, slots=True)
class RdapNetwork:
    """A registry's network object. ``cidr``: one or more prefixes, ", "-separated (a network
    may be a range that no single prefix covers). ``country`` is None where the registry gives
    none (ARIN networks)."""

    registry: str | None
    handle: str | None
    name: str | None
    cidr: str | None
    start_address: str | None
    end_address: str | None
    country: str | None
    abuse_emails: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RdapAnswer:
    """status: ``ok`` (network set); ``not-found`` (404: no registry network holds the IP);
    ``rate-limited`` (429 still after the retries); ``error`` (timeout, refused, other HTTP
    status, unparseable answer; see detail); ``not-applicable`` (private or reserved IP, nothing
    asked); ``disabled`` (rdap.enabled is false)."""

    network: RdapNetwork | None
    status: RdapStatus
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class _Cached:
    start: int
    end: int
    version: int
    network: RdapNetwork
    fetched_at: str


class _NetworkIndex:
    """The networks in memory, by address range; not thread-safe (the client holds its lock).

    One entry per range (version, start, end), the newest. For each range size, the sorted starts
    of the ranges of that size: the one holding an address, if any, is the last start <= the
    address (bisect), because ranges of one size that start earlier also end earlier. Sizes are
    probed narrowest first, so a lookup costs O(log n) per distinct size and finds the narrowest
    network holding the address. (Registry networks nest; they never overlap partially.)
    """

    __slots__ = ("_entries", "_starts", "_sizes")

    def __init__(self) -> None:
        self._entries: dict[tuple[int, int, int], _Cached] = {}
        self._starts: dict[tuple[int, int], list[int]] = {}  # (version, end - start) -> starts
        self._sizes: dict[int, list[int]] = {4: [], 6: []}  # by version, narrowest first

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: _Cached) -> None:
        key = (entry.version, entry.start, entry.end)
        known = self._entries.get(key)
        if known is not None:
            if entry.fetched_at >= known.fetched_at:
                self._entries[key] = entry
            return
        self._entries[key] = entry
        size = entry.end - entry.start
        starts = self._starts.get((entry.version, size))
        if starts is None:
            starts = self._starts[entry.version, size] = []
            insort(self._sizes[entry.version], size)
        insort(starts, entry.start)

    def narrowest(self, version: int, value: int, oldest: str) -> _Cached | None:
        """The narrowest network holding the address ``value`` fetched after ``oldest``."""
        for size in self._sizes[version]:
            starts = self._starts[version, size]
            index = bisect_right(starts, value) - 1
            if index >= 0 and value <= starts[index] + size:
                entry = self._entries[version, starts[index], starts[index] + size]
                if entry.fetched_at > oldest:
                    return entry
        return None


class RdapClient:
    """RDAP lookups with a per-network cache and per-registry rate limits; thread-safe.

        client = RdapClient(config.rdap, db)
        client.lookup("62.239.237.1", "ripencc").network
        # RdapNetwork(registry='ripencc', handle='62.239.237.0 - 62.239.237.255',
        #             name='BT-CORPORATE', cidr='62.239.237.0/24', ..., country='GB',
        #             abuse_emails=('zzdnsr@bt.com', ...))
        client.close()
    """

    def __init__(
        self,
        rdap_config: RDAP,
        db: Database | None = None,
        max_retry_wait: float = 60.0,
        *,
        retries: int = 2,
        default_retry_wait: float = DEFAULT_RETRY_WAIT,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.config = rdap_config
        self.max_retry_wait = max_retry_wait
        self.retries = retries
        self.default_retry_wait = default_retry_wait
        self.user_agent = user_agent
        self.limits = RateLimits(rdap_config.rate_limits, default=DEFAULT_PER_MINUTE)
        self._lock = threading.Lock()
        self._networks = _NetworkIndex()
        self._misses: dict[Address, tuple[RdapAnswer, str]] = {}  # 404s, by IP, this run only
        # One fetch at a time per /24 (/48) block; see lookup.
        self._flights = KeyedLocks()
        self._direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._proxied = urllib.request.build_opener()  # ProxyHandler() reads the environment
        self._store = CacheStore(db) if db is not None and rdap_config.enabled else None

    # -- public ---------------------------------------------------------------------------

    def lookup(self, ip: str, registry: str | None = None) -> RdapAnswer:
        """The RDAP network of ``ip``, asked of ``registry`` (Cymru's; ARIN's server when None).

        Raises ValueError only for text that is not an IP address.
        """
        address = ipaddress.ip_address(ip)
        if not self.config.enabled:
            return RdapAnswer(None, "disabled", "rdap.enabled is false")
        if not address.is_global:
            return RdapAnswer(None, "not-applicable", not_routed(address) or f"{address} is not globally routed")
        cached = self._cached(address)
        if cached is not None:
            return cached
        try:
            net = ipwhois_net(address)  # only a vehicle for ipwhois's parser: it fetches nothing
        except IPDefinedError as error:
            return RdapAnswer(None, "not-applicable", str(error))
        server = self._server(registry)
        if server is None:
            detail = f"no RDAP server for {registry or 'an unknown registry'} in rdap.servers"
            return RdapAnswer(None, "error", detail)
        asked, base = server
        url = f"{base.rstrip('/')}/ip/{address}"
        # Single flight: threads that miss the cache for addresses of one block fetch one at a
        # time, each looking at the cache again first, so a network is fetched once, not once
        # per thread. Addresses of one network in other blocks are caught by the look at the
        # cache after the rate limiter's wait (see _fetch).
        with self._flights.hold(block_key(address)):
            cached = self._cached(address)
            if cached is not None:
                return cached
            fetched = self._fetch(asked, url, address)
            if isinstance(fetched, RdapAnswer):
                if fetched.status == "not-found":
                    self._remember_miss(address, fetched)
                return fetched
            raw, final_url = fetched
            try:
                network = self._parse(net, raw, self._registry_of(final_url, raw, asked))
            except (BaseIpwhoisException, KeyError, TypeError, ValueError, AttributeError) as error:
                return RdapAnswer(None, "error", f"{url}: not an RDAP network object ({type(error).__name__}: {error})")
            self._remember(network)
        return RdapAnswer(network, "ok")

    def close(self) -> None:
        """Write what the cache still holds back to the store and let go of its connection."""
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> RdapClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- HTTP -----------------------------------------------------------------------------

    def _server(self, registry: str | None) -> tuple[str, str] | None:
        for candidate in (registry, FALLBACK_REGISTRY):
            if candidate and candidate in self.config.servers:
                return candidate, self.config.servers[candidate]
        return None

    def _opener(self, url: str) -> urllib.request.OpenerDirector:
        host = urllib.parse.urlsplit(url).hostname or ""
        if host == "localhost":
            return self._direct
        try:
            return self._direct if ipaddress.ip_address(host).is_loopback else self._proxied
        except ValueError:
            return self._proxied

    def _fetch(self, registry: str, url: str, address: Address) -> tuple[dict[str, Any], str] | RdapAnswer:
        """(JSON, final URL after redirects); or the answer without a fetch: the failure, or the
        cached network that another thread fetched while this one waited for the rate limiter."""
        request = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": self.user_agent})
        opener = self._opener(url)
        retried = 0
        while True:
            self.limits.acquire(registry)
            cached = self._cached(address)
            if cached is not None:
                return cached
            retry_after: str | None = None
            try:
                with opener.open(request, timeout=self.config.timeout) as response:
                    body = response.read()
                    final_url = response.geturl()
                data = json.loads(body.decode("utf-8", "replace"))
                if not isinstance(data, dict):
                    return RdapAnswer(None, "error", f"{url}: the answer is not a JSON object")
                if not _rate_limit_notice(data):
                    return data, final_url
                # Some registries answer 200 with a "Rate Limit Notice" instead of a 429.
                status = 429
            except HTTPError as error:
                with error:
                    status = error.code
                    retry_after = error.headers.get("Retry-After") if error.headers else None
                if status == 404:
                    return RdapAnswer(None, "not-found", f"{url}: HTTP 404")
                if status != 429:
                    return RdapAnswer(None, "error", f"{url}: HTTP {status} {error.reason}")
            except (URLError, OSError, http.client.HTTPException) as error:  # timeouts, refusals...
                reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
                return RdapAnswer(None, "error", f"{url}: {reason}")
            except ValueError as error:  # JSONDecodeError
                return RdapAnswer(None, "error", f"{url}: not JSON ({error})")
            if retried >= self.retries:
                detail = f"{url}: HTTP 429 (rate limited) after {retried} retries"
                return RdapAnswer(None, "rate-limited", detail)
            wait = self._retry_wait(retry_after, retried)
            log.info("RDAP %s: rate limited, retrying in %.1f s", registry, wait)
            # Every thread asking this registry waits, not only this one.
            self.limits.defer(registry, wait)
            retried += 1

    def _retry_wait(self, retry_after: str | None, retried: int) -> float:
        """Seconds to wait: Retry-After (seconds or an HTTP date), else a doubling default;
        never more than max_retry_wait."""
        wait = None
        if retry_after:
            text = retry_after.strip()
            try:
                wait = float(text)
            except ValueError:
                try:
                    when = parsedate_to_datetime(text)
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=timezone.utc)
                    wait = (when - datetime.now(timezone.utc)).total_seconds()
                except (TypeError, ValueError, IndexError):
                    wait = None
        if wait is None or wait != wait:  # missing, unparseable or NaN
            wait = self.default_retry_wait * 2**retried
        return min(max(wait, 0.0), self.max_retry_wait)

    def _registry_of(self, final_url: str, raw: dict[str, Any], asked: str) -> str:
        """Whose network this is. ARIN's server redirects to the registry holding the address, so
        the server asked may not be the answer's. The network's own whois server (port43) says
        it best; else the configured server the final URL belongs to; else the one asked."""
        port43 = raw.get("port43")
        if isinstance(port43, str) and port43.strip().lower() in _PORT43:
            return _PORT43[port43.strip().lower()]
        if not final_url.startswith(self.config.servers[asked].rstrip("/") + "/"):
            matches = [
                (len(base), registry)
                for registry, base in self.config.servers.items()
                if final_url.startswith(base.rstrip("/") + "/")
            ]
            if matches:
                return max(matches)[1]
        return asked

    # -- parsing --------------------------------------------------------------------------

    def _parse(self, net: Any, raw: dict[str, Any], registry: str) -> RdapNetwork:
        parsed = IpwhoisRDAP(net).lookup(
            response=raw, bootstrap=True, root_ent_check=False, depth=0, retry_count=0
        )
        found = parsed["network"]
        start = _address(found.get("start_address"))
        end = _address(found.get("end_address"))
        if start is None or end is None or start.version != end.version or int(start) > int(end):
            raise ValueError("no valid startAddress/endAddress")
        country = found.get("country")
        return RdapNetwork(
            registry=registry,
            handle=found.get("handle") or None,
            name=found.get("name") or None,
            cidr=found.get("cidr") or None,
            start_address=str(start),
            end_address=str(end),
            country=country.upper() if isinstance(country, str) and country else None,
            abuse_emails=_abuse_emails(raw, parsed.get("objects") or {}),
        )

    # -- cache ----------------------------------------------------------------------------

    def _cached(self, address: Address) -> RdapAnswer | None:
        if self.config.cache_days <= 0:
            return None
        oldest = cutoff(self.config.cache_days)
        with self._lock:
            miss = self._misses.get(address)
            if miss is not None and miss[1] > oldest:
                return miss[0]
            best = self._networks.narrowest(address.version, int(address), oldest)
        if best is not None:
            return RdapAnswer(best.network, "ok")
        if self._store is None:
            return None
        key = address_hex(address)
        row = narrowest(
            self._store.query(
                "SELECT * FROM rdap_networks WHERE start_hex <= ? AND end_hex >= ? AND fetched_at > ?",
                (key, key, oldest),
            )
        )
        if row is None:
            return None
        try:
            emails = tuple(json.loads(row["abuse_emails"] or "[]"))
        except ValueError:
            emails = ()
        network = RdapNetwork(
            registry=row["registry"],
            handle=row["handle"],
            name=row["name"],
            cidr=row["cidr"],
            start_address=row["start_address"],
            end_address=row["end_address"],
            country=row["country"],
            abuse_emails=emails,
        )
        self._keep(network, row["fetched_at"])
        return RdapAnswer(network, "ok")

    def _keep(self, network: RdapNetwork, fetched_at: str) -> bool:
        start, end = _address(network.start_address), _address(network.end_address)
        if start is None or end is None:
            return False
        with self._lock:
            self._networks.add(_Cached(int(start), int(end), start.version, network, fetched_at))
        return True

    def _remember_miss(self, address: Address, answer: RdapAnswer) -> None:
        with self._lock:
            self._misses[address] = (answer, utcnow())

    def _remember(self, network: RdapNetwork) -> None:
        fetched_at = utcnow()
        if not self._keep(network, fetched_at) or self._store is None:
            return
        start, end = _address(network.start_address), _address(network.end_address)
        assert start is not None and end is not None
        values = {
            "registry": network.registry,
            "handle": network.handle,
            "name": network.name,
            "cidr": network.cidr,
            "start_address": network.start_address,
            "end_address": network.end_address,
            "country": network.country,
            "abuse_emails": json.dumps(list(network.abuse_emails)),
            "start_hex": address_hex(start),
            "end_hex": address_hex(end),
        }
        same = " AND ".join(f"{column} IS ?" for column in values)
        columns = ", ".join([*values, "fetched_at"])
        marks = ", ".join("?" * (len(values) + 1))
        self._store.write([
            # Seen before, unchanged: only fetched_at moves.
            (f"UPDATE rdap_networks SET fetched_at = ? WHERE {same}", (fetched_at, *values.values())),
            (
                f"INSERT INTO rdap_networks ({columns}) SELECT {marks} "
                f"WHERE NOT EXISTS (SELECT 1 FROM rdap_networks WHERE {same})",
                (*values.values(), fetched_at, *values.values()),
            ),
        ])


def _address(text: Any) -> Address | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_address(text.strip().split("/")[0])
    except ValueError:
        return None


def _rate_limit_notice(data: dict[str, Any]) -> bool:
    notices = data.get("notices")
    if not isinstance(notices, list):
        return False
    return any(isinstance(n, dict) and n.get("title") == "Rate Limit Notice" for n in notices)


def _abuse_emails(raw: dict[str, Any], objects: dict[str, Any]) -> tuple[str, ...]:
    """The e-mail addresses of the entities with the role "abuse", at any depth, once each."""
    emails: list[str] = []

    def visit(entities: Any, root: bool) -> None:
        if not isinstance(entities, list):
            return
        for entity in entities:
            if not isinstance(entity, dict):
                continue
            roles = entity.get("roles") or []
            if isinstance(roles, list) and "abuse" in [str(role).lower() for role in roles]:
                parsed = objects.get(entity.get("handle")) if root else None
                contact = parsed.get("contact") if isinstance(parsed, dict) else None
                if isinstance(contact, dict):
                    emails.extend(e.get("value") for e in contact.get("email") or [] if isinstance(e, dict))
                else:
                    emails.extend(_vcard_emails(entity))
            visit(entity.get("entities"), False)

    visit(raw.get("entities"), True)
    seen: set[str] = set()
    unique = []
    for email in emails:
        if isinstance(email, str) and email.strip() and email.strip().lower() not in seen:
            seen.add(email.strip().lower())
            unique.append(email.strip())
    return tuple(unique)


def _vcard_emails(entity: dict[str, Any]) -> list[str]:
    """The email properties of an entity's jCard (RFC 7095): ["email", {params}, "text", value]."""
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return []
    return [
        prop[3]
        for prop in card[1]
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email" and isinstance(prop[3], str)
    ]
