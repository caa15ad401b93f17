"""Takedowns: when a reported URL went down, from where, and whether it came back.

A URL is taken down once it has been removed (HTTP 404/410) or its host gone (NXDOMAIN, NODATA)
on `moves.confirm_after` consecutive healthy crawls; the takedown date is the first of those
crawls and its country is where the URL was last located before it went down. No evidence is not
evidence of absence: `unknown` (our resolver could not tell) and `unreachable` (a timeout, a
refused connection) neither count towards a takedown nor break the run, and a degraded crawl
counts for nothing. A URL found online again afterwards has `reappeared` (with where), and may be
taken down again later. Derived into the `takedowns` table at the end of each crawl.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from sqlite_utils import Database

from .config import Config
from .store import takedowns as stored

DOWN = frozenset({"removed", "unresolved"})
NO_EVIDENCE = frozenset({"unknown", "unreachable"})


@dataclass
class Takedown:
    crawl: int
    countries: tuple[str, ...] | None
    reappeared_crawl: int | None = None
    reappeared_countries: tuple[str, ...] | None = None


def takedowns(states: Sequence[tuple], healthy: Sequence[int], confirm_after: int) -> list[Takedown]:
    """One URL's takedowns from its states (first_crawl, last_crawl, outcome, countries as a
    tuple or None), oldest first; `healthy` is the sorted ids of the crawls that count."""
    found: list[Takedown] = []
    located: tuple[str, ...] | None = None  # where it was last seen located
    run: list[int] = []  # healthy crawls of the current run of "down" observations
    run_countries: tuple[str, ...] | None = None
    down: Takedown | None = None
    for first, last, outcome, countries in states:
        crawls = healthy[bisect_left(healthy, first):bisect_right(healthy, last)]
        if not crawls or outcome in NO_EVIDENCE:
            continue
        if outcome in DOWN:
            if down is None:
                if not run:
                    run_countries = located or countries or None
                run.extend(crawls)
                if len(run) >= confirm_after:
                    down = Takedown(run[0], run_countries)
                    found.append(down)
            continue
        run = []
        if down is not None and outcome == "online":
            down.reappeared_crawl, down.reappeared_countries = crawls[0], countries or None
            down = None
        if countries:
            located = countries
    return found


def refresh_takedowns(db: Database, config: Config, *, current: int | None = None) -> None:
    """Bring the takedowns table up to date with the crawls in the store: the URLs whose states
    could have changed since the last refresh are derived again (all of them when confirm_after
    changed)."""
    settings = json.dumps({"confirm_after": config.moves.confirm_after})
    meta = stored.meta(db)
    through = int(meta.get("takedowns_through", 0)) if meta.get("takedowns_settings") == settings else 0
    crawls = stored.healthy_crawls(db, current)
    healthy = [c for c, _ in crawls]
    started = dict(crawls)
    urls: list[int] = []
    rows: list[tuple] = []
    for url_id, states in groupby(stored.states_to_review(db, through), key=itemgetter(0)):
        urls.append(url_id)
        decoded = [(f, la, o, tuple(json.loads(c)) if c else None) for _, f, la, o, c in states]
        for t in takedowns(decoded, healthy, config.moves.confirm_after):
            rows.append((url_id, t.crawl, started[t.crawl], t.countries, t.reappeared_crawl,
                         started.get(t.reappeared_crawl) if t.reappeared_crawl else None, t.reappeared_countries))
    latest = max(healthy, default=0)
    stored.replace_takedowns(db, urls, rows, {"takedowns_settings": settings, "takedowns_through": str(latest)})
