"""The history store: SQLite through sqlite-utils, WAL mode, schema only through migrations.

Two ways in: `open_store` for commands that write (it creates and upgrades the database) and
`open_reader` for commands that only read (it never creates, upgrades or changes a file, so an
analyst's read-only copy, or a file owned by the crawl's user, can be read as it is).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlite_utils import Database

from ..errors import ReadOnlyDatabase, StoreError
from .migrations import migrations

if TYPE_CHECKING:
    from ..config import Config

# The database's own errors (a lock, a read-only file) as they may surface half-way through a
# command; `explain` words them for the user.
Error = sqlite3.Error

# Seconds a writer waits for a lock another program holds (an analyst's sqlite3 shell left inside
# a transaction) before it gives up with a message; config key `database_lock_wait`.
DEFAULT_LOCK_WAIT = 30.0


def utcnow() -> str:
    """Now as the store writes times: ISO 8601 UTC to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Where:
    """How to name the database in a message: its config key and file, so the user knows what
    to change."""

    path: Path
    config_file: Path | None = None

    def __str__(self) -> str:
        named = f"config key `database` in {self.config_file}" if self.config_file else "config key `database`"
        return f"{self.path} ({named})"


def open_store(path: str | Path, *, create: bool = True, create_folder: bool = True,
               lock_wait: float = DEFAULT_LOCK_WAIT, config_file: Path | None = None) -> Database:
    """Open the database at path for writing, creating and upgrading it as needed.

    create=False: say there is nothing yet rather than start an empty database. create_folder=False:
    a missing folder is an error (a typo in `database` must not start a new database elsewhere).
    """
    where = Where(Path(path), config_file)
    path = where.path
    if not path.exists():
        if not create:
            raise StoreError(f"{where}: no database yet; add URLs first with `monitor import FILE`")
        if not path.parent.is_dir() and not create_folder:
            raise StoreError(f"{where}: the folder {path.parent} does not exist; create it or correct the path")
    _refuse_read_only(where)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        # First the lock wait: even switching to WAL may have to wait for another writer.
        db.execute(f"PRAGMA busy_timeout={int(lock_wait * 1000)}")
        # WAL: readers (monitor serve, reports) never block the nightly writer, and a killed
        # writer leaves the database consistent.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # 32 MiB of page cache: enough for a crawl's point lookups, and a bound on its memory
        # (an import raises it for its own connection: see urls.IMPORT_CACHE).
        db.execute("PRAGMA cache_size=-32768")
        _refuse_newer(db, where)
        migrations.apply(db)
    except sqlite3.DatabaseError as error:
        raise explain(error, where) from None
    except OSError as error:
        raise StoreError(f"{where}: cannot create the database: {error.strerror or error}") from None
    return db


def open_reader(path: str | Path, *, config_file: Path | None = None) -> Database:
    """Open the database at path for reading only: nothing is created, upgraded or written.

    SQLite's read-only mode still needs the WAL's shared-memory file; where the folder cannot hold
    one (a read-only copy or mount, and then no writer can be at work there either) the file is
    opened as immutable.
    """
    where = Where(Path(path), config_file)
    db = Database(_connect_read_only(where)[0])
    try:
        _refuse_newer(db, where)
        if not db["_sqlite_migrations"].exists():
            raise StoreError(f"{where}: not a monitor database (no schema); check the path")
    except sqlite3.DatabaseError as error:
        raise explain(error, where) from None
    return db


def read_only_mode(config: Config) -> str:
    """How a reader opens the configured database: "mode=ro", or "immutable=1" where the folder
    cannot hold WAL's shared-memory file (for Datasette, which opens files itself)."""
    conn, mode = _connect_read_only(Where(config.database, config.source))
    conn.close()
    return mode


def _connect_read_only(where: Where) -> tuple[sqlite3.Connection, str]:
    if not where.path.is_file():
        raise StoreError(f"{where}: no database yet; add URLs first with `monitor import FILE`")
    uri = where.path.resolve().as_uri()
    for mode in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(f"{uri}?{mode}", uri=True, check_same_thread=False)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn, mode
        except sqlite3.DatabaseError as error:
            failure = error
    raise explain(failure, where)


def writer(config: Config, *, create: bool = True) -> Database:
    """The configured database, for a command that writes."""
    return open_store(config.database, create=create, create_folder=not config.database_given,
                      lock_wait=config.database_lock_wait, config_file=config.source)


def reader(config: Config) -> Database:
    """The configured database, for a command that only reads."""
    return open_reader(config.database, config_file=config.source)


def pending_upgrade(db: Database) -> list[str]:
    """Schema steps this version would apply: a reader shows what is there and says so."""
    return [m.name for m in migrations.pending(db)]


def explain(error: sqlite3.Error, where: Where | Path | str) -> StoreError:
    """A database error as one line that says what happened to which file and what to do."""
    text = str(error)
    if "locked" in text or "busy" in text:
        return StoreError(f"{where}: the database is locked by another process (an open sqlite3 shell "
                          "or another program in a transaction); close it and try again, or raise "
                          "`database_lock_wait`")
    if "readonly" in text or "read-only" in text:
        return ReadOnlyDatabase(f"{where}: the database is read-only for this user; this command writes to it: "
                          "run it as the user who owns the file, or use a copy you may write")
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{where}: not a monitor database or damaged ({text})")
    return StoreError(f"{where}: cannot use the database: {text}")


def _refuse_read_only(where: Where) -> None:
    # SQLite would only fail at the first write, half-way through a command; in WAL mode the
    # folder must be writable too (the -wal and -shm files live beside the database).
    path = where.path
    blocked = [p for p in (path, path.parent) if p.exists() and not os.access(p, os.W_OK)]
    if blocked:
        what = "the file" if blocked[0] == path else f"its folder {path.parent}"
        raise ReadOnlyDatabase(f"{where}: the database is read-only for this user ({what} cannot be written); "
                         "this command writes to it: run it as the user who owns it, or use a copy you may write")


def _refuse_newer(db: Database, where: Where) -> None:
    # sqlite-utils has no public list of a set's registered migrations.
    known = {m.name for m in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise StoreError(
            f"{where}: this database was written by a newer version of monitor "
            f"(schema step {unknown[-1]!r} is unknown here); upgrade monitor to use it"
        )
