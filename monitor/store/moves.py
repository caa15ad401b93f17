"""Hoster states as detection reads them, and the derived moves and relabels tables.

Detection itself (monitor.detect) is plain functions over these rows; this module only fetches and
keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlite_utils import Database

_STATES = """SELECT hoster_id, first_crawl, last_crawl, status, countries, asns, as_orgs, ips, cdn
             FROM hoster_states {where} ORDER BY hoster_id, first_crawl"""
_META = "SELECT key, value FROM meta WHERE key IN ('moves_settings', 'moves_through')"


def crawl_times(db: Database) -> list[tuple[int, str, str, bool]]:
    """(id, started, ended, counts) of every crawl in order; `counts` is false for a failed,
    interrupted or degraded crawl, which saw nothing for certain."""
    return [(r[0], r[1], r[2], bool(r[3])) for r in db.execute(
        "SELECT id, started_at, COALESCE(finished_at, started_at), "
        "status IN ('complete', 'running') AND degraded IS NULL FROM crawls ORDER BY id")]


def hoster_states(db: Database, hoster_id: int) -> list[tuple]:
    """One hoster's states, oldest first: (first_crawl, last_crawl, status, countries, asns,
    as_orgs, ips, cdn)."""
    return [r[1:] for r in db.execute(_STATES.format(where="WHERE hoster_id = ?"), [hoster_id])]


def states_of_hosters_grown_since(db: Database, crawl_id: int) -> Iterator[tuple]:
    """(hoster_id, *state) of every hoster with a state reaching past crawl_id, by hoster, oldest
    first: what a refresh of the moves has to look at again."""
    where = "WHERE hoster_id IN (SELECT hoster_id FROM hoster_states WHERE last_crawl > ?)"
    yield from db.execute(_STATES.format(where=where), [crawl_id])


def moves_meta(db: Database) -> dict[str, str]:
    """The settings and the crawl the stored moves were derived with and through."""
    return dict(db.execute(_META).fetchall())


def has_hoster_states(db: Database) -> bool:
    return db.execute("SELECT 1 FROM hoster_states LIMIT 1").fetchone() is not None


def last_complete_crawl(db: Database) -> int:
    return db.execute("SELECT COALESCE(MAX(id), 0) FROM crawls WHERE status = 'complete'").fetchone()[0]


def latest_hoster_state_crawl(db: Database) -> int:
    return db.execute("SELECT COALESCE(MAX(last_crawl), 0) FROM hoster_states").fetchone()[0]


def replace_moves(db: Database, hosters: Sequence[int], moves: Sequence[tuple], relabels: Sequence[tuple],
                  meta: dict[str, str]) -> None:
    """In one transaction: the moves and relabels of `hosters` replaced by the rows given, and the
    meta marks set. moves rows: (hoster_id, kind, from_countries, to_countries, from_asns, to_asns,
    last_seen_before, first_seen_after, confirmed_at, confirmed_crawl, destination_has_hotline);
    relabels rows: (hoster_id, ips, from_countries, to_countries, first_seen_after, confirmed_at);
    lists go in as Python sequences."""
    with db.atomic():
        conn = db.conn
        for table in ("moves", "relabels"):
            conn.executemany(f"DELETE FROM {table} WHERE hoster_id = ?", [(h,) for h in hosters])
        conn.executemany(
            "INSERT INTO moves (hoster_id, kind, from_countries, to_countries, from_asns, to_asns, "
            "last_seen_before, first_seen_after, confirmed_at, confirmed_crawl, destination_has_hotline) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row[:2], *map(json.dumps, row[2:6]), *row[6:]) for row in moves])
        conn.executemany(
            "INSERT INTO relabels (hoster_id, ips, from_countries, to_countries, first_seen_after, confirmed_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(row[0], *map(json.dumps, row[1:4]), *row[4:]) for row in relabels])
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))


def moves(db: Database, *, since: str | None = None, from_country: str | None = None,
          to_country: str | None = None, kind: str | None = None, hoster_id: int | None = None,
          confirmed_crawl: int | None = None) -> list[dict[str, Any]]:
    """Stored moves, oldest first, with the hoster's name and its number of reported URLs; lists
    decoded."""
    clauses: list[str] = []
    params: dict[str, object] = {}
    if since:
        clauses.append("m.confirmed_at >= :since")
        params["since"] = since
    if from_country:
        clauses.append("EXISTS (SELECT 1 FROM json_each(m.from_countries) WHERE value = :from_cc)")
        params["from_cc"] = from_country
    if to_country:
        clauses.append("EXISTS (SELECT 1 FROM json_each(m.to_countries) WHERE value = :to_cc)")
        params["to_cc"] = to_country
    if kind:
        clauses.append("m.kind = :kind")
        params["kind"] = kind
    if hoster_id is not None:
        clauses.append("m.hoster_id = :hoster_id")
        params["hoster_id"] = hoster_id
    if confirmed_crawl is not None:
        clauses.append("m.confirmed_crawl = :crawl")
        params["crawl"] = confirmed_crawl
    sql = f"""SELECT h.name AS hoster, m.*, (SELECT COUNT(*) FROM urls u WHERE u.hoster_id = m.hoster_id) AS urls
              FROM moves m JOIN hosters h ON h.id = m.hoster_id
              {"WHERE " + " AND ".join(clauses) if clauses else ""}
              ORDER BY m.confirmed_at, h.name"""
    return [_decoded(row, ("from_countries", "to_countries", "from_asns", "to_asns")) for row in db.query(sql, params)]


def relabels(db: Database) -> list[dict[str, Any]]:
    """Stored relabels, oldest first, with the hoster's name; lists decoded."""
    return [_decoded(row, ("ips", "from_countries", "to_countries")) for row in db.query(
        "SELECT h.name AS hoster, r.* FROM relabels r JOIN hosters h ON h.id = r.hoster_id "
        "ORDER BY r.confirmed_at, h.name")]


def confirmed_in(db: Database, crawl_id: int) -> int:
    """How many moves this crawl confirmed."""
    return db.execute("SELECT COUNT(*) FROM moves WHERE confirmed_crawl = ?", [crawl_id]).fetchone()[0]


def count(db: Database) -> tuple[int, int]:
    """How many moves and relabels are stored."""
    return (db.execute("SELECT COUNT(*) FROM moves").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM relabels").fetchone()[0])


def _decoded(row: dict[str, Any], lists: Sequence[str]) -> dict[str, Any]:
    return {**row, **{key: json.loads(row[key]) for key in lists}}
