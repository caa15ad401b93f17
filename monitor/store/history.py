"""Writing what a crawl saw, as intervals.

Every *_states table keeps one row per state of one thing with its first and last crawl. A crawl
that sees the state the thing had last time only moves last_crawl; a different state starts a new
row. So a year of nights over a stable world costs one row per thing, not 365.

Each write is its own short transaction: a crawl killed at any moment leaves the database
consistent (earlier nights untouched, this night partly written) and the next crawl complete.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice

from sqlite_utils import Database

from . import utcnow

BATCH = 5_000


Clock = Callable[[], str]  # the time to record, as utcnow() gives it


def begin_crawl(db: Database, mode: str, settings: dict, clock: Clock = utcnow) -> int | dict:
    """Start a crawl's row (status running) and return its id; or, if a live process is running
    a crawl, return that crawl's row. Crawls left running by a dead process are closed.

    The check and the insert hold the write lock together (BEGIN IMMEDIATE), so two crawls
    started at the same moment cannot both begin."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        for row in db.query("SELECT id, pid, started_at FROM crawls WHERE status = 'running' ORDER BY id DESC"):
            if _alive(row["pid"]):
                conn.execute("ROLLBACK")
                return row
            conn.execute("UPDATE crawls SET status = 'interrupted' WHERE id = ?", [row["id"]])
        crawl_id = conn.execute(
            "INSERT INTO crawls (started_at, status, pid, mode, settings) VALUES (?, 'running', ?, ?, ?)",
            [clock(), os.getpid(), mode, json.dumps(settings, sort_keys=True, default=str)],
        ).lastrowid
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return crawl_id


def finish_crawl(db: Database, crawl_id: int, status: str, counts: dict, sources: Sequence[dict],
                 clock: Clock = utcnow) -> None:
    with db.atomic():
        db.execute(
            "UPDATE crawls SET finished_at = ?, status = ?, counts = ?, sources = ? WHERE id = ?",
            [clock(), status, json.dumps(counts, sort_keys=True), json.dumps(list(sources)), crawl_id],
        )


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class IntervalWriter:
    """Writes one *_states table: (key, state) pairs of one crawl.

    ``witnessed``: items are (key, state, worker name): the crawl worker that made the observation
    (url_states). The worker is not part of the state: the same state seen by another worker (a
    new pid every night) is the same state, and a new interval per worker would make the
    database grow with nights. An interval records the worker of its first observation
    (``first_worker``, the one that saw the change) and of its latest (``last_worker``, moved with
    ``last_crawl``), as ids into ``workers``: a name is kept once, not on every row.
    """

    def __init__(self, db: Database, table: str, key: str, columns: Sequence[str], *,
                 witnessed: bool = False) -> None:
        self.db = db
        self.columns = tuple(columns)
        self.witnessed = witnessed
        listed = ", ".join(self.columns)
        self._latest = f"SELECT id, {listed} FROM {table} WHERE {key} = ? ORDER BY last_crawl DESC LIMIT 1"
        # Never backwards: a late writer of an older crawl cannot shorten an interval.
        seen_by = ", last_worker = ?" if witnessed else ""
        self._extend = f"UPDATE {table} SET last_crawl = ?{seen_by} WHERE id = ? AND last_crawl < ?"
        noted = ", first_worker, last_worker" if witnessed else ""
        marks = ", ".join("?" for _ in range(len(self.columns) + (2 if witnessed else 0)))
        self._insert = f"INSERT INTO {table} ({key}, first_crawl, last_crawl, {listed}{noted}) VALUES (?, ?, ?, {marks})"
        self._workers: dict[str, int] = {}
        self.changed = 0  # keys whose state differs from their last one (or is their first)

    def write(self, crawl_id: int, states: Iterable[tuple]) -> None:
        states = iter(states)
        while batch := list(islice(states, BATCH)):
            try:
                self._write(crawl_id, batch)
            except BaseException:
                self._workers.clear()  # ids made in the rolled-back transaction are gone with it
                raise

    def _write(self, crawl_id: int, batch: list[tuple]) -> None:
        with self.db.atomic():
            conn = self.db.conn
            for item in batch:
                key, state = item[0], tuple(item[1])
                by = (self._worker(conn, item[2]),) if self.witnessed else ()
                latest = conn.execute(self._latest, (key,)).fetchone()
                if latest is not None and tuple(latest[1:]) == state:
                    conn.execute(self._extend, (crawl_id, *by, latest[0], crawl_id))
                else:
                    conn.execute(self._insert, (key, crawl_id, crawl_id, *state, *by, *by))
                    self.changed += 1

    def _worker(self, conn: sqlite3.Connection, name: str | None) -> int | None:
        if name is None:
            return None
        found = self._workers.get(name)
        if found is None:  # inside the batch's transaction, with the states that use it
            conn.execute("INSERT OR IGNORE INTO workers (name) VALUES (?)", [name])
            found = conn.execute("SELECT id FROM workers WHERE name = ?", [name]).fetchone()[0]
            self._workers[name] = found
        return found


def active_urls(conn: sqlite3.Connection, limit: int | None = None, page: int = 5_000, *,
                by_host: bool = False) -> Iterator[tuple[int, str, str]]:
    """(id, url, host) of the active URLs (the first `limit` by id) in id order, or host by host,
    a page at a time: memory stays flat however many URLs there are, and no read statement is left
    open across a crawl's writes."""
    if by_host and limit is not None:  # a trial: its few URLs sorted here
        yield from sorted(active_urls(conn, limit, page), key=lambda row: (row[2], row[0]))
        return
    order = "host, id" if by_host else "id"
    after: tuple = ("", 0) if by_host else (0,)
    left = limit
    while left is None or left > 0:
        size = page if left is None else min(page, left)
        marks = ", ".join("?" * len(after))
        rows = conn.execute(f"SELECT id, url, host FROM urls WHERE active AND ({order}) > ({marks}) "
                            f"ORDER BY {order} LIMIT ?", [*after, size]).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1]
        after = (last[2], last[0]) if by_host else (last[0],)
        if left is not None:
            left -= len(rows)


def as_json(values: Iterable) -> str:
    """A sorted JSON list: the one spelling of a set, so equal sets compare equal as text."""
    return json.dumps(sorted(set(values)))


def hoster_addresses(db: Database, crawl_id: int, *, partial: bool = False) -> dict[int, set[str]]:
    """The addresses each hoster's hosts resolved to at this crawl, for the hosters whose hosts it
    looked at (an empty set: looked at, none resolved). In a partial crawl (a --limit trial) a
    hoster is left out unless this crawl looked at all its hosts: a location from some of them
    would open a false period. Where those addresses are: monitor.crawl.locations."""
    ips_of_hoster: dict[int, set[str]] = defaultdict(set)
    for hoster_id, ips in db.execute(
        """SELECT DISTINCT u.hoster_id, s.ips FROM host_states s JOIN urls u ON u.host = s.host
           WHERE s.last_crawl = ? AND u.active""",
        [crawl_id],
    ):
        ips_of_hoster[hoster_id].update(json.loads(ips or "[]"))
    if partial:
        for (hoster_id,) in db.execute(
            """SELECT DISTINCT u.hoster_id FROM urls u WHERE u.active AND NOT EXISTS
               (SELECT 1 FROM host_states s WHERE s.host = u.host AND s.last_crawl = ?)""",
            [crawl_id],
        ):
            ips_of_hoster.pop(hoster_id, None)
    return dict(ips_of_hoster)


HOST_COLUMNS = ("dns_status", "cname_chain", "ips")
IP_COLUMNS = ("country", "country_source", "asn", "as_org", "asn_source", "registry_country", "prefix",
              "cdn", "rdap_network", "rdap_status")
URL_COLUMNS = ("outcome", "http_status", "final_url", "connected_ip", "redirects", "countries", "asns", "detail")
HOSTER_COLUMNS = ("status", "countries", "asns", "as_orgs", "ips", "cdn")


def writers(db: Database) -> dict[str, IntervalWriter]:
    return {
        "hosts": IntervalWriter(db, "host_states", "host", HOST_COLUMNS),
        "ips": IntervalWriter(db, "ip_states", "ip", IP_COLUMNS),
        "urls": IntervalWriter(db, "url_states", "url_id", URL_COLUMNS, witnessed=True),
        "hosters": IntervalWriter(db, "hoster_states", "hoster_id", HOSTER_COLUMNS),
    }


def source_id(db: Database, name: str, build: str) -> int:
    db.execute("INSERT OR IGNORE INTO sources (name, build) VALUES (?, ?)", [name, build or ""])
    return db.execute("SELECT id FROM sources WHERE name = ? AND build = ?", [name, build or ""]).fetchone()[0]


def count_active_urls(db: Database, limit: int | None = None) -> int:
    """How many URLs a crawl will revisit (the first `limit`, for a trial)."""
    if limit is None:
        return db.execute("SELECT COUNT(*) FROM urls WHERE active").fetchone()[0]
    return db.execute("SELECT COUNT(*) FROM (SELECT 1 FROM urls WHERE active ORDER BY id LIMIT ?)",
                      [limit]).fetchone()[0]


def active_hosts(db: Database, limit: int | None = None) -> list[str]:
    """The distinct hosts of the active URLs (of the first `limit` of them)."""
    if limit is None:
        return [row[0] for row in db.execute("SELECT DISTINCT host FROM urls WHERE active")]
    return [row[0] for row in db.execute(
        "SELECT DISTINCT host FROM (SELECT host FROM urls WHERE active ORDER BY id LIMIT ?)", [limit])]


def rdap_network_id(db: Database, handle: str | None, cidr: str | None) -> int | None:
    """The newest cached RDAP network with this handle and CIDR: an IP state links to it."""
    row = db.execute("SELECT id FROM rdap_networks WHERE handle IS ? AND cidr IS ? ORDER BY fetched_at DESC LIMIT 1",
                     [handle, cidr]).fetchone()
    return row[0] if row else None


def mark_degraded(db: Database, crawl_id: int, why: str) -> None:
    """Record that this crawl could not see: it confirms no move and counts no takedown."""
    with db.atomic():
        db.execute("UPDATE crawls SET degraded = ? WHERE id = ?", [why, crawl_id])


def hosters_of_hosts(db: Database, hosts: set[str]) -> set[int]:
    """The hosters with an active URL on any of these hosts."""
    found: set[int] = set()
    listed = sorted(hosts)
    for start in range(0, len(listed), 500):
        chunk = listed[start:start + 500]
        found.update(row[0] for row in db.execute(
            f"SELECT DISTINCT hoster_id FROM urls WHERE active AND host IN ({', '.join('?' for _ in chunk)})", chunk))
    return found
