"""Timelines and moves, as plain functions over the store (no Scrapy needed).

A hoster's location at a crawl is the set of countries and ASNs over the addresses of all its
hosts (monitor.crawl.locations, over monitor.resolve.location.locate). From those states:

- a *timeline* is a list of periods; a new period starts when the status, the country set or the
  ASN set changes;
- a *move* is a confirmed change of the country set: the new set must be seen in
  `moves.confirm_after` crawls in which the hoster resolved (unresolved crawls in between neither
  count nor break the run), so a one-night flap is not a move; the comparison is with the last
  confirmed location, across any unresolved gap;
- a *relabel* is a change of country set while the addresses stayed the same: a newer
  geolocation database placed them elsewhere; it is reported apart and is not a move.

Where the design is silent, what an analyst would expect:
- the first location seen is the baseline, not a move;
- a change that keeps the home country in both sets ({NL} -> {NL, DE}) is not a move (no kind
  fits); the timeline shows it;
- two locations both behind a CDN are the same location: edge countries say nothing;
- `destination_has_hotline` is true when every destination country had a hotline on the day the
  move was confirmed, false when at least one certainly had none, otherwise null; null for a masked
  move (the countries are edges).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from datetime import date

from sqlite_utils import Database

from .config import Config
from .errors import NotFound
from .hotlines import has_hotline
from .store import moves as stored
from .store.urls import hoster_named
from .urls import InvalidURL, hoster_or_host

KINDS = ("left-home", "came-home", "abroad", "masked", "unmasked")
MOVE_FIELDS = ("hoster", "kind", "from_countries", "to_countries", "from_asns", "to_asns", "last_seen_before",
               "first_seen_after", "confirmed_at", "urls", "destination_has_hotline")
RELABEL_FIELDS = ("hoster", "ips", "from_countries", "to_countries", "first_seen_after", "confirmed_at")
PERIOD_FIELDS = ("start", "end", "status", "countries", "asns", "as_orgs", "ips", "cdn", "crawls", "first_crawl",
                 "last_crawl")


@dataclass
class Period:
    status: str  # located, unresolved
    countries: tuple[str, ...]
    asns: tuple[int, ...]
    as_orgs: tuple[str, ...]
    ips: tuple[str, ...]
    cdn: bool
    first_crawl: int
    last_crawl: int
    start: str = ""
    end: str = ""
    crawls: int = 0  # crawls the period spans

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "status": self.status, "countries": list(self.countries),
                "asns": list(self.asns), "as_orgs": list(self.as_orgs), "ips": list(self.ips), "cdn": self.cdn,
                "crawls": self.crawls, "first_crawl": self.first_crawl, "last_crawl": self.last_crawl}


@dataclass(frozen=True)
class Move:
    kind: str
    from_countries: tuple[str, ...]
    to_countries: tuple[str, ...]
    from_asns: tuple[int, ...]
    to_asns: tuple[int, ...]
    last_seen_before: str
    first_seen_after: str
    confirmed_at: str
    confirmed_crawl: int
    destination_has_hotline: bool | None


@dataclass(frozen=True)
class Relabel:
    ips: tuple[str, ...]
    from_countries: tuple[str, ...]
    to_countries: tuple[str, ...]
    first_seen_after: str
    confirmed_at: str


@dataclass
class Crawls:
    """The crawl ids in order and their times: periods count crawls and take times from here."""

    ids: list[int]
    started: dict[int, str]
    ended: dict[int, str]

    @classmethod
    def load(cls, db: Database) -> Crawls:
        rows = stored.crawl_times(db)
        # A failed, interrupted or degraded crawl saw nothing for certain: it confirms nothing and
        # counts in no period. The crawl running now (refreshing moves at its end) counts.
        return cls([r[0] for r in rows if r[3]], {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows})

    def count(self, first: int, last: int) -> int:
        return bisect_right(self.ids, last) - bisect_left(self.ids, first)

    def nth(self, first: int, n: int) -> int:
        """The n-th crawl (1-based) from crawl `first` on."""
        return self.ids[bisect_left(self.ids, first) + n - 1]


def periods(rows: list[tuple], crawls: Crawls) -> list[Period]:
    """Merge a hoster's hoster_states rows (oldest first) into timeline periods."""
    merged: list[Period] = []
    for first, last, status, countries, asns, as_orgs, ips, cdn in rows:
        period = Period(status, _list(countries), _list(asns), _list(as_orgs), _list(ips), bool(cdn), first, last)
        previous = merged[-1] if merged else None
        if previous and (previous.status, previous.countries, previous.asns, previous.cdn) == (
                period.status, period.countries, period.asns, period.cdn):
            previous.last_crawl = last
            previous.ips = tuple(sorted(set(previous.ips) | set(period.ips)))
            previous.as_orgs = tuple(sorted(set(previous.as_orgs) | set(period.as_orgs)))
        else:
            merged.append(period)
    for period in merged:
        period.start = crawls.started[period.first_crawl]
        period.end = crawls.ended[period.last_crawl]
        period.crawls = crawls.count(period.first_crawl, period.last_crawl)
    return merged


def _list(text: str | None) -> tuple:
    return tuple(json.loads(text)) if text else ()


def _kind(old: Period, new: Period, home: str) -> str | None:
    if new.cdn and not old.cdn:
        return "masked"
    if old.cdn and not new.cdn:
        return "unmasked"
    if home in old.countries and home not in new.countries:
        return "left-home"
    if home in new.countries and home not in old.countries:
        return "came-home"
    if home not in old.countries and home not in new.countries:
        return "abroad"
    return None  # the home country in both sets


def _same_place(a: Period, b: Period) -> bool:
    return (a.cdn and b.cdn) or (a.cdn == b.cdn and a.countries == b.countries)


def moves(timeline: list[Period], crawls: Crawls, *, home: str, confirm_after: int) -> tuple[list[Move], list[Relabel]]:
    """The confirmed moves and the relabels in one hoster's timeline."""
    found: list[Move] = []
    relabels: list[Relabel] = []
    confirmed: Period | None = None
    candidate: list[Period] = []
    for period in (p for p in timeline if p.status == "located"):
        if confirmed is None or _same_place(period, confirmed):
            confirmed, candidate = period, []
            continue
        candidate = candidate + [period] if candidate and _same_place(candidate[0], period) else [period]
        seen = sum(p.crawls for p in candidate)
        if seen < confirm_after:
            continue
        before = seen - period.crawls  # crawls of the candidate before this period
        at_crawl = crawls.nth(period.first_crawl, confirm_after - before)
        # The start of the confirming crawl: known when the crawl confirms it, so it never changes.
        confirmed_at = crawls.started[at_crawl]
        first = candidate[0]
        if set(period.ips) == set(confirmed.ips) and not (period.cdn or confirmed.cdn):
            relabels.append(Relabel(period.ips, confirmed.countries, period.countries, first.start, confirmed_at))
        elif kind := _kind(confirmed, period, home):
            found.append(Move(
                kind=kind, from_countries=confirmed.countries, to_countries=period.countries,
                from_asns=confirmed.asns, to_asns=period.asns, last_seen_before=confirmed.end,
                first_seen_after=first.start, confirmed_at=confirmed_at, confirmed_crawl=at_crawl,
                destination_has_hotline=None if kind == "masked" else _hotline(period.countries, confirmed_at),
            ))
        confirmed, candidate = period, []
    return found, relabels


def _hotline(countries: tuple[str, ...], when: str) -> bool | None:
    answers = [has_hotline(c, date.fromisoformat(when[:10])) for c in countries]
    if answers and all(a is True for a in answers):
        return True
    if any(a is False for a in answers):
        return False
    return None


# -- over the store ------------------------------------------------------------------------------


def hoster_id(db: Database, name: str) -> tuple[int, str]:
    """The hoster a user named (a hoster, a host, an IP or a URL)."""
    try:
        hoster = hoster_or_host(name)
    except InvalidURL as error:
        raise NotFound(f"{name}: not a hoster, host or URL ({error})") from None
    found = hoster_named(db, hoster)
    if found is None:
        raise NotFound(f"{hoster}: no reported URL has this hoster (see `monitor hosters`)")
    return found, hoster


def timeline(db: Database, name: str) -> dict:
    """The design's `timeline` object for one hoster."""
    hid, hoster = hoster_id(db, name)
    return {"hoster": hoster, "periods": [p.to_json() for p in periods(stored.hoster_states(db, hid), Crawls.load(db))]}


def _moves_settings(config: Config) -> str:
    return json.dumps({"home": config.home_country, "confirm_after": config.moves.confirm_after})


def moves_stale(db: Database, config: Config) -> str | None:
    """Why the stored moves do not match this config and the crawls in the store, or None.

    Listings never write (an analyst's copy may be read-only): they show what is stored and say
    when it is behind; a crawl's end or `monitor refresh` derives the moves again."""
    if not stored.has_hoster_states(db):
        return None
    meta = stored.moves_meta(db)
    settings = json.loads(meta.get("moves_settings") or "null")
    if settings is None:
        return "the moves have not been derived yet"
    if meta.get("moves_settings") != _moves_settings(config):
        return (f"the moves stored were derived with home_country {settings['home']} and confirm_after "
                f"{settings['confirm_after']}; the config says {config.home_country} and {config.moves.confirm_after}")
    done = stored.last_complete_crawl(db)
    through = int(meta.get("moves_through") or 0)
    if through < done:
        return f"the moves stored go up to crawl {through}; crawl {done} has finished since"
    return None


def count_moves(db: Database) -> tuple[int, int]:
    """How many moves and relabels are stored."""
    return stored.count(db)


def refresh_moves(db: Database, config: Config, *, current: int | None = None) -> None:
    """Bring the moves and relabels tables up to date with the crawls in the store.

    Only hosters whose states changed or grew since the last refresh are recomputed; a change of
    home_country or confirm_after recomputes all. The mark of what is done never passes the last
    complete crawl (or `current`, the crawl calling this once its states are all written): a
    reader refreshing while a crawl is half-way through writing must not mark it done.
    """
    settings = _moves_settings(config)
    meta = stored.moves_meta(db)
    through = int(meta.get("moves_through", 0)) if meta.get("moves_settings") == settings else 0
    latest = min(stored.latest_hoster_state_crawl(db), max(stored.last_complete_crawl(db), current or 0))
    if through and latest <= through:
        return
    crawls = Crawls.load(db)
    found_moves: list[tuple] = []
    found_relabels: list[tuple] = []
    hosters: list[int] = []
    for hid, rows in groupby(stored.states_of_hosters_grown_since(db, through), key=itemgetter(0)):
        hosters.append(hid)
        ms, rs = moves(periods([row[1:] for row in rows], crawls), crawls, home=config.home_country,
                       confirm_after=config.moves.confirm_after)
        found_moves.extend((hid, m.kind, m.from_countries, m.to_countries, m.from_asns, m.to_asns,
                            m.last_seen_before, m.first_seen_after, m.confirmed_at, m.confirmed_crawl,
                            m.destination_has_hotline) for m in ms)
        found_relabels.extend((hid, r.ips, r.from_countries, r.to_countries, r.first_seen_after, r.confirmed_at)
                              for r in rs)
    stored.replace_moves(db, hosters, found_moves, found_relabels,
                         {"moves_settings": settings, "moves_through": str(latest)})


@dataclass
class MoveFilter:
    since: str | None = None  # ISO date: moves confirmed on or after it
    from_country: str | None = None
    to_country: str | None = None
    kind: str | None = None
    hoster: str | None = None
    confirmed_crawl: int | None = None  # the moves one crawl confirmed


def list_moves(db: Database, where: MoveFilter | None = None) -> list[dict]:
    """The design's `moves` JSON list, oldest first, as stored (see moves_stale)."""
    where = where or MoveFilter()
    rows = stored.moves(
        db, since=where.since, kind=where.kind,
        from_country=where.from_country.upper() if where.from_country else None,
        to_country=where.to_country.upper() if where.to_country else None,
        hoster_id=hoster_id(db, where.hoster)[0] if where.hoster else None, confirmed_crawl=where.confirmed_crawl)
    return [{**{key: row[key] for key in MOVE_FIELDS if key != "destination_has_hotline"},
             "destination_has_hotline": None if row["destination_has_hotline"] is None
             else bool(row["destination_has_hotline"])} for row in rows]


def list_relabels(db: Database) -> list[dict]:
    return [{key: row[key] for key in RELABEL_FIELDS} for row in stored.relabels(db)]
