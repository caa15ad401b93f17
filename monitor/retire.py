"""Retiring reported URLs: the nightly crawl stops revisiting them, and their history stays.

URLs come in any spelling, from the command line or a file read as `monitor import` reads one, or
as every URL of a hoster; undo brings them back. Each call is one transaction, so a file that
turns out unreadable half-way changes nothing. A retired URL keeps its row: importing it again
finds it known and leaves it retired; only undo brings it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from .detect import hoster_id
from .intake import OnReject, Record, Rejected, file_records
from .store import utcnow
from .store.urls import retiring
from .urls import InvalidURL, normalise


@dataclass
class RetireResult:
    undo: bool
    changed: int = 0
    unchanged: int = 0  # already retired, or already active for undo
    unknown: int = 0
    hoster: str | None = None  # set when a hoster was retired: the user may have named a host

    def summary(self) -> str:
        done, already = ("brought back", "already active") if self.undo else ("retired", "already retired")
        counts = f"{self.changed} {done}, {self.unchanged} {already}, {self.unknown} unknown"
        return f"{self.hoster}: {counts}" if self.hoster else counts


def retire_urls(db: Database, urls: Iterable[str], on_unknown: OnReject, *, undo: bool = False) -> RetireResult:
    """URLs given on the command line; each unknown one is passed to on_unknown."""
    records = (Record(line=n, url=url) for n, url in enumerate(urls, 1))
    return _retire_records(db, records, "argument", on_unknown, undo)


def retire_file(db: Database, path: Path, on_unknown: OnReject, *, undo: bool = False) -> RetireResult:
    """The URLs of a text or CSV file; InputError if it cannot be read as a whole."""
    with file_records(path) as records:
        return _retire_records(db, records, str(path), on_unknown, undo)


def retire_hoster(db: Database, name: str, *, undo: bool = False) -> RetireResult:
    """Every URL of the hoster a user named (a hoster, host, IP or URL); NotFound if none."""
    hid, hoster = hoster_id(db, name)
    result = RetireResult(undo, hoster=hoster)
    with retiring(db, None if undo else utcnow()) as retirer:
        result.changed, result.unchanged = retirer.hoster(hid)
    return result


def _retire_records(
    db: Database, records: Iterable[Record], where: str, on_unknown: OnReject, undo: bool
) -> RetireResult:
    result = RetireResult(undo)
    with retiring(db, None if undo else utcnow()) as retirer:
        for record in records:
            try:
                url = normalise(record.url).url
            except InvalidURL as error:
                # A URL stored before the parser refused its spelling is found as it was stored;
                # anything else is no URL at all, and the reason says what is wrong.
                changed, reason = retirer.url(record.url.strip()), str(error)
            else:
                changed, reason = retirer.url(url), "not a reported URL"
            if changed is None:
                result.unknown += 1
                on_unknown(Rejected(where, record.line, record.url, reason))
            elif changed:
                result.changed += 1
            else:
                result.unchanged += 1
    return result
