"""Did a country have a hotline in the INHOPE network on a given date? From data/hotlines.csv.

`has_hotline(country, on)` answers True, False or None (unknown); `hotline_names(country, on)`
names the hotlines that certainly were members, for reports. Sources and caveats:
data/SOURCES.md. The file is PARTIAL: a country that is not in it is unknown (None), never "no".

An answer feeds an analyst's decision to hand a report over to a foreign hotline. A wrong True
sends a report to nobody; a wrong False costs a manual check. So no answer is more confident than
the file: where a fact is vague or uncertain, the answer is None, and True is given only for dates
where every reading of the row makes the hotline a member.

Rules, for one hotline (one row) on a date D:

1. `joined` and `left` are a year (`2009`: 2009-01-01 .. 2009-12-31) or a month (`2014-06`:
   2014-06-01 .. 2014-06-30); the sources do not say on which day. Within that period the row's
   status is unknown. So a hotline is a member from the first day after its `joined` period ends
   until the last day before its `left` period starts; before `joined` starts and after `left`
   ends it is not a member. (NZ, joined 2014-06: not on 2014-05-31, unknown in June 2014, a
   member from 2014-07-01. CA, left 2020: a member on 2019-12-31, unknown in 2020, not from
   2021-01-01.)
2. No `joined` (join year not found): a member since an unknown date, so unknown before the date
   it was seen as a member, and a member from that date on: `DIRECTORY_READ_ON` (2026-10-09, when
   the INHOPE directory was read) for `listed` rows, `GATHERED_ON` (2026-11-28, when these facts
   were gathered) for the others.
3. `uncertain` rows (a guess from indirect evidence) never make a hotline a member: wherever rule
   1 or 2 would say "member" the status is unknown. Before their stated `joined` they count as not
   a member, like any row: what is uncertain is when (or whether) they joined, and no source has
   them as a member earlier. So Bulgaria on 2023-01-01 is False (SafenetBG left in 2022-09,
   Association Roditeli joined in 2025 at the earliest), and from 2025 on it is None.
4. A membership with no `left` is taken to go on past the date gathered.

For a country on D: True if at least one of its hotlines is a member; False if the file knows the
country and every one of its hotlines is certainly not a member; None otherwise, and None for a
country the file does not have.

Known weakness of the file (data/SOURCES.md): for CA, RU, TW and KR `joined` 2009 is the year of
INHOPE's 2009 members list, so "not a member" before 2009 is only as good as the file.
"""

from __future__ import annotations

import calendar
import datetime
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Literal, TypeAlias, cast, get_args

from monitor.csvdata import csv_table, load_file, load_shipped
from monitor.errors import DatabaseFileError

Confidence: TypeAlias = Literal["listed", "reported", "uncertain"]

CONFIDENCES: frozenset[str] = frozenset(get_args(Confidence))
COLUMNS = ("iso2", "country", "hotline", "joined", "left", "confidence", "note", "sources")

#: The INHOPE member directory was read on this date (source S1): `listed` rows were members then.
DIRECTORY_READ_ON = datetime.date(2026, 10, 9)
#: The facts in data/hotlines.csv were gathered by this date.
GATHERED_ON = datetime.date(2026, 11, 28)

_COUNTRY = re.compile(r"[A-Z]{2}")
_PERIOD = re.compile(r"(\d{4})(?:-(\d{2}))?")


@dataclass(frozen=True, slots=True)
class Period:
    """A year or a month as the sources give it, and the days it covers."""

    text: str
    first: datetime.date
    last: datetime.date

    @classmethod
    def parse(cls, text: str) -> Period:
        """`YYYY` or `YYYY-MM`; ValueError otherwise."""
        match = _PERIOD.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a year (YYYY) or a month (YYYY-MM)")
        year = int(match[1])
        if year < 1:
            raise ValueError(f"{text!r}: there is no year 0")
        if match[2] is None:
            return cls(text, datetime.date(year, 1, 1), datetime.date(year, 12, 31))
        month = int(match[2])
        if not 1 <= month <= 12:
            raise ValueError(f"{text!r}: month {match[2]} is not 01..12")
        days = calendar.monthrange(year, month)[1]
        return cls(text, datetime.date(year, month, 1), datetime.date(year, month, days))

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Hotline:
    """One row of data/hotlines.csv: a hotline's membership of INHOPE."""

    iso2: str
    country: str
    name: str
    joined: Period | None
    left: Period | None
    confidence: Confidence
    note: str = ""
    sources: tuple[str, ...] = ()

    def member_on(self, on: datetime.date) -> bool | None:
        """True / False when the file makes it certain, None when it does not (module rules)."""
        on = _check_date(on)
        if self.left is not None:
            if on > self.left.last:
                return False
            if on >= self.left.first:
                return None
        if self.joined is None:
            seen_on = DIRECTORY_READ_ON if self.confidence == "listed" else GATHERED_ON
            member = True if on >= seen_on else None
        elif on < self.joined.first:
            return False
        elif on <= self.joined.last:
            member = None
        else:
            member = True
        if member and self.confidence == "uncertain":
            return None
        return member


class HotlineTable:
    """Hotlines by country. Read-only; build one with load_hotlines()."""

    __slots__ = ("_by_country",)

    def __init__(self, hotlines: Iterable[Hotline]) -> None:
        by_country: dict[str, list[Hotline]] = {}
        for hotline in hotlines:
            by_country.setdefault(hotline.iso2, []).append(hotline)
        self._by_country: Mapping[str, tuple[Hotline, ...]] = MappingProxyType(
            {iso2: tuple(rows) for iso2, rows in by_country.items()}
        )

    def countries(self) -> frozenset[str]:
        """The ISO codes the file knows (any other country is unknown)."""
        return frozenset(self._by_country)

    def hotlines(self, country: str) -> tuple[Hotline, ...]:
        """All rows of `country`, members or not, in file order; () if the file lacks it."""
        return self._by_country.get(_check_country(country), ())

    def has_hotline(self, country: str, on: datetime.date) -> bool | None:
        """True, False, or None (unknown, or the country is not in the file). See module rules."""
        rows = self.hotlines(country)
        on = _check_date(on)
        if not rows:
            return None
        states = [row.member_on(on) for row in rows]
        if True in states:
            return True
        if all(state is False for state in states):
            return False
        return None

    def hotline_names(self, country: str, on: datetime.date) -> tuple[str, ...]:
        """Names of the hotlines that certainly were members on `on`, in file order.

        () when there were none or it is not known: has_hotline() tells which.
        """
        rows = self.hotlines(country)
        on = _check_date(on)
        return tuple(row.name for row in rows if row.member_on(on) is True)

    def __iter__(self) -> Iterator[Hotline]:
        return (row for rows in self._by_country.values() for row in rows)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._by_country.values())

    def __repr__(self) -> str:
        return f"<HotlineTable of {len(self)} hotlines in {len(self._by_country)} countries>"


def load_hotlines(path: str | os.PathLike[str] | None = None) -> HotlineTable:
    """The table from `path`, or the shipped data/hotlines.csv (read once, then cached).

    Raises DatabaseFileError naming the file and the line for a file that cannot be read or a
    malformed row.
    """
    if path is None:
        return _shipped_table()
    return HotlineTable(load_file(path, "hotlines", _parse))


def has_hotline(country: str, on: datetime.date) -> bool | None:
    """Per the shipped file: see HotlineTable.has_hotline and the module rules."""
    return _shipped_table().has_hotline(country, on)


def hotline_names(country: str, on: datetime.date) -> tuple[str, ...]:
    """Per the shipped file: see HotlineTable.hotline_names."""
    return _shipped_table().hotline_names(country, on)


@cache
def _shipped_table() -> HotlineTable:
    return HotlineTable(load_shipped("hotlines.csv", "hotlines", _parse))


def _parse(text: str, name: str) -> list[Hotline]:
    line, header, rows = csv_table(text, name, COLUMNS)
    if tuple(cell.lower() for cell in header) != COLUMNS:
        raise DatabaseFileError(
            f"{name}, line {line}: bad header {','.join(header)!r}, expected {','.join(COLUMNS)}"
        )
    hotlines: list[Hotline] = []
    country_names: dict[str, tuple[str, int]] = {}
    for line, cells in rows:
        if len(cells) != len(COLUMNS):
            raise DatabaseFileError(
                f"{name}, line {line}: {len(cells)} fields, expected {len(COLUMNS)} ({','.join(COLUMNS)})"
            )
        hotline = _hotline(dict(zip(COLUMNS, cells)), f"{name}, line {line}")
        known, known_line = country_names.setdefault(hotline.iso2, (hotline.country, line))
        if known != hotline.country:
            raise DatabaseFileError(
                f"{name}, line {line}: {hotline.iso2} is {hotline.country!r} here "
                f"but {known!r} on line {known_line}"
            )
        hotlines.append(hotline)
    return hotlines


def _hotline(row: dict[str, str], where: str) -> Hotline:
    iso2 = row["iso2"]
    if not _COUNTRY.fullmatch(iso2):
        raise DatabaseFileError(f"{where}: iso2 {iso2!r} is not two upper-case letters")
    for column in ("country", "hotline"):
        if not row[column]:
            raise DatabaseFileError(f"{where}: {column} is empty")
    periods: dict[str, Period | None] = {}
    for column in ("joined", "left"):
        try:
            periods[column] = Period.parse(row[column]) if row[column] else None
        except ValueError as error:
            raise DatabaseFileError(f"{where}: {column}: {error}") from None
    joined, left = periods["joined"], periods["left"]
    if joined is not None and left is not None and left.last < joined.first:
        raise DatabaseFileError(f"{where}: left {left} is before joined {joined}")
    confidence = row["confidence"]
    if confidence not in CONFIDENCES:
        raise DatabaseFileError(
            f"{where}: unknown confidence {confidence!r} (one of: {', '.join(sorted(CONFIDENCES))})"
        )
    sources = tuple(key.strip() for key in row["sources"].split(";") if key.strip())
    return Hotline(
        iso2, row["country"], row["hotline"], joined, left,
        cast(Confidence, confidence), row["note"], sources,
    )


def _check_country(country: str) -> str:
    if not isinstance(country, str):
        raise TypeError(f"country must be a str, not {type(country).__name__}")
    if not _COUNTRY.fullmatch(country):
        raise ValueError(f"country {country!r} is not an ISO 3166-1 alpha-2 code (two upper-case letters)")
    return country


def _check_date(on: datetime.date) -> datetime.date:
    if isinstance(on, datetime.datetime) or not isinstance(on, datetime.date):
        raise TypeError(f"on must be a datetime.date, not {type(on).__name__}")
    return on
