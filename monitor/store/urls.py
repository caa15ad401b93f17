"""Reported URLs and their hosters: adding them (intake) and retiring them.

A retired URL keeps its row and every state the crawls recorded; only `active` and `retired_at`
change, always together (m007's triggers refuse one without the other).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlite_utils import Database

# Page cache for an import: inserts into the URL index of a million rows stay in memory.
IMPORT_CACHE = "PRAGMA cache_size=-131072"

# (url, host, hoster_id, source, reference, reported_at, added_at)
UrlRow = tuple[str, str, int, str | None, str | None, str | None, str]


class UrlAdder:
    """Adds URLs inside one transaction (see `adding`); hoster ids are kept in memory, since an
    import meets the same few thousand hosters again and again."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn
        self.hosters: dict[str, int] = dict(self.conn.execute("SELECT name, id FROM hosters").fetchall())

    def hoster_id(self, name: str, added_at: str) -> int:
        found = self.hosters.get(name)
        if found is None:
            inserted = self.conn.execute("INSERT INTO hosters (name, first_added) VALUES (?, ?)", (name, added_at))
            found = self.hosters[name] = int(inserted.lastrowid or 0)
        return found

    def add(self, rows: Sequence[UrlRow]) -> int:
        """Insert what is new; URLs already known are left as they are. Returns how many were new."""
        return self.conn.executemany(
            "INSERT OR IGNORE INTO urls (url, host, hoster_id, source, reference, reported_at, added_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", rows).rowcount


@contextmanager
def adding(db: Database) -> Iterator[UrlAdder]:
    """One transaction of additions: all of them, or (on any exception) none."""
    db.execute(IMPORT_CACHE)
    with db.atomic():
        yield UrlAdder(db)


class Retirer:
    """Retires URLs or brings them back inside one transaction (see `retiring`)."""

    # A change is made only where it changes something, so that rowcount says how many it changed.
    _RETIRE = "UPDATE urls SET active = 0, retired_at = ? WHERE {where} AND active"
    _BRING_BACK = "UPDATE urls SET active = 1, retired_at = NULL WHERE {where} AND NOT active"

    def __init__(self, db: Database, retired_at: str | None) -> None:
        self.conn = db.conn
        self.retired_at = retired_at  # None: bring back

    def url(self, url: str) -> bool | None:
        """Retire (or bring back) a normalised URL. True: changed; False: it already was so;
        None: not a reported URL."""
        if self._update("url = ?", [url]):
            return True
        return False if self.conn.execute("SELECT 1 FROM urls WHERE url = ?", [url]).fetchone() else None

    def hoster(self, hoster_id: int) -> tuple[int, int]:
        """Every URL of a hoster: (URLs changed, URLs that already were so)."""
        changed = self._update("hoster_id = ?", [hoster_id])
        total = self.conn.execute("SELECT COUNT(*) FROM urls WHERE hoster_id = ?", [hoster_id]).fetchone()[0]
        return changed, total - changed

    def _update(self, where: str, params: list) -> int:
        if self.retired_at is None:
            return self.conn.execute(self._BRING_BACK.format(where=where), params).rowcount
        return self.conn.execute(self._RETIRE.format(where=where), [self.retired_at, *params]).rowcount


@contextmanager
def retiring(db: Database, retired_at: str | None) -> Iterator[Retirer]:
    """One transaction of retirements at `retired_at` (None: bringing back)."""
    with db.atomic():
        yield Retirer(db, retired_at)


def hoster_named(db: Database, name: str) -> int | None:
    """The id of the hoster of that name, or None."""
    row = db.execute("SELECT id FROM hosters WHERE name = ?", [name]).fetchone()
    return row[0] if row else None
