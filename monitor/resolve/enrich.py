"""Enrichment of an IP: country, ASN, registry country and prefix, RDAP network, edge network.

Each value says which database or service, and which build of it, produced it. The .mmdb files
answer in-process in microseconds; Team Cymru and RDAP are network services behind caches. The
Enricher is the parent side: a batch of IPs at a time, it reads the cached rows its clients
lack through the store (monitor/store/caches.py), lets the clients answer (Cymru's questions in
an event loop, RDAP's fetches in threads), and writes the rows they hand back in one
transaction, from the caller's thread only. A night asks each prefix and network at most once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ..config import Config
from ..errors import DatabaseFileError, ReadOnlyDatabase, StoreError
from ..store import caches
from .cymru import CymruAnswer, CymruClient
from .geo import AsnDB, CountryDB, Source, open_asn_db, open_country_db
from .networks import NetworkTable, load_networks
from .rdap import RdapAnswer, RdapClient

log = logging.getLogger(__name__)

# IPs per batch: cache rows are read and written, and IpInfos yielded, a batch at a time.
BATCH = 256

CYMRU = Source(name="team-cymru-dns", build="", path="")
# The shipped table of edge networks; its build is the date its facts were gathered, as
# data/SOURCES.md gives it (update both together).
NETWORKS = Source(name="networks.csv", build="2026-11-28", path="")


@dataclass(frozen=True)
class IpInfo:
    ip: str
    country: str | None = None
    asn: int | None = None
    as_org: str | None = None
    registry_country: str | None = None
    prefix: str | None = None
    cdn: str | None = None  # operator of the edge network (CDN, proxy, DDoS protection)
    rdap: RdapAnswer | None = None
    sources: dict[str, Source] = field(default_factory=dict)  # field name -> who said it

    @property
    def is_edge(self) -> bool:
        return self.cdn is not None

    def to_json(self) -> dict:
        """The `addresses` entry of the design's `lookup` JSON."""
        network = self.rdap.network if self.rdap else None
        return {
            "ip": self.ip,
            "country": self.country,
            "asn": self.asn,
            "as_org": self.as_org,
            "registry_country": self.registry_country,
            "prefix": self.prefix,
            "cdn": self.is_edge,
            "cdn_operator": self.cdn,
            "sources": {key: {"name": s.name, "build": s.build or None} for key, s in self.sources.items()},
            "rdap": None if network is None else {
                "name": network.name,
                "handle": network.handle,
                "cidr": network.cidr,
                "country": network.country,
                "abuse_emails": list(network.abuse_emails),
            },
            "rdap_status": self.rdap.status if self.rdap else "disabled",
        }


class Enricher:
    """Everything needed to enrich IPs under one config; open once per crawl, then close().

    ``db`` holds the Cymru and RDAP caches (None: no caches). A database that cannot be written
    (read-only) or is locked does not stop lookups: the rows are kept for a later try, or
    dropped, and said once in the log.
    """

    def __init__(self, config: Config, db: Database | None = None, *, threads: int = 16) -> None:
        self.country_db: CountryDB | None = None
        self.asn_db: AsnDB | None = None
        self.cymru: CymruClient | None = None
        self.rdap: RdapClient | None = None
        self.threads = threads
        self.db = db
        self._rdap_cache_days = config.rdap.cache_days
        self._unsaved: tuple[list[caches.PrefixRow], list[caches.NetworkRow]] = ([], [])
        self._save_later = False  # the store was locked: try again at close()
        self._said: set[str] = set()  # store problems already logged
        # Whatever fails on the way closes what was opened before it (ExitStack), and the
        # caller sees a MonitorError (the parts raise them for what a user can fix).
        with contextlib.ExitStack() as opened:
            self.country_db = _open(open_country_db, config.geoip.country_db, "geoip.country_db")
            if self.country_db is not None:
                opened.callback(self.country_db.close)
            self.asn_db = _open(open_asn_db, config.geoip.asn_db, "geoip.asn_db")
            if self.asn_db is not None:
                opened.callback(self.asn_db.close)
            if config.asn.cymru_dns:
                self.cymru = CymruClient(config.dns)
                opened.callback(self.cymru.close)
            if config.rdap.enabled:
                self.rdap = RdapClient(config.rdap, threads=threads)
                opened.callback(self.rdap.close)
            self.networks: NetworkTable = load_networks()
            opened.callback(self._save_unsaved)  # runs first at close: before the clients close
            self._opened = opened.pop_all()

    def sources(self) -> list[Source]:
        """The databases and services this enricher uses, for the crawl's record."""
        used = [db.source for db in (self.country_db, self.asn_db) if db is not None]
        if self.cymru:
            used.append(CYMRU)
        return used

    def enrich(self, ip: str) -> IpInfo:
        return next(self.enrich_many([ip]))

    def enrich_many(self, ips: Iterable[str]) -> Iterator[IpInfo]:
        """Enrich each IP once, in the order given; the network services answer a batch at a time."""
        unique = list(dict.fromkeys(ips))
        for start in range(0, len(unique), BATCH):
            yield from self._batch(unique[start : start + BATCH])

    def close(self) -> None:
        """Write the cache rows still unsaved, close the clients and the readers, in the reverse
        order of opening; a second call does nothing. The caller's ``db`` stays open."""
        self._opened.close()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- one batch ----------------------------------------------------------------------------

    def _batch(self, ips: Sequence[str]) -> Iterator[IpInfo]:
        cymru: dict[str, CymruAnswer] = {}
        rdap: dict[str, RdapAnswer] = {}
        prefix_rows: list[caches.PrefixRow] = []
        network_rows: list[caches.NetworkRow] = []
        if self.cymru is not None:
            self.cymru.remember(self._load(caches.load_prefixes, self.cymru.missing(ips), self.cymru.max_age_days))
            found = self.cymru.lookup_many(ips)
            cymru, prefix_rows = found.answers, found.rows
        if self.rdap is not None:
            self.rdap.remember(self._load(caches.load_networks, self.rdap.missing(ips), self._rdap_cache_days))
            # Cymru names the registry to ask (None: ARIN's server, which redirects).
            fetched = self.rdap.lookup_many([(ip, cymru[ip].registry if ip in cymru else None) for ip in ips])
            rdap, network_rows = fetched.answers, fetched.rows
        self._save(prefix_rows, network_rows)
        for ip in ips:
            yield self._info(ip, cymru.get(ip), rdap.get(ip))

    def _info(self, ip: str, cymru: CymruAnswer | None, rdap: RdapAnswer | None) -> IpInfo:
        sources: dict[str, Source] = {}
        country = asn = as_org = prefix = registry_country = None
        if self.country_db is not None:
            answer = self.country_db.lookup(ip)
            if answer.country:
                country, sources["country"] = answer.country, answer.source
        if self.asn_db is not None:
            answer = self.asn_db.lookup(ip)
            if answer.asn is not None:
                asn, as_org, sources["asn"] = answer.asn, answer.org, answer.source
        # Both clients answer `not-applicable` for addresses no registry knows (private, loopback).
        if cymru is not None and cymru.status == "ok":
            if asn is None and cymru.asn is not None:
                asn, as_org, sources["asn"] = cymru.asn, cymru.as_org, CYMRU
            prefix, registry_country = cymru.prefix, cymru.registry_country
            sources["prefix"] = sources["registry_country"] = CYMRU
        if rdap is not None and rdap.network is not None:
            # the registry whose network it is (the server asked, or the one it redirected to)
            sources["rdap"] = Source(name="rdap", build=rdap.network.registry or "", path="")
        edge = self.networks.edge_network(asn)
        if edge is not None:
            sources["cdn"] = NETWORKS
        return IpInfo(
            ip=ip, country=country, asn=asn, as_org=as_org, registry_country=registry_country,
            prefix=prefix, cdn=edge.operator if edge else None, rdap=rdap, sources=sources,
        )

    # -- the store's caches (this thread only) ---------------------------------------------------

    def _load(self, load: Callable[..., list[Any]], ips: list[str], max_age_days: float) -> list[Any]:
        """Cached rows for ``ips``; none when there is no store or it cannot be read (then the
        services are asked, as without a cache)."""
        if self.db is None or not ips or max_age_days <= 0:
            return []
        try:
            return load(self.db, ips, max_age_days)
        except StoreError as error:
            self._say("read", f"cannot read the lookup caches, asking the services instead: {error}")
            return []

    def _save(self, prefixes: list[caches.PrefixRow], networks: list[caches.NetworkRow]) -> None:
        if self.db is None or not (prefixes or networks):
            return
        self._unsaved[0].extend(prefixes)
        self._unsaved[1].extend(networks)
        if not self._save_later:
            self._try_save()

    def _save_unsaved(self) -> None:
        if self.db is not None and (self._unsaved[0] or self._unsaved[1]):
            self._try_save(final=True)

    def _try_save(self, final: bool = False) -> None:
        assert self.db is not None
        prefixes, networks = self._unsaved
        try:
            caches.save(self.db, prefixes=prefixes, networks=networks)
        except ReadOnlyDatabase as error:
            self._say("read-only", f"lookups go on without keeping their answers: {error}")
        except StoreError as error:  # locked by another program, most likely
            if not final:
                self._say("locked", f"cannot write the lookup caches now, trying again at the end: {error}")
                self._save_later = True
                return
            log.warning("lookup caches: %d rows not written: %s", len(prefixes) + len(networks), error)
        prefixes.clear()
        networks.clear()

    def _say(self, what: str, message: str) -> None:
        if what not in self._said:
            self._said.add(what)
            log.warning("%s", message)


def _open(opener, path: Path | None, key: str):
    if path is None:
        return None
    if not path.exists():
        raise DatabaseFileError(
            f"{key}: {path} does not exist; run `monitor update-databases`, "
            f"or set {key} in config.yaml to a database you have (or to null)"
        )
    return opener(path)
