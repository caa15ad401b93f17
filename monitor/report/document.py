"""`monitor report` as JSON, Markdown (to paste into a text) and CSV (the headline table).

Attribution travels with the data in each: JSON has an `attribution` list; Markdown ends with a
"Sources" line; CSV has an `attribution` column on every row. A CSV comment line (`# ...`) breaks
readers that do not expect one (Python's csv, most spreadsheet imports take it for a data row), a
trailing text row turns numeric columns into text for pandas and R, and a sidecar file or a note in
the file name is lost as soon as the CSV is forwarded alone; a column is read by every CSV reader,
shows in every spreadsheet and cannot be separated from the figures it credits.
"""

from __future__ import annotations

import csv
import io
import json

from ..countries import country_in_sentence, country_name

HEADLINE_COLUMNS = ("country", "country_name", "hosters", "urls", "has_hotline", "attribution")


def hotline_word(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def attribution_texts(report: dict) -> list[str]:
    return [a["text"] for a in report["attribution"]]


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def to_csv(report: dict) -> str:
    """The headline table: one row per destination country, most hosters first."""
    credit = "; ".join(attribution_texts(report))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADLINE_COLUMNS)
    for row in report["left_home"]["by_destination"]:
        writer.writerow([row["country"], country_name(row["country"]), row["hosters"], row["urls"],
                         hotline_word(row["has_hotline"]), credit])
    return out.getvalue().rstrip("\n")


def _table(header: list[str], rows: list[list], right: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _countries(codes: list[str]) -> str:
    return " + ".join(f"{country_name(c)} ({c})" for c in codes) or "unknown"


def title(report: dict) -> str:
    period = report["period"]
    return (f"Hosters that left {country_in_sentence(report['home_country'])}, "
            f"{period['since']} to {period['until']}")


def to_markdown(report: dict) -> str:
    left = report["left_home"]
    out = [f"# {title(report)}", "", report["summary"], "", "## Where they went", ""]
    if left["by_destination"]:
        out += _table(["Destination", "Hosters", "Reported URLs", "Hotline there"],
                      [[f"{country_name(r['country'])} ({r['country']})", r["hosters"], r["urls"],
                        hotline_word(r["has_hotline"])] for r in left["by_destination"]]
                      + [["**All destinations**", f"**{left['hosters']}**", f"**{left['urls']}**", ""]], {1, 2})
        out += ["", f"Went where no hotline works: {left['no_hotline']['hosters']} of {left['hosters']} hosters"
                    f" ({left['no_hotline']['share']:.0%}); not known for {left['hotline_unknown']['hosters']}"
                    f" ({left['hotline_unknown']['share']:.0%}). A hoster that left for two countries at once "
                    "counts under each, and once in the total."]
    else:
        out.append("No hoster left in this period.")
    came = report["came_home"]
    out += ["", "## Came home", ""]
    out += (_table(["Hoster", "From", "First seen home", "Reported URLs"],
                   [[m["hoster"], _countries(m["from_countries"]), m["first_seen_after"][:10], m["urls"]]
                    for m in came["moves"]], {3}) if came["moves"] else ["None in this period."])
    abroad = report["now_abroad"]
    when = (abroad["at"] or "")[:10]
    out += ["", f"## Hosters abroad at the end of the period (crawl of {when or 'none'})", "",
            "Hosters that were in the home country at some crawl and were located elsewhere at the period's "
            "last healthy crawl.", ""]
    out += (_table(["Hoster", "Countries", "ASNs", "Reported URLs"],
                   [[h["hoster"], _countries(h["countries"]), ", ".join(f"AS{a}" for a in h["asns"]), h["urls"]]
                    for h in abroad["hosters"]], {3}) if abroad["hosters"] else ["None."])
    if abroad["behind_cdn"]:
        out += ["", "Behind a CDN or proxy (where they are cannot be told): "
                + ", ".join(h["hoster"] for h in abroad["behind_cdn"]) + "."]
    out += ["", "## Reported URLs by month and country", "",
            "URLs reported in the period, by month of report and by the country where each URL's own host was "
            "last located (a URL in several countries counts in each).", ""]
    rows = report["urls_by_month_and_country"]
    out += _table(["Month", "Country", "URLs"], [[r["month"], _countries([r["country"]]) if r["country"] != "unknown"
                                                   else "not located", r["urls"]] for r in rows], {2}) \
        if rows else ["No URL was reported in the period."]
    out += ["", "## Takedown times by country", "",
            "URLs taken down (first takedown) in the period, by the country where each was last located before "
            "it went down; days from report to takedown.", ""]
    rows = report["takedowns_by_country"]
    out += _table(["Country", "URLs taken down", "Average days", "Longest"],
                  [[_countries([r["country"]]) if r["country"] != "unknown" else "not located", r["urls"],
                    r["avg_days_to_takedown"], r["max_days_to_takedown"]] for r in rows], {1, 2, 3}) \
        if rows else ["No URL was taken down in the period."]
    out += ["", "## Networks hosting the most reported URLs", ""]
    rows = report["top_asns"]
    out += _table(["ASN", "Organisation", "Countries", "URLs"],
                  [[f"AS{r['asn']}", r["as_org"] or "", ", ".join(r["countries"]), r["urls"]] for r in rows], {3}) \
        if rows else ["No crawl located a URL in the period."]
    crawls = report["crawls"]
    out += ["", "## Crawls", "", f"{crawls['in_period']} crawls in the period, {crawls['healthy']} healthy."]
    for c in crawls["degraded"]:
        out.append(f"- crawl {c['id']} ({c['started_at'][:10]}) was degraded: {c['why']}; it confirms no move "
                   "and counts no takedown.")
    out += ["", "## How to read this", "", report["period_rule"], ""]
    out += ["---", "", f"Data up to {(report['data_date'] or 'no crawl')[:10]}. "
            + ("Sources: " + "; ".join(attribution_texts(report)) + "." if report["attribution"] else
               "No geolocation database is recorded in this store.")]
    return "\n".join(out)
