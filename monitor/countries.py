"""ISO 3166-1 alpha-2 country codes and names (data/countries.csv; source in data/SOURCES.md)."""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files


@cache
def country_names() -> dict[str, str]:
    with files("monitor.data").joinpath("countries.csv").open(encoding="utf-8") as handle:
        return {row["iso2"]: row["name"] for row in csv.DictReader(handle)}


def is_country(code: str) -> bool:
    return code in country_names()


def country_name(code: str) -> str:
    return country_names().get(code, code)
