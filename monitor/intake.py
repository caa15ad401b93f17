"""Intake: reported URLs from files (text or CSV) or the command line into the store.

A file is read as a stream and written in one transaction, so a million-line file needs little
memory, an import killed half-way adds nothing, and importing the same file again adds nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain, islice
from pathlib import Path

from sqlite_utils import Database

from .errors import InputError
from .store import urls as urls_store
from .store import utcnow
from .urls import InvalidURL, normalise

CSV_FIELDS = ("url", "reported_at", "reference", "source")
BATCH = 20_000


@dataclass(frozen=True)
class Rejected:
    where: str  # file name, or "argument"
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 100 else self.text[:97] + "..."
        return f"{self.where}:{self.line}: {self.reason}" + (f": {shown}" if shown else "")


@dataclass
class ImportResult:
    added: int = 0
    known: int = 0
    rejected: int = 0
    failed_files: list[str] = field(default_factory=list)

    def __iadd__(self, other: ImportResult) -> ImportResult:
        self.added += other.added
        self.known += other.known
        self.rejected += other.rejected
        self.failed_files += other.failed_files
        return self

    def summary(self) -> str:
        return f"{self.added} added, {self.known} already known, {self.rejected} rejected"


@dataclass(frozen=True)
class Record:
    """One line of input, before validation."""

    line: int
    url: str
    reported_at: str | None = None
    reference: str | None = None
    source: str | None = None


OnReject = Callable[[Rejected], None]


def import_file(db: Database, path: Path, on_reject: OnReject) -> ImportResult:
    """Import one text or CSV file in one transaction; InputError if it cannot be read as a whole."""
    with file_records(path) as records:
        return store_records(db, records, str(path), on_reject, source=path.name)


@contextmanager
def file_records(path: Path) -> Iterator[Iterator[Record]]:
    """The records of a text or CSV file, read as a stream: InputError if the file cannot be read,
    and while iterating if a line turns out not to be UTF-8 or not CSV (the caller's transaction
    then rolls back what it did with the lines before)."""
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    with raw:
        if b"\0" in raw.read(8192):
            raise InputError(f"{path}: a binary file, not a list of URLs; nothing from it was used")
        raw.seek(0)
        yield read_records(_lines(raw, path), path)


def _lines(raw: Iterable[bytes], path: Path) -> Iterator[str]:
    """Decoded lines ending in LF (CRLF turned into LF); a UTF-8 BOM is dropped."""
    for number, line in enumerate(raw, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            # Raised mid-transaction: the caller's transaction undoes what it did with this file.
            raise InputError(
                f"{path}: line {number}: not UTF-8 text ({error.reason}); "
                "save the file as UTF-8 and run the command again; nothing from it was used"
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield text[:-2] + "\n" if text.endswith("\r\n") else text


def add_urls(
    db: Database,
    urls: Iterable[str],
    on_reject: OnReject,
    *,
    reported_at: str | None = None,
    reference: str | None = None,
    source: str = "command line",
) -> ImportResult:
    """`monitor add`: URLs given on the command line, with the fields a CSV row can carry, the
    same for every URL (one report often names several); a URL already known is left as it is."""
    records = (
        Record(line=n, url=url, reported_at=reported_at or None, reference=reference or None)
        for n, url in enumerate(urls, 1)
    )
    return store_records(db, records, "argument", on_reject, source=source or "command line")


def read_records(lines: Iterator[str], path: Path) -> Iterator[Record]:
    first = next(lines, "")
    lines = chain([first], lines)
    delimiter = _csv_delimiter(first)
    if delimiter:
        return _csv_records(lines, path, delimiter)
    if path.suffix.lower() == ".csv":
        return _csv_records(lines, path, ",")  # no url column: _csv_rows says so
    return _text_records(lines)


# Spreadsheets write ';' where ',' is the decimal mark (much of Europe), and tabs when exporting
# "text"; csv.Sniffer guesses badly from one line, and the header alone is all that is certain.
CSV_DELIMITERS = (",", ";", "\t")


def _csv_delimiter(header: str) -> str | None:
    """The delimiter that splits a header line into cells one of which is `url`, or None if it is
    no CSV header. The delimiter must be in the line: a lone "url" line is a text file's content.
    So must its first cell be no http(s) URL: `http://x.example/a,url` is a text file's first URL.
    Should a header split into a `url` cell more than one way, the standard comma wins."""
    if header.lstrip().lower().startswith(("http:", "https:")):
        return None
    for delimiter in CSV_DELIMITERS:
        if delimiter in header and "url" in _header_cells(header, delimiter):
            return delimiter
    return None


def _header_cells(line: str, delimiter: str) -> list[str]:
    return [cell.strip().lower() for cell in next(csv.reader([line], delimiter=delimiter), [])]


def _text_records(lines: Iterable[str]) -> Iterator[Record]:
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        # Only whole-line comments: a '#' inside a URL starts its fragment.
        if stripped and not stripped.startswith("#"):
            yield Record(line=number, url=stripped)


def _csv_records(lines: Iterable[str], path: Path, delimiter: str) -> Iterator[Record]:
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        yield from _csv_rows(reader, path)
    except csv.Error as error:
        raise InputError(f"{path}: line {reader.line_num}: not valid CSV ({error}); nothing from it was used") from None


def _csv_rows(reader, path: Path) -> Iterator[Record]:
    header = [cell.strip().lower() for cell in next(reader, [])]
    if "url" not in header:
        raise InputError(f"{path}: line 1: a CSV file needs a 'url' column (found: {', '.join(header)})")
    # Columns other than CSV_FIELDS are ignored: the store keeps what every later step uses.
    index = {name: header.index(name) for name in CSV_FIELDS if name in header}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in index.items()}
        yield Record(
            line=reader.line_num,
            url=cells["url"],
            reported_at=cells.get("reported_at") or None,
            reference=cells.get("reference") or None,
            source=cells.get("source") or None,
        )


def parse_reported_at(text: str) -> str:
    """A date or date-time as ISO 8601 UTC; a time without zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise InvalidURL(f"reported_at {text!r} is not a date (use YYYY-MM-DD or ISO 8601)") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def store_records(
    db: Database, records: Iterable[Record], where: str, on_reject: OnReject, *, source: str
) -> ImportResult:
    """Validate and insert records in one transaction; already known URLs are left as they are."""
    result = ImportResult()
    added_at = utcnow()
    with urls_store.adding(db) as adder:
        records = iter(records)
        while batch := list(islice(records, BATCH)):
            rows = []
            for record in batch:
                try:
                    reported = normalise(record.url)
                    reported_at = parse_reported_at(record.reported_at) if record.reported_at else None
                except InvalidURL as error:
                    result.rejected += 1
                    on_reject(Rejected(where, record.line, record.url, str(error)))
                    continue
                rows.append(
                (reported.url, reported.host, adder.hoster_id(reported.hoster, added_at), record.source or source,
                 record.reference, reported_at, added_at)
                )
            added = adder.add(rows)
            result.added += added
            result.known += len(rows) - added
    return result
