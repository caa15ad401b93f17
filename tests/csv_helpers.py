"""Helpers for the tests of the shipped CSV data files (test_hotlines.py, test_networks.py)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any


def shipped_text(filename: str) -> str:
    """The shipped data/`filename`."""
    return files("monitor.data").joinpath(filename).read_text(encoding="utf-8")


def shipped_rows(filename: str) -> list[dict[str, str]]:
    """data/`filename` read with the csv module alone, independently of the loader."""
    return list(csv.DictReader(shipped_text(filename).splitlines()))


def listed_source_keys(key_pattern: str) -> set[str]:
    """The source keys data/SOURCES.md lists (`- KEY: ...`) that match `key_pattern`."""
    pattern = rf"^- ({key_pattern}):"
    return set(re.findall(pattern, shipped_text("SOURCES.md"), flags=re.MULTILINE))


def assert_sources_listed(rows: Iterable[Any], key_pattern: str) -> None:
    """Some of `rows` (loaded from a data file) cite sources, and every one they cite is listed."""
    used = {key for row in rows for key in row.sources}
    assert used
    assert used <= listed_source_keys(key_pattern)


def sources_section(filename: str) -> str:
    """The section of data/SOURCES.md about `filename`."""
    return shipped_text("SOURCES.md").split(f"## {filename}", 1)[1].split("\n## ", 1)[0]


def undocumented_columns(section: str, columns: Iterable[str]) -> list[str]:
    """The `columns` that have no row (| `column` |) in a section of data/SOURCES.md."""
    return [column for column in columns if f"| `{column}` |" not in section]


def write(tmp_path: Path, text: str, name: str = "mine.csv") -> Path:
    """A user's file `name` in `tmp_path`, holding `text`."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_at(path, line: int) -> str:
    """A pytest.raises `match` pattern: the message names the file and the line."""
    return rf"^{re.escape(str(path))}, line {line}: "
