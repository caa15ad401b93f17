"""Output formats shared by every listing command: table (default), csv, json."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from tabulate import tabulate

FORMATS = ("table", "csv", "json")


def render(rows: Sequence[dict], fmt: str, columns: Sequence[str] | None = None) -> str:
    """rows as one string in fmt; lists in cells are joined for table and csv."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        return json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=2, ensure_ascii=False)
    flat = [[_cell(row.get(c)) for c in columns] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(flat)
        return out.getvalue().rstrip("\n")
    if not rows:
        return "(none)"
    return tabulate(flat, headers=columns, tablefmt="simple", disable_numparse=True)


def render_object(obj: dict, fmt: str, columns: Sequence[str], periods_key: str = "periods") -> str:
    """An object with a list of periods (history, timeline): JSON as is; otherwise the scalar
    fields as a heading and the periods (their `columns`) as a table or CSV."""
    if fmt == "json":
        return json.dumps(obj, indent=2, ensure_ascii=False)
    periods = obj.get(periods_key, [])
    if fmt == "csv":
        return render(periods, "csv", columns)
    head = "\n".join(f"{key}: {_cell(value)}" for key, value in obj.items() if key != periods_key)
    return f"{head}\n\n{render(periods, 'table', columns) if periods else '(no crawl has seen it yet)'}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
