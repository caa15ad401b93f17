"""When a crawl could not see: the judgements that make it degraded, in one place.

No evidence is not evidence of absence. A lookup that timed out says nothing about the hoster;
when such failures are everywhere at once, our resolver or our own network is the likelier cause,
and the crawl is degraded (kept, but it confirms no move and counts no takedown). The judgement is
a pure function of what the crawl saw:

    dns_verdict({"canary.example": "ok"}, ["ok", "timeout", ...], share=0.5)
        a canary that did not resolve, or more than `share` of the hosts whose lookup said nothing

``dns_blind`` is the coordinator's call: the config's threshold and the crawl's answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .protocol import said_nothing

if TYPE_CHECKING:
    from ..config import Crawl
    from ..resolve.dns import DnsAnswer


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


def dns_blind(crawl: Crawl, answers: Mapping[str, DnsAnswer], canaries: Mapping[str, DnsAnswer]) -> str | None:
    """The DNS verdict on this crawl's answers, with the config's threshold."""
    return dns_verdict({name: a.status for name, a in canaries.items()}, [a.status for a in answers.values()],
                       share=crawl.degraded_share)
