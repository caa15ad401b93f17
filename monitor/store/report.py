"""The SQL behind `monitor report` and the attribution of every output.

Times in the store are ISO 8601 UTC strings, so a period is a pair of strings: `start` (inclusive)
and `end` (exclusive, the day after the period's last day). Where a figure says where something
*is*, it is read at one crawl, `at`: the period's last healthy crawl, so that a report on a past
period says what was true then, not what is true today.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlite_utils import Database

_DECODE = ("from_countries", "to_countries", "from_asns", "to_asns")


def geolocation_sources(db: Database) -> list[tuple[str, str]]:
    """(name, build) of every database or service recorded as having given a value: those the
    IP states point at, and those each finished crawl lists as used."""
    found = {(r[0], r[1]) for r in db.execute(
        """SELECT name, build FROM sources WHERE id IN (SELECT country_source FROM ip_states
           UNION SELECT asn_source FROM ip_states)""")}
    for (listed,) in db.execute("SELECT sources FROM crawls WHERE sources IS NOT NULL AND sources != '[]'"):
        for source in json.loads(listed):
            found.add((source["name"], source.get("build") or ""))
    return sorted(found)


def sources_mark(db: Database) -> tuple:
    """A mark that changes whenever geolocation_sources may have changed (a new IP state or source,
    a crawl begun or finished), read at the cost of a few index lookups: a long-running reader
    (`monitor serve`) reads geolocation_sources, a scan of every IP state, again only then."""
    return tuple(db.execute(
        """SELECT (SELECT MAX(id) FROM ip_states), (SELECT MAX(id) FROM sources),
                  (SELECT id FROM crawls ORDER BY id DESC LIMIT 1),
                  (SELECT status FROM crawls ORDER BY id DESC LIMIT 1)""").fetchone())


def crawls_between(db: Database, start: str, end: str) -> list[dict]:
    """The crawls started in [start, end), oldest first."""
    return [dict(r) for r in db.query(
        """SELECT id, started_at, finished_at, status, mode, degraded FROM crawls
           WHERE started_at >= :start AND started_at < :end ORDER BY id""", {"start": start, "end": end})]


def store_dates(db: Database) -> tuple[str | None, str | None]:
    """The first thing the store knows (a report or a crawl) and the start of its last crawl."""
    return tuple(db.execute(
        """SELECT MIN((SELECT MIN(started_at) FROM crawls),
                      COALESCE((SELECT MIN(COALESCE(reported_at, added_at)) FROM urls), '9')),
                  (SELECT MAX(started_at) FROM crawls)""").fetchone())


def moves_first_seen_between(db: Database, kinds: Sequence[str], start: str, end: str) -> list[dict]:
    """Moves of these kinds whose new location was first seen in [start, end), oldest first, with
    the hoster's name and number of reported URLs; lists decoded."""
    marks = ", ".join(f":k{i}" for i in range(len(kinds)))
    rows = db.query(
        f"""SELECT h.name AS hoster, m.hoster_id, m.kind, m.from_countries, m.to_countries, m.from_asns, m.to_asns,
                   m.last_seen_before, m.first_seen_after, m.confirmed_at, m.confirmed_crawl,
                   m.destination_has_hotline,
                   (SELECT COUNT(*) FROM urls u WHERE u.hoster_id = m.hoster_id) AS urls
            FROM moves m JOIN hosters h ON h.id = m.hoster_id
            WHERE m.kind IN ({marks}) AND m.first_seen_after >= :start AND m.first_seen_after < :end
            ORDER BY m.first_seen_after, h.name""",
        {"start": start, "end": end, **{f"k{i}": k for i, k in enumerate(kinds)}})
    return [{**r, **{k: json.loads(r[k]) for k in _DECODE}} for r in rows]


def hosters_away_from_home_at(db: Database, at: int, home: str) -> list[dict]:
    """Hosters located outside `home` at crawl `at` that were located in `home` at some earlier
    crawl, most reported URLs first; `cdn` marks those whose only location is an edge network."""
    return [{**r, "countries": json.loads(r["countries"]), "asns": json.loads(r["asns"]),
             "as_orgs": json.loads(r["as_orgs"] or "[]"), "cdn": bool(r["cdn"])} for r in db.query(
        """SELECT h.name AS hoster, s.countries, s.asns, s.as_orgs, s.cdn, f.started_at AS since,
                  (SELECT COUNT(*) FROM urls u WHERE u.hoster_id = h.id) AS urls
           FROM hoster_states s JOIN hosters h ON h.id = s.hoster_id JOIN crawls f ON f.id = s.first_crawl
           WHERE s.first_crawl <= :at AND s.last_crawl >= :at AND s.status = 'located'
             AND NOT EXISTS (SELECT 1 FROM json_each(s.countries) WHERE value = :home)
             AND EXISTS (SELECT 1 FROM hoster_states e, json_each(e.countries) c
                         WHERE e.hoster_id = s.hoster_id AND e.first_crawl <= :at AND c.value = :home)
           ORDER BY urls DESC, hoster""", {"at": at, "home": home})]


def urls_by_month_and_country(db: Database, start: str, end: str, at: int) -> list[dict]:
    """URLs reported in [start, end) by month of report and by the country where each URL's own
    host was last located at or before crawl `at` ('unknown' if never; a URL located in several
    countries counts in each), as `monitor stats --by country` counts them."""
    return [dict(r) for r in db.query(
        """SELECT substr(COALESCE(u.reported_at, u.added_at), 1, 7) AS month,
                  COALESCE(j.value, 'unknown') AS country, COUNT(*) AS urls
           FROM urls u
           LEFT JOIN url_states l ON l.id = (SELECT id FROM url_states WHERE url_id = u.id AND first_crawl <= :at
                                             AND countries IS NOT NULL AND countries != '[]'
                                             ORDER BY last_crawl DESC LIMIT 1)
           LEFT JOIN json_each(COALESCE(l.countries, '[]')) j
           WHERE COALESCE(u.reported_at, u.added_at) >= :start AND COALESCE(u.reported_at, u.added_at) < :end
           GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2""", {"start": start, "end": end, "at": at})]


def takedowns_by_country(db: Database, start: str, end: str) -> list[dict]:
    """URLs first taken down in [start, end) by the country where each was last located before it
    went down, with the average and longest days from report to takedown (README: "What the
    figures mean"), slowest first."""
    return [dict(r) for r in db.query(
        """SELECT COALESCE(j.value, 'unknown') AS country, COUNT(*) AS urls,
                  ROUND(AVG(t.days_to_takedown), 1) AS avg_days_to_takedown,
                  ROUND(MAX(t.days_to_takedown), 1) AS max_days_to_takedown
           FROM url_takedown t LEFT JOIN json_each(COALESCE(t.takedown_countries, '[]')) j
           WHERE t.taken_down_at >= :start AND t.taken_down_at < :end
           GROUP BY 1 ORDER BY avg_days_to_takedown DESC, country""", {"start": start, "end": end})]


def top_asns_at(db: Database, at: int, limit: int = 10) -> list[dict]:
    """The ASNs hosting the most reported URLs at crawl `at` (each URL's own host), with the AS
    organisation and the countries its addresses were placed in at that crawl."""
    rows = [dict(r) for r in db.query(
        """SELECT j.value AS asn, COUNT(DISTINCT s.url_id) AS urls
           FROM url_states s, json_each(COALESCE(s.asns, '[]')) j
           WHERE s.first_crawl <= :at AND s.last_crawl >= :at
           GROUP BY 1 ORDER BY urls DESC, asn LIMIT :limit""", {"at": at, "limit": limit})]
    for row in rows:
        found = db.execute(
            """SELECT as_org, json_group_array(DISTINCT country) FROM ip_states
               WHERE asn = ? AND first_crawl <= ? AND last_crawl >= ? AND country IS NOT NULL""",
            [row["asn"], at, at]).fetchone()
        row["as_org"] = found[0]
        row["countries"] = sorted(json.loads(found[1] or "[]"))
    return rows


def addresses_at(db: Database, ips: Sequence[str], at: int) -> list[dict]:
    """What the store recorded for these addresses at crawl `at`: country, ASN, AS organisation,
    edge network, and which database build gave the country and the ASN (the evidence of a move)."""
    if not ips:
        return []
    marks = ", ".join("?" for _ in ips)
    return [dict(r) for r in db.query(
        f"""SELECT s.ip, s.country, s.asn, s.as_org, s.cdn,
                   cs.name AS country_db, cs.build AS country_build, a.name AS asn_db, a.build AS asn_build
            FROM ip_states s LEFT JOIN sources cs ON cs.id = s.country_source
            LEFT JOIN sources a ON a.id = s.asn_source
            WHERE s.ip IN ({marks}) AND s.first_crawl <= ? AND s.last_crawl >= ? ORDER BY s.ip""",
        [*ips, at, at])]
