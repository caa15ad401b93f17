"""Reading monitor's CSV data files: the shipped data/*.csv and users' files like them.

Every problem is a DatabaseFileError naming the file, and the line when there is one:

    def parse(text: str, name: str) -> list[Thing]:
        line, header, rows = csv_table(text, name, COLUMNS)
        for line, cells in rows: ...

    things = load_shipped("things.csv", "things", parse)   # or load_file(path, "things", parse)
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from importlib.resources import files
from typing import TypeVar

from monitor.errors import DatabaseFileError

__all__ = ["csv_rows", "csv_table", "load_file", "load_shipped", "reason"]

#: (line number where the row starts, stripped cells) of each row that is not blank.
Rows = Iterator[tuple[int, list[str]]]

_T = TypeVar("_T")


def load_shipped(filename: str, what: str, parse: Callable[[str, str], _T]) -> _T:
    """`parse(text, name)` of the shipped data/`filename`; `what` names its kind in errors."""
    resource = files("monitor.data").joinpath(filename)
    name = str(resource)
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _unreadable(name, what, error) from None
    return parse(text, name)


def load_file(path: str | os.PathLike[str], what: str, parse: Callable[[str, str], _T]) -> _T:
    """`parse(text, name)` of a user's file (UTF-8, a BOM allowed); `what` as for load_shipped."""
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise _unreadable(name, what, error) from None
    return parse(text, name)


def csv_rows(text: str, name: str) -> Rows:
    """(line number where the row starts, stripped cells) for each row that is not blank."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DatabaseFileError(f"{name}, line {line}: not valid CSV: {error}") from None
        cells = [cell.strip() for cell in cells]
        if any(cells):
            yield line, cells


def csv_table(text: str, name: str, columns: Sequence[str]) -> tuple[int, list[str], Rows]:
    """(line, cells) of the header row and the csv_rows after it; raises for an empty file.

    `columns` only names the expected header in that error: checking it is the caller's.
    """
    rows = csv_rows(text, name)
    line, cells = next(rows, (0, []))
    if not cells:
        raise DatabaseFileError(f"{name}: empty file, expected the header {','.join(columns)}")
    return line, cells, rows


def reason(error: OSError | UnicodeDecodeError) -> str:
    """Why a file could not be read, in a few words."""
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (byte {error.start})"
    return error.strerror or str(error)


def _unreadable(name: str, what: str, error: OSError | UnicodeDecodeError) -> DatabaseFileError:
    return DatabaseFileError(f"{name}: cannot read the {what} file: {reason(error)}")
