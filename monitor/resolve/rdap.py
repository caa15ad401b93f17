"""The RDAP network of IPs: name, handle, CIDR, country and abuse e-mails, from their registries.

The query is ``{rdap.servers[registry]}/ip/{address}``, the registry being the one Team Cymru
named for the IP; when it is unknown, ARIN's server, which redirects to the right registry
(urllib follows redirects). ipwhois's ``RDAP.lookup`` can only fetch from the registries' real
servers (see monitor/sim/rdap.py), so we fetch the JSON ourselves and give it to ipwhois to parse
(monitor/resolve/rdapparse.py). Fetching ourselves also lets us honour Retry-After, which ipwhois
ignores (it sleeps a fixed 120 s on a 429).

The client is pure: cached rows in (``remember``), answers and rows to cache out
(``lookup_many``); the enricher reads and writes the store. In memory it keeps, for its life, the
networks it knows (one longest-prefix index, the narrowest network holding an address answers)
and the addresses no registry holds (404s, this run only). ``rdap.cache_days: 0`` answers
nothing from memory; rows are still handed out (the crawl's ip_states point at them).

Threads: fetches (HTTP and parsing) run in a pool; everything else - the index, rate limits,
retries - in the caller's thread, which schedules them: one fetch at a time per /24 (IPv6: /48)
block, and before each fetch a look at the index, so an address whose network another fetch
brought in meanwhile is not fetched again.

Rate limits: ``rdap.rate_limits`` queries a minute per registry (60 when not listed), evenly
spaced (monitor/resolve/ratelimit.py). A 429 pauses that registry for Retry-After seconds (capped
at ``max_retry_wait``; 5 s, doubling, when the server gives none) and retries, ``retries``
times; then the answer is ``rate-limited``.

Proxies: for the registries' real servers the environment's proxy settings (``https_proxy``,
``no_proxy``...) are honoured; a server on a loopback address (tests, the demo) is always reached
directly, because proxies do not carry 127.0.0.1 back to us.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeAlias
from urllib.error import HTTPError, URLError

from ipwhois.exceptions import BaseIpwhoisException, IPDefinedError

from ..config import RDAP
from ..ips import Address, block_key, not_routed
from ..store import utcnow
from ..store.caches import NetworkRow, fresh_after
from .cymru import ipwhois_net
from .prefixes import PrefixIndex
from .ratelimit import DEFAULT_PER_MINUTE, RateLimits
from .rdapparse import RdapNetwork, address_of, parse_network, rate_limit_notice, registry_of
from .update import user_agent

__all__ = ["RdapAnswer", "RdapClient", "RdapNetwork", "RdapResults"]

log = logging.getLogger(__name__)

RdapStatus: TypeAlias = Literal["ok", "not-found", "rate-limited", "error", "not-applicable", "disabled"]

FALLBACK_REGISTRY = "arin"  # its server redirects a query for any address to the right registry
USER_AGENT = user_agent("RDAP client")
ACCEPT = "application/rdap+json, application/json;q=0.9"
DEFAULT_RETRY_WAIT = 5.0
DEFAULT_THREADS = 8  # fetches in flight; the rate limits keep each registry far below this


@dataclass(frozen=True, slots=True)
class RdapAnswer:
    """status: ``ok`` (network set); ``not-found`` (404: no registry network holds the IP);
    ``rate-limited`` (429 still after the retries); ``error`` (timeout, refused, other HTTP
    status, unparseable answer; see detail); ``not-applicable`` (private or reserved IP, nothing
    asked); ``disabled`` (rdap.enabled is false)."""

    network: RdapNetwork | None
    status: RdapStatus
    detail: str | None = None


@dataclass(slots=True)
class RdapResults:
    """``answers`` by IP as given; ``rows``: the networks fetched, for the store's cache."""

    answers: dict[str, RdapAnswer] = field(default_factory=dict)
    rows: list[NetworkRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _RateLimited:
    retry_after: str | None


@dataclass(slots=True)
class _Job:
    ip: str
    address: Address
    registry: str  # the one whose server is asked, and whose rate limit applies
    url: str
    retried: int = 0


class RdapClient:
    """RDAP lookups with an in-memory network cache and per-registry rate limits.

        with RdapClient(config.rdap) as client:
            client.remember(rows_from_the_store)
            results = client.lookup_many([("62.239.237.1", "ripencc")])
            results.answers["62.239.237.1"].network
            # RdapNetwork(registry='ripencc', handle='62.239.237.0 - 62.239.237.255',
            #             name='BT-CORPORATE', cidr='62.239.237.0/24', ..., country='GB',
            #             abuse_emails=('zzdnsr@bt.com', ...))
            results.rows   # [NetworkRow(...)]: for the store

    Not thread-safe: one caller thread (the fetches run in the client's own pool).
    """

    def __init__(
        self,
        rdap_config: RDAP,
        *,
        max_retry_wait: float = 60.0,
        retries: int = 2,
        default_retry_wait: float = DEFAULT_RETRY_WAIT,
        user_agent: str = USER_AGENT,
        threads: int = DEFAULT_THREADS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = rdap_config
        self.max_retry_wait = max_retry_wait
        self.retries = retries
        self.default_retry_wait = default_retry_wait
        self.user_agent = user_agent
        self.threads = max(1, threads)
        self.limits = RateLimits(rdap_config.rate_limits, default=DEFAULT_PER_MINUTE, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._index = PrefixIndex()  # RdapNetwork by address range
        self._misses: dict[Address, RdapAnswer] = {}  # 404s, by IP, this run only
        self._direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._proxied = urllib.request.build_opener()  # ProxyHandler() reads the environment
        self._pool: ThreadPoolExecutor | None = None
        self.closed = False

    # -- public ---------------------------------------------------------------------------

    def remember(self, rows: Iterable[NetworkRow]) -> None:
        """Take networks the store cached (fresh ones only count) into memory."""
        if self.config.cache_days <= 0:
            return
        oldest = fresh_after(self.config.cache_days)
        for row in rows:
            if row.fetched_at > oldest:
                self._keep(RdapNetwork(row.registry, row.handle, row.name, row.cidr, row.start_address,
                                       row.end_address, row.country, tuple(row.abuse_emails)), row.fetched_at)

    def missing(self, ips: Iterable[str]) -> list[str]:
        """Of ``ips``, those this client would fetch: routed, not known here."""
        if not self.config.enabled or self.config.cache_days <= 0:
            return []
        return [ip for ip in ips if (a := ipaddress.ip_address(ip)).is_global and self._cached(a) is None]

    def lookup_many(self, requests: Sequence[tuple[str, str | None]]) -> RdapResults:
        """The RDAP network of each (ip, registry): registry as Team Cymru named it, None when
        unknown (ARIN's server is asked). ValueError for text that is not an IP address."""
        results = RdapResults()
        waiting: list[_Job] = []
        for ip, registry in requests:
            if ip in results.answers or any(job.ip == ip for job in waiting):
                continue
            address = ipaddress.ip_address(ip)
            early = self._without_fetching(address, registry)
            if isinstance(early, RdapAnswer):
                results.answers[ip] = early
            else:
                asked, base = early
                waiting.append(_Job(ip, address, asked, f"{base.rstrip('/')}/ip/{address}"))
        self._schedule(waiting, results)
        return results

    def lookup(self, ip: str, registry: str | None = None) -> RdapAnswer:
        """The RDAP network of one IP; raises ValueError only for text that is not an IP."""
        return self.lookup_many([(ip, registry)]).answers[ip]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self.closed = True

    def __enter__(self) -> RdapClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- scheduling (the caller's thread) -----------------------------------------------------

    def _without_fetching(self, address: Address, registry: str | None) -> RdapAnswer | tuple[str, str]:
        """The answer when no fetch is needed, else (registry asked, its server's base URL)."""
        if not self.config.enabled:
            return RdapAnswer(None, "disabled", "rdap.enabled is false")
        if not address.is_global:
            return RdapAnswer(None, "not-applicable", not_routed(address) or f"{address} is not globally routed")
        cached = self._cached(address)
        if cached is not None:
            return cached
        try:
            ipwhois_net(address)  # ipwhois's own list of defined ranges, too
        except IPDefinedError as error:
            return RdapAnswer(None, "not-applicable", str(error))
        for candidate in (registry, FALLBACK_REGISTRY):
            if candidate and candidate in self.config.servers:
                return candidate, self.config.servers[candidate]
        return RdapAnswer(None, "error", f"no RDAP server for {registry or 'an unknown registry'} in rdap.servers")

    def _schedule(self, waiting: list[_Job], results: RdapResults) -> None:
        """Fetch what ``waiting`` needs: at most one fetch per block in flight, each registry
        at its rate, the index looked at again before every fetch."""
        running: dict[Future[Any], _Job] = {}
        while waiting or running:
            busy = {block_key(job.address) for job in running.values()}
            soonest: float | None = None
            still: list[_Job] = []
            for job in waiting:
                cached = self._cached(job.address)
                if cached is not None:
                    results.answers[job.ip] = cached
                    continue
                limiter = self.limits.limiter(job.registry)
                delay = limiter.delay()
                if block_key(job.address) in busy or len(running) >= self.threads or delay > 0:
                    if delay > 0:
                        soonest = delay if soonest is None else min(soonest, delay)
                    still.append(job)
                    continue
                limiter.take()
                busy.add(block_key(job.address))
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="rdap")
                running[self._pool.submit(self._fetch, job)] = job
            waiting = still
            if running:
                done, _ = wait(running, timeout=soonest, return_when=FIRST_COMPLETED)
                for future in done:
                    self._settle(running.pop(future), future.result(), results, waiting)
            elif waiting:
                self._sleep(soonest or 0.0)  # nothing in flight: wait for the next free slot

    def _settle(self, job: _Job, outcome: RdapAnswer | _RateLimited, results: RdapResults,
                waiting: list[_Job]) -> None:
        if isinstance(outcome, _RateLimited):
            if job.retried >= self.retries:
                detail = f"{job.url}: HTTP 429 (rate limited) after {job.retried} retries"
                results.answers[job.ip] = RdapAnswer(None, "rate-limited", detail)
                return
            pause = self._retry_wait(outcome.retry_after, job.retried)
            log.info("RDAP %s: rate limited, retrying in %.1f s", job.registry, pause)
            self.limits.defer(job.registry, pause)  # every request to this registry waits
            job.retried += 1
            waiting.insert(0, job)
            return
        results.answers[job.ip] = outcome
        if outcome.status == "not-found" and self.config.cache_days > 0:
            self._misses[job.address] = outcome
        if outcome.network is not None:
            fetched_at = utcnow()
            self._keep(outcome.network, fetched_at)
            results.rows.append(_row(outcome.network, fetched_at))

    def _retry_wait(self, retry_after: str | None, retried: int) -> float:
        """Seconds to wait: Retry-After (seconds or an HTTP date), else a doubling default;
        never more than max_retry_wait."""
        wait_s = None
        if retry_after:
            text = retry_after.strip()
            try:
                wait_s = float(text)
            except ValueError:
                try:
                    when = parsedate_to_datetime(text)
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=timezone.utc)
                    wait_s = (when - datetime.now(timezone.utc)).total_seconds()
                except (TypeError, ValueError, IndexError):
                    wait_s = None
        if wait_s is None or wait_s != wait_s:  # missing, unparseable or NaN
            wait_s = self.default_retry_wait * 2**retried
        return min(max(wait_s, 0.0), self.max_retry_wait)

    # -- memory ---------------------------------------------------------------------------

    def _cached(self, address: Address) -> RdapAnswer | None:
        if self.config.cache_days <= 0:
            return None
        miss = self._misses.get(address)
        if miss is not None:
            return miss
        network = self._index.narrowest(address)
        return None if network is None else RdapAnswer(network, "ok")

    def _keep(self, network: RdapNetwork, fetched_at: str) -> None:
        start, end = address_of(network.start_address), address_of(network.end_address)
        if start is not None and end is not None and start.version == end.version and int(start) <= int(end):
            self._index.add_range(start, end, network, fetched_at)

    # -- fetching (in the pool: HTTP and parsing, nothing shared) ------------------------------

    def _fetch(self, job: _Job) -> RdapAnswer | _RateLimited:
        request = urllib.request.Request(job.url, headers={"Accept": ACCEPT, "User-Agent": self.user_agent})
        url = job.url
        try:
            with self._opener(url).open(request, timeout=self.config.timeout) as response:
                body = response.read()
                final_url = response.geturl()
            data = json.loads(body.decode("utf-8", "replace"))
        except HTTPError as error:
            with error:
                if error.code == 429:
                    return _RateLimited(error.headers.get("Retry-After") if error.headers else None)
                if error.code == 404:
                    return RdapAnswer(None, "not-found", f"{url}: HTTP 404")
                return RdapAnswer(None, "error", f"{url}: HTTP {error.code} {error.reason}")
        except (URLError, OSError, http.client.HTTPException) as error:  # timeouts, refusals...
            reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
            return RdapAnswer(None, "error", f"{url}: {reason}")
        except ValueError as error:  # JSONDecodeError
            return RdapAnswer(None, "error", f"{url}: not JSON ({error})")
        if not isinstance(data, dict):
            return RdapAnswer(None, "error", f"{url}: the answer is not a JSON object")
        if rate_limit_notice(data):
            return _RateLimited(None)
        registry = registry_of(data, final_url, job.registry, self.config.servers)
        try:
            # ipwhois_net: only a vehicle for ipwhois's parser; it fetches nothing
            network = parse_network(ipwhois_net(job.address), data, registry)
        except (BaseIpwhoisException, KeyError, TypeError, ValueError, AttributeError) as error:
            return RdapAnswer(None, "error", f"{url}: not an RDAP network object ({type(error).__name__}: {error})")
        return RdapAnswer(network, "ok")

    def _opener(self, url: str) -> urllib.request.OpenerDirector:
        host = urllib.parse.urlsplit(url).hostname or ""
        if host == "localhost":
            return self._direct
        try:
            return self._direct if ipaddress.ip_address(host).is_loopback else self._proxied
        except ValueError:
            return self._proxied


def _row(network: RdapNetwork, fetched_at: str) -> NetworkRow:
    assert network.start_address is not None and network.end_address is not None
    return NetworkRow(network.registry, network.handle, network.name, network.cidr, network.start_address,
                      network.end_address, network.country, network.abuse_emails, fetched_at)
