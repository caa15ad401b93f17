"""Read-only views of the store for the listing commands (hosters, stats, history)."""

from __future__ import annotations

import json

from sqlite_utils import Database

from ..errors import NotFound
from ..store import queries
from ..urls import InvalidURL, normalise

STATS_BY = tuple(queries.STATS_SQL)
STATS_PLACED = ("country", "asn", "takedown-country")  # groupings that show geolocation data
# Columns of each listing, so that an empty one still prints its header (CSV readers need it).
HOSTER_COLUMNS = ("hoster", "urls", "active_urls", "retired_urls", "first_added", "status", "countries", "asns")
HISTORY_PERIOD_COLUMNS = ("start", "end", "outcome", "http_status", "final_url", "connected_ip", "countries", "asns")


def hosters(db: Database, country: str | None = None) -> list[dict]:
    """Every hoster with its reported URLs and, once crawled, its latest location."""
    rows = queries.hosters(db, country)
    for row in rows:
        row["countries"] = json.loads(row["countries"]) if row["countries"] else []
        row["asns"] = json.loads(row["asns"]) if row["asns"] else []
        row["status"] = row["status"] or "not crawled"
    return rows


def stats(db: Database, by: str | None = None) -> tuple[list[dict], list[str]]:
    """The figures hotlines publish: totals; or reported URLs by month, by month and country or
    ASN (where each URL's own host was last located; a URL in several countries counts in each;
    'unknown' before any crawl located it), or by hoster; each with URLs still online and the
    time from report to takedown (first crawl that found it removed or unresolved).
    Returns the rows and their columns."""
    if by is None:
        return [{"what": what, "count": count} for what, count in queries.totals(db)], ["what", "count"]
    if by not in STATS_BY:
        raise ValueError(f"stats by {by!r}: choose one of {', '.join(STATS_BY)}")
    return queries.stats_by(db, by)


def history(db: Database, url: str) -> dict:
    """A reported URL as stored, with the periods of its own states, oldest first; `aliases`: the
    spellings once stored for it; `refused`: why today's parser refuses its stored spelling."""
    invalid = None
    try:
        normalised = normalise(url).url
    except InvalidURL as error:
        # Perhaps a URL stored before the parser refused its spelling: it is kept as it was.
        normalised, invalid = url.strip(), error
    row = queries.reported_url(db, normalised) or queries.reported_url_by_alias(db, url.strip())
    if row is None:
        if invalid is not None:
            raise NotFound(f"{url}: not a valid URL ({invalid})")
        raise NotFound(f"{normalised}: not a reported URL (add it with `monitor add`)")
    periods = [{**period, "countries": json.loads(period["countries"] or "[]"),
                "asns": json.loads(period["asns"] or "[]")} for period in queries.url_periods(db, row["id"])]
    return {**{key: row[key] for key in ("url", "hoster", "host", "reported_at", "reference", "source",
                                         "added_at")},
            "active": bool(row["active"]), "retired_at": row["retired_at"],
            "aliases": queries.url_aliases(db, row["id"]), "refused": queries.url_refusal(db, row["id"]),
            "periods": periods}


def crawl_summary_rows(summary) -> list[dict]:
    """A crawl's closing summary (monitor.crawl.run.CrawlSummary) as rows for a terminal."""
    outcomes = summary.outcomes
    errors = sum(n for o, n in outcomes.items()
                 if o in ("http-error", "unreachable", "redirect-loop", "too-many-redirects", "error"))
    rows = [
        ("crawl", f"{summary.crawl_id} ({summary.mode}, {summary.status}"
                  f"{', DEGRADED' if summary.degraded else ''})"),
        ("URLs", summary.urls),
        ("online", outcomes.get("online", 0)),
        ("removed", outcomes.get("removed", 0)),
        ("resolved (dns-only)", outcomes.get("resolved", 0)),
        ("unresolved", outcomes.get("unresolved", 0)),
        ("refused (private address)", outcomes.get("refused-private", 0)),
        ("errors", errors),
        ("hosts resolved", summary.hosts),
        ("IPs enriched", summary.ips),
        ("hosters whose location changed", summary.hosters_changed),
        ("moves confirmed", summary.moves_confirmed),
    ]
    return [{"what": what, "count": value} for what, value in rows]
