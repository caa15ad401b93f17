"""Output formats shared by every listing command: table (default), csv, json."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from tabulate import tabulate

FORMATS = ("table", "csv", "json")
REPORT_FORMATS = ("html", "md", "csv", "json")


# Fields that place something: a row showing any of them shows geolocation data.
LOCATION_FIELDS = ("countries", "asns", "from_countries", "to_countries", "from_asns", "to_asns", "country", "asn")


def shows_location(row: dict) -> bool:
    return any(row.get(key) not in (None, "", [], (), "unknown") for key in LOCATION_FIELDS)


def render(rows: Sequence[dict], fmt: str, columns: Sequence[str] | None = None,
           attribution: str | None = None) -> str:
    """rows as one string in fmt; lists in cells are joined for table and csv.

    `attribution` (for a listing that can show countries or ASNs): the credit the databases'
    licences require. CSV and JSON rows get an `attribution` field, always there so a script sees
    one shape, filled on the rows that show a country or ASN: it survives `> file`, which a line on
    stderr would not, and a CSV reader takes it as it takes any column (a `#` line breaks most). A
    table, for a person at a terminal, gets it as its last line."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if attribution is not None:
        if fmt == "table":
            table = render(rows, fmt, columns)
            shown = any(shows_location(row) for row in rows)
            return f"{table}\n\nSources: {attribution}" if shown and attribution else table
        rows = [{**row, "attribution": attribution if shows_location(row) and attribution else None} for row in rows]
        columns = [*columns, "attribution"]
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


def render_object(obj: dict, fmt: str, columns: Sequence[str], periods_key: str = "periods",
                  attribution: list[dict] | None = None) -> str:
    """An object with a list of periods (history, timeline): JSON as is; otherwise the scalar
    fields as a heading and the periods (their `columns`) as a table or CSV.

    `attribution` (monitor.report.attribution's `to_json` of each credit): JSON gets it as an
    `attribution` list once any period shows a country or ASN; CSV and table as render() does."""
    periods = obj.get(periods_key, [])
    credit = None if attribution is None else "; ".join(a["text"] for a in attribution)
    if fmt == "json":
        if attribution is not None:
            obj = {**obj, "attribution": attribution if any(shows_location(p) for p in periods) else []}
        return json.dumps(obj, indent=2, ensure_ascii=False)
    if fmt == "csv":
        return render(periods, "csv", columns, credit)
    head = "\n".join(f"{key}: {_cell(value)}" for key, value in obj.items() if key != periods_key)
    return f"{head}\n\n{render(periods, 'table', columns, credit) if periods else '(no crawl has seen it yet)'}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
