"""Where this crawl's addresses are, as the coordinator writes it: every location goes through
``monitor.resolve.location.locate``, with this crawl's enrichment.

    places = Places(answers, infos, other=mmdb_only_enricher)
    places.url_columns(host)            # a URL's countries and ASNs: its OWN host's (head, dns-only)
    places.final_host_detail(host, ips) # a redirect target's, in words (it does not move the hoster)
    places.hoster_states(addresses)     # each hoster's location (hoster_states rows)

Addresses this crawl enriched (its hosts') use that enrichment. A redirect target's addresses that
it did not enrich are looked up by ``other``, an ``Enricher`` over the .mmdb files only: in-process
and instant, where Team Cymru and RDAP are network calls that would hold up the writing of
observations mid-crawl (and the worker's output with it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from ..config import Config
from ..resolve.dns import DnsAnswer
from ..resolve.enrich import Enricher, IpInfo
from ..resolve.location import Location, locate
from ..store.history import as_json

# Hosts whose URL columns are kept ready (URLs of a host often come together) and redirect-target
# addresses kept enriched: both bounded, so memory does not grow with the URLs.
CACHE_SIZE = 4_096


def mmdb_enricher(config: Config) -> Enricher:
    """An Enricher over the configured .mmdb files only (no Team Cymru, no RDAP)."""
    offline = config.model_copy(update={
        "asn": config.asn.model_copy(update={"cymru_dns": False}),
        "rdap": config.rdap.model_copy(update={"enabled": False}),
    })
    return Enricher(offline, None)


class Places:
    """The locations one crawl writes; see the module doc."""

    def __init__(self, answers: Mapping[str, DnsAnswer], infos: Mapping[str, IpInfo],
                 other: Enricher | None = None) -> None:
        self.answers = answers
        self.infos = infos
        self.other = other
        self._urls: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._enriched: OrderedDict[str, IpInfo] = OrderedDict()

    def url_columns(self, host: str | None) -> tuple[str | None, str | None]:
        """(countries, asns) of a URL's own host as url_states keeps them (sorted JSON lists);
        (None, None) when the host has no address this crawl."""
        if host is None:
            return None, None
        columns = self._urls.get(host)
        if columns is None:
            answer = self.answers.get(host)
            location = locate(answer.ips, self.infos) if answer is not None else Location()
            columns = ((as_json(location.countries), as_json(location.asns)) if location.resolved
                       else (None, None))
            _remember(self._urls, host, columns)
        return columns

    def addresses(self, ips: Iterable[str]) -> Location:
        """The location of addresses this crawl may not have enriched (a redirect target's)."""
        ips = list(ips)
        infos: dict[str, IpInfo] = {}
        for ip in ips:
            info = self.infos.get(ip) or self._enriched.get(ip)
            if info is None and self.other is not None:
                try:
                    info = self.other.enrich(ip)
                except ValueError:  # not an address: the worker sent something odd; no location
                    continue
                _remember(self._enriched, ip, info)
            if info is not None:
                infos[ip] = info
        return locate(ips, infos)

    def final_host_detail(self, host: str, ips: list[str] | None) -> str:
        """Where a redirect ended, when on another host: its addresses and their location."""
        if ips is None:
            return f"final host {host}"
        location = self.addresses(ips)
        return (f"final host {host}: {', '.join(ips)}; countries {as_json(location.countries)}; "
                f"asns {as_json(location.asns)}")

    def hoster_states(self, addresses: Mapping[int, set[str]],
                      unseen: set[int] | frozenset[int] = frozenset()) -> Iterator[tuple[int, tuple]]:
        """(hoster id, hoster_states columns) from the addresses of each hoster's hosts.

        A hoster whose hosts were looked at but none resolved is `unresolved`, or `unknown` when
        a lookup of one of its hosts said nothing (in `unseen`): a gap, not a disappearance. One
        behind a CDN (every enriched address in an edge network) is marked so."""
        for hoster_id, ips in addresses.items():
            if not ips:
                yield hoster_id, ("unknown" if hoster_id in unseen else "unresolved", None, None, None, None, 0)
                continue
            location = locate(ips, self.infos)
            yield hoster_id, ("located", as_json(location.countries), as_json(location.asns),
                              as_json(location.as_orgs), as_json(location.ips), int(location.cdn))


def _remember(cache: OrderedDict, key: str, value: object) -> None:
    cache[key] = value
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
