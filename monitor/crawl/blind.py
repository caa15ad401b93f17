"""When a crawl could not see: the judgements that make it degraded, in one place.

No evidence is not evidence of absence. A lookup that timed out, or a request that was refused,
says nothing about the hoster; when such failures are everywhere at once, our resolver or our own
network is the likelier cause, and the crawl is degraded (kept, but it confirms no move and counts
no takedown). Two judgements, each a pure function of what the crawl saw:

    dns_verdict({"canary.example": "ok"}, ["ok", "timeout", ...], share=0.5)
        a canary that did not resolve, or more than `share` of the hosts whose lookup said nothing
    http_verdict({"AS64501": Counter(online=9, unreachable=1), ...}, share=0.5, min_networks=3)
        among the networks judged (MIN_URLS or more URLs revisited over HTTP), more than `share`
        in which (nearly) every request was unreachable

The HTTP side is judged by network, not by URL: one big hoster (or its network) going down is one
network, however many URLs it holds, and is not a fault of ours; many unrelated networks going
dark on the same night are. A URL's network is that of its own host's addresses (``network_of``):
the ASN, else the BGP prefix, else the registry's (RDAP) network, else the address's /24 or /48.

``dns_blind`` and ``http_blind`` are the coordinator's calls: the config's thresholds and the crawl's values.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .protocol import said_nothing

if TYPE_CHECKING:
    from ..config import Crawl
    from ..resolve.dns import DnsAnswer
    from ..resolve.enrich import IpInfo

# Outcomes of a URL whose request went out over HTTP (an answer, or none at all). Not counted:
# URLs no request was made for (unresolved, unknown, refused-private) and internal errors.
HTTP_OUTCOMES = frozenset({"online", "removed", "http-error", "unreachable", "redirect-loop", "too-many-redirects"})
# Failures that say nothing about the hoster: a timeout, a refused connection, a network error.
# A 404 (`removed`) or another HTTP status is an answer, so evidence that the network is up.
SAID_NOTHING = frozenset({"unreachable"})
# A network is judged on at least this many URLs revisited over HTTP (fewer say too little) and is
# dark when at least this share of them said nothing (every one, or nearly: one of ten may answer).
MIN_URLS = 3
DARK_SHARE = 0.9
# Dark networks named in the verdict; the rest are counted.
NAMED = 3


def dns_verdict(canaries: Mapping[str, str], statuses: Sequence[str], *, share: float) -> str | None:
    """Why the crawl's DNS could not see, or None: ``canaries`` (name -> status of its lookup)
    must all be ``ok``; over ``share`` of the hosts' ``statuses`` may not say nothing."""
    failed = [f"{name} ({status})" for name, status in canaries.items() if status != "ok"]
    if failed:
        return f"canary {', '.join(failed)} did not resolve through dns.nameservers"
    blind = sum(1 for status in statuses if said_nothing(status))
    if statuses and blind / len(statuses) > share:
        return (f"{blind} of {len(statuses)} hosts could not be looked up (timeout, SERVFAIL or error; over "
                f"crawl.degraded_share {share:g}): our resolver or network is likelier down")
    return None


def dark(outcomes: Mapping[str, int]) -> bool | None:
    """Whether a network's URLs (outcome -> count) all, or nearly all, said nothing over HTTP;
    None when too few were revisited over HTTP to tell."""
    revisited = sum(n for outcome, n in outcomes.items() if outcome in HTTP_OUTCOMES)
    if revisited < MIN_URLS:
        return None
    silent = sum(n for outcome, n in outcomes.items() if outcome in SAID_NOTHING)
    return silent >= DARK_SHARE * revisited


def http_verdict(networks: Mapping[str, Mapping[str, int]], *, share: float, min_networks: int) -> str | None:
    """Why the crawl's HTTP could not see, or None: among the networks judged (``dark`` is not
    None), more than ``share`` were dark, and at least ``min_networks`` were judged."""
    judged = {network: dark(outcomes) for network, outcomes in networks.items()}
    judged = {network: is_dark for network, is_dark in judged.items() if is_dark is not None}
    if not judged or len(judged) < min_networks:
        return None
    darkened = sorted(network for network, is_dark in judged.items() if is_dark)
    if len(darkened) / len(judged) <= share:
        return None
    named = ", ".join(darkened[:NAMED]) + (f" and {len(darkened) - NAMED} more" if len(darkened) > NAMED else "")
    return (f"in {len(darkened)} of {len(judged)} networks ({named}) the URLs revisited over HTTP were "
            f"unreachable (timeouts, refused connections or network errors; over crawl.degraded_networks "
            f"{share:g}): our network is likelier down than that many hosters at once")


def network_of(ips: Iterable[str], infos: Mapping[str, IpInfo]) -> str | None:
    """The network of a host's addresses, as one name: ``AS64501``, or several joined by ``+``
    (a host on addresses in two networks); None for no address."""
    names = sorted({_network(ip, infos.get(ip)) for ip in ips})
    return "+".join(names) or None


def _network(ip: str, info: IpInfo | None) -> str:
    if info is not None:
        if info.asn is not None:
            return f"AS{info.asn}"
        if info.prefix:
            return info.prefix
        network = info.rdap.network if info.rdap is not None else None
        if network is not None and (network.cidr or network.handle):
            return network.cidr or network.handle or ""
    address = ipaddress.ip_address(ip)
    return str(ipaddress.ip_network(f"{address}/{24 if address.version == 4 else 48}", strict=False))


def by_network(counts: Iterable[tuple[str, str, int]], ips_of: Mapping[str, Sequence[str]],
               infos: Mapping[str, IpInfo]) -> dict[str, Counter]:
    """(host, outcome, URLs) counts grouped by the network of each host's addresses (``ips_of``:
    host -> the addresses this crawl resolved). A host without addresses is left out: no request
    went to it."""
    networks: dict[str, Counter] = {}
    named: dict[str, str | None] = {}
    for host, outcome, n in counts:
        if host not in named:
            named[host] = network_of(ips_of.get(host, ()), infos)
        network = named[host]
        if network is not None:
            networks.setdefault(network, Counter())[outcome] += n
    return networks


def dns_blind(crawl: Crawl, answers: Mapping[str, DnsAnswer], canaries: Mapping[str, DnsAnswer]) -> str | None:
    """The DNS verdict on this crawl's answers, with the config's threshold."""
    return dns_verdict({name: a.status for name, a in canaries.items()}, [a.status for a in answers.values()],
                       share=crawl.degraded_share)


def http_blind(crawl: Crawl, counts: Iterable[tuple[str, str, int]], answers: Mapping[str, DnsAnswer],
         infos: Mapping[str, IpInfo]) -> str | None:
    """The HTTP verdict on this crawl's outcomes (host, outcome, URLs), with the config's
    thresholds."""
    networks = by_network(counts, {host: a.ips for host, a in answers.items()}, infos)
    return http_verdict(networks, share=crawl.degraded_networks, min_networks=crawl.degraded_min_networks)
