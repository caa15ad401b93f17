"""Told, not asked: after each crawl, the moves it confirmed and a degraded crawl are sent to every
target in `notify.urls` through apprise (e-mail, Matrix, Slack, Teams, plain webhooks: one
maintained library, one list of URLs). A target that fails is logged and named in the crawl's
summary; it never fails the crawl.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import apprise

log = logging.getLogger("monitor.notify")


@dataclass(frozen=True)
class Delivery:
    target: str  # the URL with its secrets hidden, fit for a log or a summary
    ok: bool


def is_target(url: str) -> bool:
    """Whether apprise can send to this URL (the config refuses one it cannot)."""
    return apprise.Apprise.instantiate(url) is not None


def message(crawl_id: int, moves: Sequence[dict], degraded: str | None, sources: str = "") -> tuple[str, str] | None:
    """(title, body) telling what this crawl found, or None when there is nothing to tell.
    ``sources``: the credit the geolocation databases require (monitor.report.attribution's plain
    text), a last line under moves, which name countries."""
    if not moves and not degraded:
        return None
    lines = []
    if degraded:
        lines.append(f"Crawl {crawl_id} could not see ({degraded}): it is kept, but confirms no move and counts "
                     "no takedown. Check the resolver and the network before the next crawl.")
    for move in moves:
        hotline = {True: "yes", False: "no", None: "unknown"}[move["destination_has_hotline"]]
        lines.append(f"{move['hoster']}: {move['kind']} {'+'.join(move['from_countries']) or '?'} -> "
                     f"{'+'.join(move['to_countries']) or '?'} (first seen {move['first_seen_after'][:10]}; "
                     f"{move['urls']} reported URLs; destination has a hotline: {hotline})")
    if moves and sources:
        lines.append(f"Sources: {sources}")
    what = [f"{len(moves)} new move{'s' if len(moves) != 1 else ''}"] if moves else []
    if degraded:
        what.append("degraded")
    return f"monitor: crawl {crawl_id}: {', '.join(what)}", "\n".join(lines)


def send(urls: Sequence[str], title: str, body: str) -> list[Delivery]:
    """Send to each target on its own, so that one failing is named and the others still get it."""
    deliveries = []
    for url in urls:
        target = apprise.Apprise()
        shown = url
        try:
            if not target.add(url):
                raise ValueError("not a URL apprise can send to")
            shown = target[0].url(privacy=True)
            ok = bool(target.notify(title=title, body=body))
        except Exception as error:  # a target's failure is reported, never the crawl's
            log.warning("notify %s failed: %s", shown, error)
            ok = False
        if not ok:
            log.warning("notify %s: not delivered", shown)
        deliveries.append(Delivery(shown, ok))
    return deliveries
