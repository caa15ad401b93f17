"""m009's work: every stored URL spelled again as the WHATWG URL standard reads it, and the
spellings that turn out to be one URL merged into one, without losing any history.

- Respelled: a URL whose normalised form, host or hoster changed gets them; its old spelling goes
  to url_aliases (reason `respelled`) with the host and hoster it was counted under.
- Merged: of the URLs that are now one, the lowest id (the first reported) stays, with its own
  fields (as intake would have kept the first report). Each other one leaves its whole row in
  url_aliases (reason `merged`: its spelling, source, reference, dates, retirement) and its states
  move onto the one that stays where they do not overlap in crawls. Where they overlap, the
  staying URL's state is kept for those crawls (one state per URL and crawl is what the interval
  model and its views assume), the other's row goes whole to url_states_merged, and the crawls
  it covered that the staying URL did not are kept as a trimmed copy of it. The merged URL is
  revisited if any of its spellings was (an upgrade must not stop a crawl).
- Refused: a stored URL the standard (or our rules) refuses is left as it is, spelling, host,
  hoster and history, still revisited, and listed in url_refusals with the reason: the upgrade
  must not lose or silently rewrite a report; a person decides (`monitor retire`, or a corrected
  import).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator

from sqlite_utils import Database

BATCH = 5_000
# Spelling, host and hoster of a stored URL, or the reason it is refused (a str).
Respeller = Callable[[str], "tuple[str, str, str] | str"]


def respell_urls(db: Database, respell: Respeller, now: str) -> dict[str, int]:
    """Spell every stored URL again and merge what becomes one; returns the counts, which are
    also kept in `meta` under m009_whatwg_urls."""
    conn = db.conn
    conn.execute("CREATE TEMP TABLE m009_spellings (id INTEGER PRIMARY KEY, url TEXT NOT NULL, host TEXT NOT NULL,"
                 " hoster TEXT NOT NULL)")
    refused = 0
    for batch in _batches(conn):
        spelled, refusals = [], []
        for url_id, url in batch:
            result = respell(url)
            if isinstance(result, str):
                refusals.append((url_id, result, now))
            else:
                spelled.append((url_id, *result))
        conn.executemany("INSERT INTO m009_spellings VALUES (?, ?, ?, ?)", spelled)
        conn.executemany("INSERT INTO url_refusals (url_id, reason, recorded_at) VALUES (?, ?, ?)", refusals)
        refused += len(refusals)
    conn.execute("CREATE INDEX temp.m009_spellings_url ON m009_spellings(url)")
    # The old spellings of the URLs that stay, as they are before any merge changes them.
    conn.execute(_alias("u.id", """u.id IN (SELECT s.id FROM m009_spellings s JOIN urls o ON o.id = s.id
                                            WHERE s.url != o.url
                                            AND s.id = (SELECT MIN(id) FROM m009_spellings WHERE url = s.url))"""),
                 ["respelled", now])
    merged = 0
    groups = conn.execute("SELECT GROUP_CONCAT(id) FROM m009_spellings GROUP BY url HAVING COUNT(*) > 1").fetchall()
    merger = _Merger(conn, now)
    for (ids,) in groups:
        survivor, *others = sorted(int(i) for i in ids.split(","))
        for other in others:
            merger.merge(survivor, other)
            merged += 1
    respelled = _respell(conn, now)
    conn.execute("DROP TABLE temp.m009_spellings")
    counts = {"respelled": respelled, "merged": merged, "refused": refused}
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('m009_whatwg_urls', ?)", [json.dumps(counts)])
    return counts


def _batches(conn: sqlite3.Connection) -> Iterator[list[tuple[int, str]]]:
    """(id, url) of every URL, a page at a time: a million URLs need not be in memory at once."""
    last = -1
    while batch := conn.execute("SELECT id, url FROM urls WHERE id > ? ORDER BY id LIMIT ?", [last, BATCH]).fetchall():
        yield batch
        last = batch[-1][0]


def _alias(url_id: str, where: str) -> str:
    """SQL that keeps URL rows (`where`), as they are now, as aliases of URL `url_id` (an SQL
    expression); parameters: reason, time, then those of `where`."""
    return f"""INSERT INTO url_aliases (alias, url_id, old_id, reason, old_host, old_hoster, source, reference,
                                        reported_at, added_at, active, retired_at, recorded_at)
               SELECT u.url, {url_id}, u.id, ?, u.host, h.name, u.source, u.reference, u.reported_at, u.added_at,
                      u.active, u.retired_at, ?
               FROM urls u JOIN hosters h ON h.id = u.hoster_id WHERE {where}"""


class _Merger:
    """Folds URLs into others (see the module's docstring)."""

    def __init__(self, conn: sqlite3.Connection, now: str) -> None:
        self.conn, self.now = conn, now
        self.columns = [row[1] for row in conn.execute("PRAGMA table_info(url_states)")]
        self.state = ", ".join(c for c in self.columns if c not in ("id", "url_id", "first_crawl", "last_crawl"))
        # Rows of any later table that points at a URL follow it (the interval tables are done here).
        self.references = _url_references(conn)

    def merge(self, survivor: int, other: int) -> None:
        conn = self.conn
        conn.execute(_alias(str(int(survivor)), "u.id = ?"), ["merged", self.now, other])
        self.merge_states(survivor, other)
        for table, column in self.references:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [survivor, other])
        conn.execute("""UPDATE urls SET active = 1, retired_at = NULL
                        WHERE id = ? AND NOT active AND (SELECT active FROM urls WHERE id = ?)""", [survivor, other])
        conn.execute("DELETE FROM urls WHERE id = ?", [other])
        conn.execute("DELETE FROM m009_spellings WHERE id = ?", [other])

    def merge_states(self, survivor: int, other: int) -> None:
        conn, columns, state = self.conn, ", ".join(self.columns), self.state
        kept = conn.execute("SELECT first_crawl, last_crawl FROM url_states WHERE url_id = ?", [survivor]).fetchall()
        for row_id, first, last in conn.execute(
                "SELECT id, first_crawl, last_crawl FROM url_states WHERE url_id = ? ORDER BY first_crawl", [other]
        ).fetchall():
            covering = sorted((f, t) for f, t in kept if f <= last and first <= t)
            if not covering:
                conn.execute("UPDATE url_states SET url_id = ? WHERE id = ?", [survivor, row_id])
                kept.append((first, last))
                continue
            conn.execute(f"INSERT INTO url_states_merged ({columns}, merged_into, merged_at)"
                         f" SELECT {columns}, ?, ? FROM url_states WHERE id = ?", [survivor, self.now, row_id])
            for start, end in _uncovered(first, last, covering):
                # The piece's ends become crawls that exist: the interval said the state held in each.
                lo, hi = conn.execute("SELECT MIN(id), MAX(id) FROM crawls WHERE id BETWEEN ? AND ?",
                                      [start, end]).fetchone()
                if lo is not None:
                    conn.execute(f"INSERT INTO url_states (url_id, first_crawl, last_crawl, {state})"
                                 f" SELECT ?, ?, ?, {state} FROM url_states WHERE id = ?", [survivor, lo, hi, row_id])
                    kept.append((lo, hi))
            conn.execute("DELETE FROM url_states WHERE id = ?", [row_id])


def _uncovered(first: int, last: int, covering: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The ranges of crawl ids in [first, last] outside every (sorted) covering interval."""
    start = first
    for lo, hi in covering:
        if lo > start:
            yield start, min(lo - 1, last)
        start = max(start, hi + 1)
    if start <= last:
        yield start, last


def _url_references(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(table, column) of every table other than m009's own whose foreign key names urls."""
    handled = {"url_states", "url_aliases", "url_refusals", "url_states_merged"}
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [(table, fk[3]) for table in tables if table not in handled
            for fk in conn.execute(f"PRAGMA foreign_key_list({table})") if fk[2] == "urls"]


def _respell(conn: sqlite3.Connection, now: str) -> int:
    """Give every URL whose spelling, host or hoster changed its new ones; returns how many."""
    conn.execute("""INSERT INTO hosters (name, first_added)
                    SELECT s.hoster, MIN(u.added_at) FROM m009_spellings s JOIN urls u ON u.id = s.id
                    WHERE s.hoster NOT IN (SELECT name FROM hosters) GROUP BY s.hoster""")
    conn.execute("""CREATE TEMP TABLE m009_changed (id INTEGER PRIMARY KEY, url TEXT, host TEXT, hoster_id INTEGER,
                                                    url_changed INTEGER)""")
    conn.execute("""INSERT INTO m009_changed
                    SELECT s.id, s.url, s.host, h.id, u.url != s.url
                    FROM m009_spellings s JOIN urls u ON u.id = s.id JOIN hosters h ON h.name = s.hoster
                    WHERE u.url != s.url OR u.host != s.host OR u.hoster_id != h.id""")
    # Two steps, since a URL's new spelling may be another's old one until that one has changed.
    conn.execute("UPDATE urls SET url = 'm009:' || id WHERE id IN (SELECT id FROM m009_changed WHERE url_changed)")
    changed = conn.execute("""UPDATE urls SET url = c.url, host = c.host, hoster_id = c.hoster_id
                              FROM m009_changed c WHERE c.id = urls.id""").rowcount
    conn.execute("DROP TABLE temp.m009_changed")
    return changed
