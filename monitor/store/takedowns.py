"""URL states as takedown detection reads them, and the derived takedowns table."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from sqlite_utils import Database

# Outcomes that may still turn into a takedown or end one: a URL whose state since the last
# refresh is one of these, or changed, is looked at again; one steadily online is not.
_OPEN = "('removed', 'unresolved', 'unknown', 'unreachable')"


def healthy_crawls(db: Database, current: int | None = None) -> list[tuple[int, str]]:
    """(id, started_at) of the crawls that count: complete and not degraded (and `current`, the
    crawl refreshing at its end, if it is not degraded)."""
    return [(r[0], r[1]) for r in db.execute(
        "SELECT id, started_at FROM crawls WHERE degraded IS NULL AND (status = 'complete' OR id = ?) ORDER BY id",
        [current if current is not None else -1])]


def states_to_review(db: Database, since: int) -> Iterator[tuple]:
    """(url_id, first_crawl, last_crawl, outcome, countries) of every URL whose states may have
    changed its takedowns since crawl `since`, by URL, oldest state first."""
    yield from db.execute(
        f"""SELECT url_id, first_crawl, last_crawl, outcome, countries FROM url_states
            WHERE url_id IN (SELECT url_id FROM url_states WHERE last_crawl > :since
                             AND (first_crawl > :since OR outcome IN {_OPEN}))
            ORDER BY url_id, first_crawl""", {"since": since})


def replace_takedowns(db: Database, urls: Sequence[int], rows: Sequence[tuple], meta: dict[str, str]) -> None:
    """In one transaction: the takedowns of `urls` replaced by `rows` (url_id, taken_down_crawl,
    taken_down_at, countries, reappeared_crawl, reappeared_at, reappeared_countries; country
    lists as sequences or None), and the meta marks set."""
    with db.atomic():
        conn = db.conn
        conn.executemany("DELETE FROM takedowns WHERE url_id = ?", [(u,) for u in urls])
        conn.executemany(
            "INSERT INTO takedowns (url_id, taken_down_crawl, taken_down_at, countries, reappeared_crawl, "
            "reappeared_at, reappeared_countries) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*row[:3], _json(row[3]), *row[4:6], _json(row[6])) for row in rows])
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))


def meta(db: Database) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM meta WHERE key IN ('takedowns_settings', 'takedowns_through')"))


def degraded_crawls(db: Database, since: str | None = None) -> list[tuple[int, str, str]]:
    """(id, started_at, why) of the degraded crawls, since a date if given."""
    return [tuple(r) for r in db.execute(
        "SELECT id, started_at, degraded FROM crawls WHERE degraded IS NOT NULL AND started_at >= ? ORDER BY id",
        [since or ""])]


def _json(values: Sequence[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values))
