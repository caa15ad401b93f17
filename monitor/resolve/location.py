"""Where a set of addresses is: the one path from addresses and their enrichment to a location.

    location = locate(["192.0.2.1", "192.0.2.7"], infos)   # infos: ip -> IpInfo (monitor.resolve.enrich)
    location.countries, location.asns, location.as_orgs, location.cdn, location.sources

Every location the crawl records goes through ``locate``: a URL's own host (head and dns-only
mode), a redirect target's host, and a hoster (the addresses of all its hosts). So a country set
means the same thing wherever it is shown, and a rule (what counts as behind a CDN) is written once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .enrich import IpInfo
from .geo import Source


@dataclass(frozen=True, slots=True)
class Location:
    """Where some addresses are. Sets are sorted tuples, so equal locations compare equal."""

    ips: tuple[str, ...] = ()  # every address given, enriched or not
    countries: tuple[str, ...] = ()  # geolocated countries of the enriched addresses
    asns: tuple[int, ...] = ()
    as_orgs: tuple[str, ...] = ()
    # Behind a CDN / proxy network: every enriched address is in an edge network, so the
    # countries are those of edges and say nothing about where the content sits. False when no
    # address is enriched (nothing is known, not "no CDN" proven, but nothing to mark either).
    cdn: bool = False
    sources: tuple[Source, ...] = ()  # the databases and services that said so

    @property
    def resolved(self) -> bool:
        return bool(self.ips)


def locate(ips: Iterable[str], infos: Mapping[str, IpInfo]) -> Location:
    """The location of ``ips``, from the enrichment ``infos`` holds for them.

    An address without an entry in ``infos`` counts in ``ips`` but adds nothing else: the location
    says what is known, never a guess."""
    ips = sorted(set(ips))
    known = [infos[ip] for ip in ips if ip in infos]
    return Location(
        ips=tuple(ips),
        countries=tuple(sorted({i.country for i in known if i.country})),
        asns=tuple(sorted({i.asn for i in known if i.asn is not None})),
        as_orgs=tuple(sorted({i.as_org for i in known if i.as_org})),
        cdn=bool(known) and all(i.is_edge for i in known),
        sources=tuple(sorted({s for i in known for s in i.sources.values()},
                             key=lambda s: (s.name, s.build, s.path))),
    )
