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
from datetime import date

from sqlite_utils import Database

from .config import Config
from .errors import NotFound
from .hotlines import has_hotline
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
        rows = db.execute("SELECT id, started_at, COALESCE(finished_at, started_at), status IN ('complete', 'running') "
                          "FROM crawls ORDER BY id").fetchall()
        # A failed or interrupted crawl saw nothing for certain: it confirms nothing and counts in
        # no period. The crawl running now (refreshing moves at its end) counts.
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


# -- the store -----------------------------------------------------------------------------------

_STATES = """SELECT hoster_id, first_crawl, last_crawl, status, countries, asns, as_orgs, ips, cdn
             FROM hoster_states {where} ORDER BY hoster_id, first_crawl"""


def hoster_id(db: Database, name: str) -> tuple[int, str]:
    """The hoster a user named (a hoster, a host, an IP or a URL)."""
    try:
        hoster = hoster_or_host(name)
    except InvalidURL as error:
        raise NotFound(f"{name}: not a hoster, host or URL ({error})") from None
    row = db.execute("SELECT id FROM hosters WHERE name = ?", [hoster]).fetchone()
    if row is None:
        raise NotFound(f"{hoster}: no reported URL has this hoster (see `monitor hosters`)")
    return row[0], hoster


def timeline(db: Database, name: str) -> dict:
    """The design's `timeline` object for one hoster."""
    hid, hoster = hoster_id(db, name)
    crawls = Crawls.load(db)
    rows = [r[1:] for r in db.execute(_STATES.format(where="WHERE hoster_id = ?"), [hid])]
    return {"hoster": hoster, "periods": [p.to_json() for p in periods(rows, crawls)]}


def _moves_settings(config: Config) -> str:
    return json.dumps({"home": config.home_country, "confirm_after": config.moves.confirm_after})


def moves_stale(db: Database, config: Config) -> str | None:
    """Why the stored moves do not match this config and the crawls in the store, or None.

    Listings never write (an analyst's copy may be read-only): they show what is stored and say
    when it is behind; a crawl's end or `monitor refresh` derives the moves again."""
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('moves_settings', 'moves_through')"))
    if not db.execute("SELECT 1 FROM hoster_states LIMIT 1").fetchone():
        return None
    stored = json.loads(meta.get("moves_settings") or "null")
    if stored is None:
        return "the moves have not been derived yet"
    if meta.get("moves_settings") != _moves_settings(config):
        return (f"the moves stored were derived with home_country {stored['home']} and confirm_after "
                f"{stored['confirm_after']}; the config says {config.home_country} and {config.moves.confirm_after}")
    done = db.execute("SELECT COALESCE(MAX(id), 0) FROM crawls WHERE status = 'complete'").fetchone()[0]
    through = int(meta.get("moves_through") or 0)
    if through < done:
        return f"the moves stored go up to crawl {through}; crawl {done} has finished since"
    return None


def count_moves(db: Database) -> tuple[int, int]:
    """How many moves and relabels are stored."""
    return (db.execute("SELECT COUNT(*) FROM moves").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM relabels").fetchone()[0])


def refresh_moves(db: Database, config: Config, *, current: int | None = None) -> None:
    """Bring the moves and relabels tables up to date with the crawls in the store.

    Only hosters whose states changed or grew since the last refresh are recomputed; a change of
    home_country or confirm_after recomputes all. The mark of what is done never passes the last
    complete crawl (or `current`, the crawl calling this once its states are all written): a
    reader refreshing while a crawl is half-way through writing must not mark it done.
    """
    settings = _moves_settings(config)
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('moves_settings', 'moves_through')"))
    through = int(meta.get("moves_through", 0)) if meta.get("moves_settings") == settings else 0
    latest = db.execute("SELECT COALESCE(MAX(last_crawl), 0) FROM hoster_states").fetchone()[0]
    done = db.execute("SELECT COALESCE(MAX(id), 0) FROM crawls WHERE status = 'complete'").fetchone()[0]
    latest = min(latest, max(done, current or 0))
    if through and latest <= through:
        return
    crawls = Crawls.load(db)
    where = "WHERE hoster_id IN (SELECT hoster_id FROM hoster_states WHERE last_crawl > ?)"
    found_moves, found_relabels, hosters = [], [], []
    current, rows = None, []

    def flush() -> None:
        if current is None:
            return
        hosters.append(current)
        ms, rs = moves(periods(rows, crawls), crawls, home=config.home_country,
                       confirm_after=config.moves.confirm_after)
        found_moves.extend((current, m) for m in ms)
        found_relabels.extend((current, r) for r in rs)

    for row in db.execute(_STATES.format(where=where), [through]):
        if row[0] != current:
            flush()
            current, rows = row[0], []
        rows.append(row[1:])
    flush()
    with db.atomic():
        for table in ("moves", "relabels"):
            db.conn.executemany(f"DELETE FROM {table} WHERE hoster_id = ?", [(h,) for h in hosters])
        db.conn.executemany(
            "INSERT INTO moves (hoster_id, kind, from_countries, to_countries, from_asns, to_asns, "
            "last_seen_before, first_seen_after, confirmed_at, confirmed_crawl, destination_has_hotline) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(h, m.kind, json.dumps(m.from_countries), json.dumps(m.to_countries), json.dumps(m.from_asns),
              json.dumps(m.to_asns), m.last_seen_before, m.first_seen_after, m.confirmed_at, m.confirmed_crawl,
              m.destination_has_hotline) for h, m in found_moves])
        db.conn.executemany(
            "INSERT INTO relabels (hoster_id, ips, from_countries, to_countries, first_seen_after, confirmed_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(h, json.dumps(r.ips), json.dumps(r.from_countries), json.dumps(r.to_countries), r.first_seen_after,
              r.confirmed_at) for h, r in found_relabels])
        db.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            [("moves_settings", settings), ("moves_through", str(latest))])


@dataclass
class MoveFilter:
    since: str | None = None  # ISO date: moves confirmed on or after it
    from_country: str | None = None
    to_country: str | None = None
    kind: str | None = None
    hoster: str | None = None


def list_moves(db: Database, where: MoveFilter | None = None) -> list[dict]:
    """The design's `moves` JSON list, oldest first, as stored (see moves_stale)."""
    where = where or MoveFilter()
    clauses, params = [], {}
    if where.since:
        clauses.append("m.confirmed_at >= :since")
        params["since"] = where.since
    if where.from_country:
        clauses.append("EXISTS (SELECT 1 FROM json_each(m.from_countries) WHERE value = :from_cc)")
        params["from_cc"] = where.from_country.upper()
    if where.to_country:
        clauses.append("EXISTS (SELECT 1 FROM json_each(m.to_countries) WHERE value = :to_cc)")
        params["to_cc"] = where.to_country.upper()
    if where.kind:
        clauses.append("m.kind = :kind")
        params["kind"] = where.kind
    if where.hoster:
        params["hoster_id"] = hoster_id(db, where.hoster)[0]
        clauses.append("m.hoster_id = :hoster_id")
    sql = f"""SELECT h.name AS hoster, m.*, (SELECT COUNT(*) FROM urls u WHERE u.hoster_id = m.hoster_id) AS urls
              FROM moves m JOIN hosters h ON h.id = m.hoster_id
              {"WHERE " + " AND ".join(clauses) if clauses else ""}
              ORDER BY m.confirmed_at, h.name"""
    result = []
    for row in db.query(sql, params):
        result.append({
            "hoster": row["hoster"], "kind": row["kind"],
            "from_countries": json.loads(row["from_countries"]), "to_countries": json.loads(row["to_countries"]),
            "from_asns": json.loads(row["from_asns"]), "to_asns": json.loads(row["to_asns"]),
            "last_seen_before": row["last_seen_before"], "first_seen_after": row["first_seen_after"],
            "confirmed_at": row["confirmed_at"], "urls": row["urls"],
            "destination_has_hotline": None if row["destination_has_hotline"] is None
            else bool(row["destination_has_hotline"]),
        })
    return result


def list_relabels(db: Database) -> list[dict]:
    return [
        {"hoster": r["hoster"], "ips": json.loads(r["ips"]), "from_countries": json.loads(r["from_countries"]),
         "to_countries": json.loads(r["to_countries"]), "first_seen_after": r["first_seen_after"],
         "confirmed_at": r["confirmed_at"]}
        for r in db.query("SELECT h.name AS hoster, r.* FROM relabels r JOIN hosters h ON h.id = r.hoster_id "
                          "ORDER BY r.confirmed_at, h.name")
    ]
