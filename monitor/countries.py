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


# Names that take "the" inside a sentence ("left the Netherlands", "to the United States").
_WITH_ARTICLE = frozenset({"NL", "US", "GB", "PH", "SC", "BS", "AE", "KY", "VG", "VI", "MV", "MH", "SB", "KM", "GM",
                           "CF", "DO", "RU", "FO", "FK", "TC", "CK", "CD", "CG", "VA"})


def country_in_sentence(code: str) -> str:
    """The country's name as it reads inside a sentence: 'the Netherlands', 'Moldova'."""
    name = country_name(code)
    return f"the {name}" if code in _WITH_ARTICLE and not name.lower().startswith("the ") else name
