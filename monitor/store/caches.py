"""The lookup caches' tables: Team Cymru's BGP prefixes (asn_prefixes) and RDAP networks (rdap_networks).

    rows = load_prefixes(db, ["74.125.225.229"], max_age_days=7)   # fresh rows holding those IPs
    nets = load_networks(db, ["74.125.225.229"], max_age_days=30)
    save(db, prefixes=[PrefixRow(...)], networks=[NetworkRow(...)])  # one transaction

The clients (monitor/resolve/cymru.py, rdap.py) never touch the store: the enricher reads rows
here for the addresses its clients cannot answer from memory, hands them in, and saves the rows
the clients hand out, a batch at a time, from its own thread. Rows are found by address range
on the *_hex columns (``monitor.ips.address_hex``): for each address the narrowest fresh row
holding it, the newest on a tie. An RDAP network seen again unchanged only has its fetched_at
moved; changed data gets a new row, so that rows ``ip_states.rdap_network`` points at keep what
was seen then.

Errors are the store's: StoreError (ReadOnlyDatabase for a database this user may only read).
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from ..ips import address_hex
from . import explain

__all__ = ["NetworkRow", "PrefixRow", "fresh_after", "load_networks", "load_prefixes", "save"]


@dataclass(frozen=True, slots=True)
class PrefixRow:
    """Team Cymru's answer for a BGP prefix."""

    prefix: str
    asn: int | None
    as_org: str | None
    registry: str | None
    registry_country: str | None
    fetched_at: str


@dataclass(frozen=True, slots=True)
class NetworkRow:
    """A registry's RDAP network (``cidr``: one or more prefixes, ", "-separated)."""

    registry: str | None
    handle: str | None
    name: str | None
    cidr: str | None
    start_address: str
    end_address: str
    country: str | None
    abuse_emails: tuple[str, ...]
    fetched_at: str


Row = TypeVar("Row", PrefixRow, NetworkRow)


def fresh_after(max_age_days: float, now: datetime | None = None) -> str:
    """The oldest fetched_at still fresh, as the store writes times: fresh means ``> this``."""
    moment = (now or datetime.now(timezone.utc)) - timedelta(days=max_age_days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_PREFIX_SELECT = """SELECT prefix, asn, as_org, registry, registry_country, fetched_at, start_hex, end_hex
    FROM asn_prefixes WHERE start_hex <= ? AND end_hex >= ? AND fetched_at > ?"""
_NETWORK_SELECT = """SELECT registry, handle, name, cidr, start_address, end_address, country, abuse_emails,
    fetched_at, start_hex, end_hex
    FROM rdap_networks WHERE start_hex <= ? AND end_hex >= ? AND fetched_at > ?"""


def load_prefixes(db: Database, ips: Iterable[str], max_age_days: float) -> list[PrefixRow]:
    """For each address, the narrowest fresh asn_prefixes row holding it (each row once)."""
    return _load(db, _PREFIX_SELECT, ips, max_age_days, lambda values: PrefixRow(*values))


def load_networks(db: Database, ips: Iterable[str], max_age_days: float) -> list[NetworkRow]:
    """For each address, the narrowest fresh rdap_networks row holding it (each row once)."""

    def network(values: tuple) -> NetworkRow:
        try:
            emails = tuple(json.loads(values[7] or "[]"))
        except ValueError:
            emails = ()
        return NetworkRow(*values[:7], emails, values[8])  # type: ignore[arg-type]

    return _load(db, _NETWORK_SELECT, ips, max_age_days, network)


def save(db: Database, *, prefixes: Sequence[PrefixRow] = (), networks: Sequence[NetworkRow] = ()) -> None:
    """Write cache rows in one transaction (a savepoint inside the caller's, if one is open)."""
    if not prefixes and not networks:
        return
    with _errors(db), _transaction(db.conn) as conn:
        for row in prefixes:
            conn.execute(
                """INSERT INTO asn_prefixes
                       (prefix, start_hex, end_hex, asn, as_org, registry, registry_country, fetched_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(prefix) DO UPDATE SET
                       start_hex = excluded.start_hex, end_hex = excluded.end_hex,
                       asn = excluded.asn, as_org = excluded.as_org, registry = excluded.registry,
                       registry_country = excluded.registry_country, fetched_at = excluded.fetched_at""",
                (row.prefix, *_range_hex(row.prefix), row.asn, row.as_org, row.registry,
                 row.registry_country, row.fetched_at),
            )
        for row in networks:
            values = {
                "registry": row.registry,
                "handle": row.handle,
                "name": row.name,
                "cidr": row.cidr,
                "start_address": row.start_address,
                "end_address": row.end_address,
                "country": row.country,
                "abuse_emails": json.dumps(list(row.abuse_emails)),
                "start_hex": address_hex(row.start_address),
                "end_hex": address_hex(row.end_address),
            }
            same = " AND ".join(f"{column} IS ?" for column in values)
            # Seen before, unchanged: only fetched_at moves; else a new row.
            moved = conn.execute(f"UPDATE rdap_networks SET fetched_at = ? WHERE {same}",
                                 (row.fetched_at, *values.values()))
            if moved.rowcount == 0:
                columns = ", ".join([*values, "fetched_at"])
                marks = ", ".join("?" * (len(values) + 1))
                conn.execute(f"INSERT INTO rdap_networks ({columns}) VALUES ({marks})",
                             (*values.values(), row.fetched_at))


def _load(db: Database, select: str, ips: Iterable[str], max_age_days: float,
          make: Callable[[tuple], Row]) -> list[Row]:
    oldest = fresh_after(max_age_days)
    found: dict[tuple, Row] = {}
    with _errors(db):
        for ip in dict.fromkeys(ips):
            key = address_hex(ip)
            rows = db.conn.execute(select, (key, key, oldest)).fetchall()
            if rows:
                # The narrowest range; the newest of the narrowest (min keeps the first of equals).
                # Columns: ..., fetched_at, start_hex, end_hex.
                newest_first = sorted(rows, key=lambda r: r[-3], reverse=True)
                best = min(newest_first, key=lambda r: int(r[-1], 16) - int(r[-2], 16))
                row = make(best[:-2])
                found.setdefault(astuple(row), row)
    return list(found.values())


def _range_hex(prefix: str) -> tuple[str, str]:
    network = ipaddress.ip_network(prefix, strict=False)
    return address_hex(network[0]), address_hex(network[-1])


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # A savepoint, not BEGIN/COMMIT: outside a transaction it is one (RELEASE commits it), and
    # inside the caller's it nests and leaves committing to the caller.
    conn.execute("SAVEPOINT cache_rows")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK TO cache_rows")
        conn.execute("RELEASE cache_rows")
        raise
    conn.execute("RELEASE cache_rows")


@contextmanager
def _errors(db: Database) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        raise explain(error, _file_of(db)) from None


def _file_of(db: Database) -> Any:
    try:
        for _, name, file in db.conn.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                return Path(file)
    except sqlite3.Error:
        pass
    return "the database"
