"""`monitor report`: what happened in a period, as one object that every format renders.

The headline is the sentence a hotline's annual report needs ("in the period N hosters left the
Netherlands: six to Moldova, ..."), with the table behind it. The rules, stated in the report too:

- A hoster *left in the period* when a confirmed left-home move's new location was first seen in
  the period (`first_seen_after`), not when the move was confirmed: the first crawl that saw it
  abroad is when it had left, as far as the crawls can tell, while the confirmation date depends on
  `moves.confirm_after` and would push a move at the end of June into July. The price: a move
  first seen in the period's last nights is confirmed only after it, so a report on a period that
  has just ended can still grow by those moves. The moves used are the stored, confirmed ones.
- A hoster that left for two countries at once counts under each destination, once in the total.
- `has_hotline` of a destination is true or false only when every move into it in the period gets
  that answer on its day (monitor.hotlines, partial: null where unknown, never a guess of "no").
- Where something *is* (hosters abroad, ASNs, where URLs are) is read at the period's last
  healthy crawl, so a report on a past period says what was true then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlite_utils import Database

from ..countries import country_in_sentence
from ..detect import Crawls
from ..detect import periods as timeline_periods
from ..errors import InputError
from ..hotlines import has_hotline
from ..store import moves as stored_moves
from ..store import report as stored
from .attribution import for_store


@dataclass(frozen=True)
class Period:
    since: date
    until: date  # inclusive

    @property
    def start(self) -> str:
        return f"{self.since.isoformat()}T00:00:00Z"

    @property
    def end(self) -> str:  # exclusive: the day after `until`
        return f"{(self.until + timedelta(days=1)).isoformat()}T00:00:00Z"


PERIOD_RULE = ("A hoster counts as having left in the period when a confirmed move out of the home country was "
               "first seen in it (the first crawl that found it abroad), not when the move was confirmed, "
               "which depends on how many crawls confirm a move; so a move first seen in the last nights of "
               "a period that has just ended may be confirmed, and counted, only after it.")


def period_of(db: Database, since: date | None, until: date | None) -> Period:
    """The period asked for. Left out, it runs from the first report or crawl, whichever came
    first (URLs reported before the first crawl count in the figures by month), to the last crawl."""
    first, last = stored.store_dates(db)
    if (since is None and first is None) or (until is None and last is None):
        raise InputError("no crawl in the database yet: run `monitor crawl` first, or give --since and --until")
    since = since or date.fromisoformat(first[:10])  # type: ignore[index]
    until = until or date.fromisoformat(last[:10])  # type: ignore[index]
    if until < since:
        raise InputError(f"--until {until} is before --since {since}")
    return Period(since, until)


def build(db: Database, home: str, since: date | None = None, until: date | None = None) -> dict:
    """The report on the period as one JSON-ready object (see the README for its fields)."""
    period = period_of(db, since, until)
    crawls = stored.crawls_between(db, period.start, period.end)
    healthy = [c for c in crawls if c["status"] == "complete" and c["degraded"] is None]
    at = healthy[-1] if healthy else None
    left = stored.moves_first_seen_between(db, ["left-home"], period.start, period.end)
    came = stored.moves_first_seen_between(db, ["came-home"], period.start, period.end)
    attribution = for_store(db)
    report = {
        "period": {"since": period.since.isoformat(), "until": period.until.isoformat()},
        "home_country": home,
        "data_date": at["started_at"] if at else None,
        "left_home": _left_home(left),
        "came_home": {"hosters": len({m["hoster"] for m in came}), "urls": _urls(came),
                      "moves": [_move(m) for m in came]},
        "now_abroad": _now_abroad(db, at, home),
        "urls_by_month_and_country": stored.urls_by_month_and_country(db, period.start, period.end,
                                                                      at["id"] if at else 0),
        "takedowns_by_country": stored.takedowns_by_country(db, period.start, period.end),
        "top_asns": stored.top_asns_at(db, at["id"]) if at else [],
        "crawls": {"in_period": len(crawls), "healthy": len(healthy),
                   "degraded": [{"id": c["id"], "started_at": c["started_at"], "why": c["degraded"]}
                                for c in crawls if c["degraded"] is not None]},
        "period_rule": PERIOD_RULE,
        "attribution": [a.to_json() for a in attribution],
    }
    report["summary"] = summary(report)
    return report


def render(db: Database, home: str, since: date | None, until: date | None, fmt: str) -> str:
    """The report in one of REPORT_FORMATS."""
    from . import document

    report = build(db, home, since, until)
    if fmt == "html":
        from .html import to_html  # matplotlib loads only for the charts

        return to_html(db, report)
    return {"json": document.to_json, "md": document.to_markdown, "csv": document.to_csv}[fmt](report)


def _urls(moves: list[dict]) -> int:
    return sum({m["hoster"]: m["urls"] for m in moves}.values())


def _left_home(moves: list[dict]) -> dict:
    by_country: dict[str, dict] = {}
    for move in moves:
        day = date.fromisoformat(move["confirmed_at"][:10])
        for country in move["to_countries"]:
            entry = by_country.setdefault(country, {"hosters": {}, "answers": set()})
            entry["hosters"][move["hoster"]] = move["urls"]
            entry["answers"].add(has_hotline(country, day))
    rows = [{"country": country, "hosters": len(e["hosters"]), "urls": sum(e["hosters"].values()),
             "has_hotline": next(iter(e["answers"])) if len(e["answers"]) == 1 else None}
            for country, e in by_country.items()]
    rows.sort(key=lambda r: (-r["hosters"], -r["urls"], r["country"]))
    hosters = {m["hoster"] for m in moves}
    # A hoster went "where no hotline works" if a move of it certainly did (false, not null).
    without = {m["hoster"] for m in moves if m["destination_has_hotline"] == 0}
    unknown = {m["hoster"] for m in moves if m["destination_has_hotline"] is None} - without
    return {
        "hosters": len(hosters), "urls": _urls(moves), "by_destination": rows,
        "no_hotline": {"hosters": len(without), "share": _share(len(without), len(hosters))},
        "hotline_unknown": {"hosters": len(unknown), "share": _share(len(unknown), len(hosters))},
        "moves": [_move(m) for m in moves],
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _move(move: dict) -> dict:
    hotline = move["destination_has_hotline"]
    return {key: move[key] for key in ("hoster", "kind", "from_countries", "to_countries", "from_asns", "to_asns",
                                       "last_seen_before", "first_seen_after", "confirmed_at", "confirmed_crawl",
                                       "urls")} | {"destination_has_hotline": None if hotline is None
                                                   else bool(hotline)}


def _now_abroad(db: Database, at: dict | None, home: str) -> dict:
    if at is None:
        return {"at": None, "crawl": None, "hosters": [], "behind_cdn": []}
    rows = stored.hosters_away_from_home_at(db, at["id"], home)
    return {"at": at["started_at"], "crawl": at["id"],
            "hosters": [r for r in rows if not r["cdn"]],
            # Behind an edge network nobody can say where they are: not counted as abroad.
            "behind_cdn": [r for r in rows if r["cdn"]]}


def evidence(db: Database, hoster_id: int, move: dict) -> dict:
    """What shows the move: the hoster's addresses at its last crawl at home and its first crawl
    abroad, each with country, ASN and the database builds that placed them, and the crawls."""
    crawls = Crawls.load(db)
    located = [p for p in timeline_periods(stored_moves.hoster_states(db, hoster_id), crawls) if p.status == "located"]
    # Found by crawl, not by time: crawls may start within the same second (tests, the demo). The
    # new location is the run of periods at one place that holds the confirming crawl; the old one
    # is the located period before that run.
    at = next((i for i, p in enumerate(located) if p.first_crawl <= move["confirmed_crawl"] <= p.last_crawl), None)
    before = after = None
    if at is not None:
        first = at
        while first > 0 and (located[first - 1].countries, located[first - 1].cdn) == (located[at].countries,
                                                                                      located[at].cdn):
            first -= 1
        after, before = located[first], located[first - 1] if first > 0 else None

    def side(period, crawl: int | None) -> dict | None:
        if period is None or crawl is None:
            return None
        return {"crawl": crawl, "at": crawls.started.get(crawl), "countries": list(period.countries),
                "asns": list(period.asns), "as_orgs": list(period.as_orgs), "ips": list(period.ips),
                "addresses": stored.addresses_at(db, list(period.ips), crawl)}

    return {"before": side(before, before.last_crawl if before else None),
            "after": side(after, after.first_crawl if after else None),
            "confirmed_crawl": move["confirmed_crawl"], "confirmed_at": move["confirmed_at"]}


def summary(report: dict) -> str:
    """The sentence for an annual report, from the headline table."""
    home = country_in_sentence(report["home_country"])
    left = report["left_home"]
    since, until = report["period"]["since"], report["period"]["until"]
    if not left["hosters"]:
        text = f"From {since} to {until} no hoster left {home}."
    else:
        destinations = [f"{_count(r['hosters'])} to {country_in_sentence(r['country'])}"
                        for r in left["by_destination"]]
        listed = destinations[0] if len(destinations) == 1 else f"{', '.join(destinations[:-1])} and {destinations[-1]}"
        text = (f"From {since} to {until}, {_count(left['hosters'], 'hoster')} with "
                f"{_count(left['urls'], 'reported URL')} left {home}: {listed}.")
        none = left["no_hotline"]["hosters"]
        unknown = left["hotline_unknown"]["hosters"]
        if none:
            text += (f" {_count(none, 'of them', bare=True).capitalize()} ({left['no_hotline']['share']:.0%}) went "
                     "where no INHOPE hotline works, so reports no longer reach a hotline there.")
        if unknown:
            text += (f" For {_count(unknown, 'more', bare=True)} ({left['hotline_unknown']['share']:.0%}) the "
                     "reference data does not say whether a hotline works at the destination.")
    back = report["came_home"]["hosters"]
    if back:
        text += f" {_count(back, 'hoster').capitalize()} came back to {home}."
    return text


_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


def _count(n: int, noun: str = "", bare: bool = False) -> str:
    """'six hosters', '14 reported URLs' (words up to twelve, as style guides ask)."""
    number = _WORDS[n] if n < len(_WORDS) else str(n)
    if bare or not noun:
        return f"{number} {noun}".strip()
    return f"{number} {noun}{'' if n == 1 else 's'}"

