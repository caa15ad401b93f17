"""The history store: SQLite through sqlite-utils, WAL mode, schema only through migrations."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database

from ..errors import StoreError
from .migrations import migrations


def utcnow() -> str:
    """Now as the store writes times: ISO 8601 UTC to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_store(path: str | Path, *, create: bool = True) -> Database:
    """Open (and create or upgrade) the database at path.

    create=False is for commands that only read: they should say there is nothing yet rather
    than leave an empty database behind.
    """
    path = Path(path)
    if not path.exists() and not create:
        raise StoreError(f"{path}: no database yet; add URLs first with `monitor import FILE`")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        # WAL: readers (monitor serve, reports) never block the nightly writer, and a killed
        # writer leaves the database consistent. busy_timeout: wait out a short write lock.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA synchronous=NORMAL")
        # 32 MiB of page cache: enough for a crawl's point lookups, and a bound on its memory
        # (an import raises it for its own connection: see intake.IMPORT_CACHE).
        db.execute("PRAGMA cache_size=-32768")
        _refuse_newer(db, path)
        migrations.apply(db)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path}: cannot open the database: {error}") from None
    except OSError as error:
        raise StoreError(f"{path}: cannot create the database: {error}") from None
    return db


def _refuse_newer(db: Database, path: Path) -> None:
    # sqlite-utils has no public list of a set's registered migrations.
    known = {m.name for m in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise StoreError(
            f"{path}: this database was written by a newer version of monitor "
            f"(schema step {unknown[-1]!r} is unknown here); upgrade monitor to use it"
        )
