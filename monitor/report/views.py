"""Read-only views of the store for the listing commands (hosters, stats, history)."""

from __future__ import annotations

import json

from sqlite_utils import Database

from ..errors import NotFound
from ..urls import InvalidURL, normalise

STATS_BY = ("month", "country", "asn", "hoster", "takedown-country")
# Columns of each listing, so that an empty one still prints its header (CSV readers need it).
HOSTER_COLUMNS = ("hoster", "urls", "active_urls", "retired_urls", "first_added", "status", "countries", "asns")
HISTORY_PERIOD_COLUMNS = ("start", "end", "outcome", "http_status", "final_url", "connected_ip", "countries", "asns")
# Online counts only URLs still revisited: a retired URL's last state is from before it was
# retired and says nothing about the last crawl. (Taken down stays a fact of its history.)
_ONLINE = "n.outcome = 'online' AND n.url_id NOT IN (SELECT id FROM urls WHERE retired_at IS NOT NULL)"


def hosters(db: Database, country: str | None = None) -> list[dict]:
    """Every hoster with its reported URLs and, once crawled, its latest location."""
    sql = f"""
        SELECT n.hoster, COUNT(u.id) AS urls, SUM(u.active) AS active_urls, COUNT(u.retired_at) AS retired_urls,
               MIN(u.added_at) AS first_added,
               n.status, n.countries, n.asns
        FROM hoster_now n JOIN urls u ON u.hoster_id = n.hoster_id
        {"WHERE EXISTS (SELECT 1 FROM json_each(n.countries) WHERE value = :country)" if country else ""}
        GROUP BY n.hoster_id ORDER BY urls DESC, n.hoster
    """
    rows = [dict(row) for row in db.query(sql, {"country": country})]
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
        return [
            {"what": what, "count": db.execute(sql).fetchone()[0]}
            for what, sql in (
                ("reported URLs", "SELECT COUNT(*) FROM urls"),
                ("active URLs", "SELECT COUNT(*) FROM urls WHERE active"),
                ("retired URLs", "SELECT COUNT(*) FROM urls WHERE retired_at IS NOT NULL"),
                ("online at the last crawl", f"SELECT COUNT(*) FROM url_now n WHERE {_ONLINE}"),
                ("taken down", "SELECT COUNT(*) FROM url_takedown WHERE taken_down_at IS NOT NULL"),
                ("hosters", "SELECT COUNT(*) FROM hosters"),
                ("crawls", "SELECT COUNT(*) FROM crawls"),
                ("moves", "SELECT COUNT(*) FROM moves"),
            )
        ], ["what", "count"]
    if by not in STATS_SQL:
        raise ValueError(f"stats by {by!r}: choose one of {', '.join(STATS_BY)}")
    cursor = db.execute(STATS_SQL[by])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor], columns


def _stats_by(groups: list[str], order: str, extra_join: str = "") -> str:
    return f"""SELECT {", ".join(groups)}, COUNT(*) AS urls, COUNT(*) FILTER (WHERE {_ONLINE}) AS online,
                      COUNT(t.taken_down_at) AS taken_down, ROUND(AVG(t.days_to_takedown), 1) AS avg_days_to_takedown
               FROM url_now n JOIN url_takedown t ON t.url_id = n.url_id {extra_join}
               GROUP BY {", ".join(str(i + 1) for i in range(len(groups)))} ORDER BY {order}"""


_MONTH = "substr(n.reported, 1, 7) AS month"
# One definition of each figure, for `monitor stats` and Datasette's canned queries alike.
STATS_SQL = {
    "month": _stats_by([_MONTH], "month"),
    "country": _stats_by([_MONTH, "COALESCE(j.value, 'unknown') AS country"], "month, urls DESC, 2",
                         "LEFT JOIN json_each(COALESCE(n.countries, '[]')) j"),
    "asn": _stats_by([_MONTH, "COALESCE(j.value, 'unknown') AS asn"], "month, urls DESC, 2",
                     "LEFT JOIN json_each(COALESCE(n.asns, '[]')) j"),
    "hoster": _stats_by(["h.name AS hoster"], "online DESC, urls DESC, hoster", "JOIN hosters h ON h.id = n.hoster_id"),
    "takedown-country": _stats_by(["COALESCE(j.value, 'unknown') AS country"], "avg_days_to_takedown DESC, country",
                                  "LEFT JOIN json_each(COALESCE(n.countries, '[]')) j"),
}


def history(db: Database, url: str) -> dict:
    """A reported URL as stored, with the periods of its own states, oldest first."""
    try:
        normalised = normalise(url).url
    except InvalidURL as error:
        raise NotFound(f"{url}: not a valid URL ({error})") from None
    row = db.execute(
        """SELECT u.id, u.url, h.name, u.host, u.reported_at, u.reference, u.source, u.added_at, u.active,
                  u.retired_at
           FROM urls u JOIN hosters h ON h.id = u.hoster_id WHERE u.url = ?""",
        [normalised],
    ).fetchone()
    if row is None:
        raise NotFound(f"{normalised}: not a reported URL (add it with `monitor add`)")
    url_id, stored, hoster, host, reported_at, reference, source, added_at, active, retired_at = row
    periods = [
        {
            "start": start,
            "end": end,
            "outcome": outcome,
            "http_status": http_status,
            "final_url": final_url,
            "connected_ip": connected_ip,
            "countries": json.loads(countries or "[]"),
            "asns": json.loads(asns or "[]"),
        }
        for start, end, outcome, http_status, final_url, connected_ip, countries, asns in db.execute(
            """SELECT f.started_at, COALESCE(l.finished_at, l.started_at), s.outcome, s.http_status,
                      s.final_url, s.connected_ip, s.countries, s.asns
               FROM url_states s
               JOIN crawls f ON f.id = s.first_crawl JOIN crawls l ON l.id = s.last_crawl
               WHERE s.url_id = ? ORDER BY s.first_crawl""",
            [url_id],
        )
    ]
    return {
        "url": stored,
        "hoster": hoster,
        "host": host,
        "reported_at": reported_at,
        "reference": reference,
        "source": source,
        "added_at": added_at,
        "active": bool(active),
        "retired_at": retired_at,
        "periods": periods,
    }


def crawl_summary_rows(summary) -> list[dict]:
    """A crawl's closing summary (monitor.crawl.run.CrawlSummary) as rows for a terminal."""
    outcomes = summary.outcomes
    errors = sum(n for o, n in outcomes.items()
                 if o in ("http-error", "unreachable", "redirect-loop", "too-many-redirects", "error"))
    rows = [
        ("crawl", f"{summary.crawl_id} ({summary.mode}, {summary.status})"),
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
