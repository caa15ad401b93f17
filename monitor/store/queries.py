"""The read side of the store: the SQL behind the listings (hosters, stats, history) and
Datasette's canned queries, so each figure has one definition wherever it is shown."""

from __future__ import annotations

import sqlite3
from datetime import date

from sqlite_utils import Database

from ..countries import is_country
from ..hotlines import has_hotline

# Online comes from the last healthy crawl that made HTTP requests (a dns-only crawl cannot say),
# and counts only URLs still revisited: a retired URL's last state says nothing about that crawl.
LAST_HTTP_CRAWL = ("(SELECT MAX(id) FROM crawls WHERE mode = 'head' AND status = 'complete' "
                   "AND degraded IS NULL)")
_ONLINE_JOIN = f"""LEFT JOIN (SELECT url_id FROM url_states WHERE outcome = 'online'
                              AND first_crawl <= {LAST_HTTP_CRAWL} AND last_crawl >= {LAST_HTTP_CRAWL}
                              AND url_id NOT IN (SELECT id FROM urls WHERE retired_at IS NOT NULL)) o
                   ON o.url_id = n.url_id"""


def hosters(db: Database, country: str | None = None) -> list[dict]:
    """Every hoster with its reported URLs and latest location (JSON lists as stored)."""
    sql = f"""
        SELECT n.hoster, COUNT(u.id) AS urls, SUM(u.active) AS active_urls, COUNT(u.retired_at) AS retired_urls,
               MIN(u.added_at) AS first_added,
               n.status, n.countries, n.asns
        FROM hoster_now n JOIN urls u ON u.hoster_id = n.hoster_id
        {"WHERE EXISTS (SELECT 1 FROM json_each(n.countries) WHERE value = :country)" if country else ""}
        GROUP BY n.hoster_id ORDER BY urls DESC, n.hoster
    """
    return [dict(row) for row in db.query(sql, {"country": country})]


def totals(db: Database) -> list[tuple[str, int | None]]:
    """(what, count) of the headline figures."""
    return [
        (what, db.execute(sql).fetchone()[0])
        for what, sql in (
            ("reported URLs", "SELECT COUNT(*) FROM urls"),
            ("active URLs", "SELECT COUNT(*) FROM urls WHERE active"),
            ("retired URLs", "SELECT COUNT(*) FROM urls WHERE retired_at IS NOT NULL"),
            ("online at the last HTTP crawl", f"SELECT COUNT(o.url_id) FROM url_now n {_ONLINE_JOIN}"),
            ("the last HTTP crawl", f"SELECT {LAST_HTTP_CRAWL}"),
            ("taken down (and not back)", "SELECT COUNT(*) FROM url_takedown WHERE down_now"),
            ("reappeared after a takedown", "SELECT COUNT(*) FROM url_takedown WHERE reappeared"),
            ("hosters", "SELECT COUNT(*) FROM hosters"),
            ("crawls", "SELECT COUNT(*) FROM crawls"),
            ("degraded crawls", "SELECT COUNT(*) FROM crawls WHERE degraded IS NOT NULL"),
            ("moves", "SELECT COUNT(*) FROM moves"),
        )
    ]


def urls_now_with_outcome(db: Database, outcome: str) -> int:
    """How many URLs had this outcome at their latest state."""
    return db.execute("SELECT COUNT(*) FROM url_now WHERE outcome = ?", [outcome]).fetchone()[0]


def stats_by(db: Database, by: str) -> tuple[list[dict], list[str]]:
    """Reported URLs grouped by one of STATS_SQL's keys: the rows and their columns."""
    cursor = db.execute(STATS_SQL[by])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor], columns


def _stats_by(groups: list[str], order: str, extra_join: str = "") -> str:
    return f"""SELECT {", ".join(groups)}, COUNT(*) AS urls, COUNT(o.url_id) AS online,
                      SUM(t.down_now) AS taken_down, SUM(t.reappeared) AS reappeared,
                      ROUND(AVG(t.days_to_takedown), 1) AS avg_days_to_takedown
               FROM url_now n JOIN url_takedown t ON t.url_id = n.url_id {_ONLINE_JOIN} {extra_join}
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
    # Where each URL was last located before it was (first) taken down; URLs never taken down are
    # left out.
    "takedown-country": _stats_by(["COALESCE(j.value, 'unknown') AS country"], "avg_days_to_takedown DESC, country",
                                  "LEFT JOIN json_each(COALESCE(t.takedown_countries, '[]')) j "
                                  "WHERE t.taken_down_at IS NOT NULL"),
}


_REPORTED_URL = """SELECT u.id, u.url, h.name AS hoster, u.host, u.reported_at, u.reference, u.source, u.added_at,
                          u.active, u.retired_at
                   FROM urls u JOIN hosters h ON h.id = u.hoster_id"""


def reported_url(db: Database, url: str) -> dict | None:
    """A normalised URL's row with its hoster's name, or None. (Or a URL stored in a spelling the
    parser now refuses, given exactly as stored: see url_refusals.)"""
    rows = list(db.query(f"{_REPORTED_URL} WHERE u.url = ?", [url]))
    return rows[0] if rows else None


# m009's tables: a reader may open a database that has not had that upgrade yet.


def reported_url_by_alias(db: Database, alias: str) -> dict | None:
    """The row of the URL a spelling stored before m009 now is, or None."""
    if not db["url_aliases"].exists():
        return None
    rows = list(db.query(f"{_REPORTED_URL} WHERE u.id = (SELECT url_id FROM url_aliases WHERE alias = ?)", [alias]))
    return rows[0] if rows else None


def url_aliases(db: Database, url_id: int) -> list[str]:
    """The other spellings once stored for a URL (respelled, or merged into it, by m009), sorted.
    (A merged report spelled as the URL is now keeps its row there, but is no other spelling.)"""
    if not db["url_aliases"].exists():
        return []
    return [row[0] for row in db.execute(
        """SELECT alias FROM url_aliases WHERE url_id = ? AND alias != (SELECT url FROM urls WHERE id = url_id)
           ORDER BY alias""", [url_id])]


def url_refusal(db: Database, url_id: int) -> str | None:
    """Why today's parser refuses a stored URL (kept as it was by m009), or None."""
    if not db["url_refusals"].exists():
        return None
    row = db.execute("SELECT reason FROM url_refusals WHERE url_id = ?", [url_id]).fetchone()
    return row[0] if row else None


def url_periods(db: Database, url_id: int) -> list[dict]:
    """A URL's states, oldest first, with the times of their first and last crawls."""
    return list(db.query(
        """SELECT f.started_at AS start, COALESCE(l.finished_at, l.started_at) AS end, s.outcome, s.http_status,
                  s.final_url, s.connected_ip, s.countries, s.asns
           FROM url_states s
           JOIN crawls f ON f.id = s.first_crawl JOIN crawls l ON l.id = s.last_crawl
           WHERE s.url_id = ? ORDER BY s.first_crawl""", [url_id]))


def canned_queries(home: str) -> dict[str, dict]:
    """Datasette's canned queries, in the order the front page lists them. Hoster names in the
    results are shown as links to their timeline by the Datasette plugin (monitor.report.datasette_site)."""
    return {
        "moves_since": {
            "title": "Moves since a date",
            "description": "Confirmed moves of hosters between countries, oldest first (date: YYYY-MM-DD).",
            "sql": """SELECT h.name AS hoster, m.kind, m.from_countries, m.to_countries, m.from_asns, m.to_asns,
                             m.last_seen_before, m.first_seen_after, m.confirmed_at,
                             CASE m.destination_has_hotline WHEN 1 THEN 'yes' WHEN 0 THEN 'no' ELSE 'unknown' END
                               AS destination_has_hotline
                      FROM moves m JOIN hosters h ON h.id = m.hoster_id
                      WHERE m.confirmed_at >= :since ORDER BY m.confirmed_at, h.name""",
        },
        "moves_by_destination": {
            "title": "Moves by destination country in a period",
            "description": "Hosters whose confirmed moves in the period (since and until: YYYY-MM-DD, both days "
                           "included; empty: open) went to each country, with their reported URLs, and whether "
                           "the country had a hotline on the day of the last of those moves. A move to several "
                           "countries counts in each; a move behind a CDN counts apart (its countries are "
                           "edges).",
            "sql": MOVES_BY_DESTINATION,
        },
        "home_now_abroad": {
            "title": f"Hosters that were in {home} and are now abroad",
            "description": f"Located in {home} at some crawl; at their latest crawl located, but not in {home}.",
            "sql": f"""SELECT h.name AS hoster, n.countries AS now_countries, n.asns AS now_asns, n.as_orgs,
                             (SELECT COUNT(*) FROM urls u WHERE u.hoster_id = h.id) AS urls
                      FROM hoster_now n JOIN hosters h ON h.id = n.hoster_id
                      WHERE n.status = 'located'
                        AND NOT EXISTS (SELECT 1 FROM json_each(n.countries) WHERE value = '{home}')
                        AND EXISTS (SELECT 1 FROM hoster_states s, json_each(s.countries) c
                                    WHERE s.hoster_id = h.id AND c.value = '{home}')
                      ORDER BY urls DESC, hoster""",
        },
        "urls_by_country_and_month": {
            "title": "Reported URLs per country by month",
            "description": "Where each URL's own host was last located; a URL in several countries counts in each.",
            "sql": STATS_SQL["country"],
        },
        "urls_online_per_hoster": {
            "title": "URLs still online per hoster",
            "description": "Online: the last crawl's HEAD request was answered with 2xx.",
            "sql": STATS_SQL["hoster"],
        },
        "time_to_takedown_by_country": {
            "title": "Time to takedown by country",
            "description": "Days from the report to the first crawl that found the URL removed (404, 410) "
                           "or its host unresolved.",
            "sql": STATS_SQL["takedown-country"],
        },
        "timeline": {
            "title": "A hoster's timeline",
            "description": "Its locations crawl by crawl, as periods (hoster: its name, any of its hosts, or a "
                           "reported URL of it).",
            "sql": """SELECT f.started_at AS start, COALESCE(l.finished_at, l.started_at) AS end, s.status,
                             s.countries, s.asns, s.as_orgs, s.ips, s.cdn
                      FROM hoster_states s JOIN hosters h ON h.id = s.hoster_id
                      JOIN crawls f ON f.id = s.first_crawl JOIN crawls l ON l.id = s.last_crawl
                      WHERE h.name = :hoster ORDER BY s.first_crawl""",
        },
    }


# A masked move's countries are a CDN's edges, which say nothing about where the content sits, so
# such moves form a row of their own; a move whose new location has no country forms one too.
BEHIND_A_CDN = "behind a CDN"
NO_COUNTRY = "unknown"
MOVES_BY_DESTINATION = f"""
    WITH period AS (
        SELECT hoster_id, kind, to_countries, confirmed_at FROM moves
        WHERE (:since = '' OR confirmed_at >= :since)
          AND (:until = '' OR confirmed_at < date(:until, '+1 day'))
    ), destinations AS (
        SELECT p.hoster_id, p.kind, p.confirmed_at, j.value AS country
        FROM period p, json_each(p.to_countries) j WHERE p.kind != 'masked'
        UNION ALL
        SELECT hoster_id, kind, confirmed_at, '{BEHIND_A_CDN}' FROM period WHERE kind = 'masked'
        UNION ALL
        SELECT hoster_id, kind, confirmed_at, '{NO_COUNTRY}' FROM period
        WHERE kind != 'masked' AND json_array_length(to_countries) = 0
    ), per_country AS (
        SELECT country, COUNT(DISTINCT hoster_id) AS hosters, COUNT(*) AS moves,
               has_hotline(country, MAX(confirmed_at)) AS hotline
        FROM destinations GROUP BY country
    )
    SELECT c.country AS destination_country, c.hosters,
           (SELECT COUNT(*) FROM urls u
            WHERE u.hoster_id IN (SELECT hoster_id FROM destinations d WHERE d.country = c.country)) AS urls,
           c.moves,
           (SELECT group_concat(kind, ', ') FROM (SELECT DISTINCT kind FROM destinations d
                                                  WHERE d.country = c.country ORDER BY kind)) AS kinds,
           CASE c.hotline WHEN 1 THEN 'yes' WHEN 0 THEN 'no' ELSE 'unknown' END AS has_hotline
    FROM per_country c ORDER BY c.hosters DESC, urls DESC, c.country"""

def register_functions(conn: sqlite3.Connection) -> None:
    """SQL functions the canned queries use: has_hotline(country, date) is 1, 0 or NULL
    (unknown), per monitor.hotlines, on the date an ISO 8601 time begins with."""
    conn.create_function("has_hotline", 2, _has_hotline, deterministic=True)


def _has_hotline(country: object, when: object) -> int | None:
    if not (isinstance(country, str) and is_country(country) and isinstance(when, str)):
        return None  # a row label (behind a CDN, unknown) or a NULL: nothing is known
    try:
        on = date.fromisoformat(when[:10])
    except ValueError:
        return None
    answer = has_hotline(country, on)
    return None if answer is None else int(answer)
