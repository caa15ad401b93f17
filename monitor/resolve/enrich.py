"""Enrichment of an IP: country, ASN, registry country and prefix, RDAP network, edge network.

Each value says which database or service, and which build of it, produced it. The .mmdb files
answer in-process in microseconds; Team Cymru and RDAP are network services behind caches, so
enrich_many runs them in a thread pool and a night asks each prefix and network at most once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from ..config import Config
from ..errors import DatabaseFileError
from .cymru import CymruClient
from .geo import AsnDB, CountryDB, Source, open_asn_db, open_country_db
from .networks import NetworkTable, load_networks
from .rdap import RdapAnswer, RdapClient

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
    """Everything needed to enrich IPs under one config; open once per crawl, then close()."""

    def __init__(self, config: Config, db: Database | None = None, *, threads: int = 16) -> None:
        self.country_db: CountryDB | None = None
        self.asn_db: AsnDB | None = None
        self.cymru: CymruClient | None = None
        self.rdap: RdapClient | None = None
        self.threads = threads
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
                self.cymru = CymruClient(config.dns, db)
                opened.callback(self.cymru.close)
            if config.rdap.enabled:
                self.rdap = RdapClient(config.rdap, db)
                opened.callback(self.rdap.close)
            self.networks: NetworkTable = load_networks()
            self._opened = opened.pop_all()

    def sources(self) -> list[Source]:
        """The databases and services this enricher uses, for the crawl's record."""
        used = [db.source for db in (self.country_db, self.asn_db) if db is not None]
        if self.cymru:
            used.append(CYMRU)
        return used

    def enrich(self, ip: str) -> IpInfo:
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
        cymru = self.cymru.lookup(ip) if self.cymru is not None else None
        if cymru is not None and cymru.status == "ok":
            if asn is None and cymru.asn is not None:
                asn, as_org, sources["asn"] = cymru.asn, cymru.as_org, CYMRU
            prefix, registry_country = cymru.prefix, cymru.registry_country
            sources["prefix"] = sources["registry_country"] = CYMRU
        rdap = self.rdap.lookup(ip, cymru.registry if cymru else None) if self.rdap is not None else None
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

    def enrich_many(self, ips: Iterable[str]) -> Iterator[IpInfo]:
        """Enrich each IP once; the network services run in parallel threads."""
        unique = list(dict.fromkeys(ips))
        if self.cymru is None and self.rdap is None:
            yield from map(self.enrich, unique)
            return
        with ThreadPoolExecutor(self.threads, thread_name_prefix="enrich") as pool:
            yield from pool.map(self.enrich, unique)

    def close(self) -> None:
        """Close the readers and the clients (which flush their pending cache writes first), in
        the reverse order of opening; a second call does nothing. The caller's ``db`` stays open."""
        self._opened.close()

    def __enter__(self) -> Enricher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _open(opener, path: Path | None, key: str):
    if path is None:
        return None
    if not path.exists():
        raise DatabaseFileError(
            f"{key}: {path} does not exist; run `monitor update-databases`, "
            f"or set {key} in config.yaml to a database you have (or to null)"
        )
    return opener(path)
