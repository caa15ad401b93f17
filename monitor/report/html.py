"""`monitor report --format html`: one self-contained file to read, print or send.

Nothing is loaded from anywhere: the style is inline and every chart is an SVG inside the file (a
data: URI, so the charts' own ids cannot clash). The only links are the attribution's, which the
databases' licences ask for. Every hoster that left home gets its timeline chart and the evidence:
its addresses before and after, their ASNs, the database builds that placed them, and the crawls.
"""

from __future__ import annotations

import base64
import io
from html import escape

from sqlite_utils import Database

from ..countries import country_name
from ..detect import MoveFilter, hoster_id, list_moves, timeline
from . import chart
from .colours import country_colour
from .document import attribution_texts, hotline_word, title
from .period import evidence

STYLE = """
body { font: 15px/1.5 "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 0 auto; max-width: 1000px;
       padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 34px 0 8px; border-bottom: 1px solid #ccc; }
h3 { font-size: 17px; margin: 26px 0 6px; }
.lead { font-size: 17px; background: #f5f5f0; border-left: 4px solid #e8710a; padding: 10px 14px; }
.meta, .note { color: #555; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px 4px 0; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #999; } td.n, th.n { text-align: right; padding-right: 14px; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
.no { color: #b00020; font-weight: bold; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 6px; vertical-align: -1px; }
img.chart { width: 100%; height: auto; display: block; margin: 6px 0; }
code { font-size: 13px; }
footer { margin-top: 40px; border-top: 1px solid #ccc; padding-top: 8px; font-size: 13px; color: #444; }
.hoster { break-inside: avoid; page-break-inside: avoid; }
@media print { body { max-width: none; padding: 0; font-size: 11pt; } h2 { break-after: avoid; } }
@page { size: A4; margin: 16mm 14mm; }
"""


def _svg(draw, *args, alt: str, **kwargs) -> str:
    """A chart as an <img> holding its SVG: inside the file, nothing fetched."""
    buffer = io.BytesIO()
    draw(*args, buffer, "svg", **kwargs)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def _country(code: str) -> str:
    return f'{escape(country_name(code))} ({escape(code)})'


def _countries(codes: list[str]) -> str:
    return " + ".join(_country(c) for c in codes) or "unknown"


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    def cls(i: int) -> str:
        return ' class="n"' if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{v}</td>" for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _hotline(value: bool | None) -> str:
    return '<span class="no">no</span>' if value is False else hotline_word(value)


def to_html(db: Database, report: dict) -> str:
    footer = chart.Footer(report["data_date"], attribution_texts(report))
    left = report["left_home"]
    parts = [f"<h1>{escape(title(report))}</h1>",
             f'<p class="meta">Home country {_country(report["home_country"])} · data up to '
             f'{escape((report["data_date"] or "no crawl")[:10])} · {report["crawls"]["in_period"]} crawls in the '
             "period</p>",
             f'<p class="lead">{escape(report["summary"])}</p>',
             "<h2>Where they went</h2>"]
    if left["by_destination"]:
        rows = [[f'<span class="swatch" style="background:{country_colour(r["country"])}"></span>'
                 f'{_country(r["country"])}', str(r["hosters"]), str(r["urls"]), _hotline(r["has_hotline"])]
                for r in left["by_destination"]]
        table = _table(["Destination", "Hosters", "Reported URLs", "Hotline there"], rows, {1, 2})
        total = (f'<tr class="total"><td>All destinations</td><td class="n">{left["hosters"]}</td>'
                 f'<td class="n">{left["urls"]}</td><td></td></tr>')
        parts.append(table.replace("</tbody>", total + "</tbody>"))
        parts.append(f'<p class="note">Went where no hotline works: {left["no_hotline"]["hosters"]} of '
                     f'{left["hosters"]} hosters ({left["no_hotline"]["share"]:.0%}); not known for '
                     f'{left["hotline_unknown"]["hosters"]} ({left["hotline_unknown"]["share"]:.0%}). A hoster that '
                     "left for two countries at once counts under each, and once in the total.</p>")
    parts.append(_svg(chart.destinations_chart, left["by_destination"], report["home_country"], report["period"],
                      footer=footer, alt="Bar chart: hosters that left, by destination country"))
    parts += _came_home(report) + _abroad(report) + _figures(report)
    parts += _moved(db, report, footer)
    parts += ["<h2>How to read this</h2>", f"<p>{escape(report['period_rule'])}</p>",
              "<p>Revisits are DNS lookups and HEAD requests only; no content is ever fetched. Countries and "
              "networks are those of the hosters' addresses as the geolocation databases below place them; an "
              "address in a CDN or proxy network is an edge, and its country says nothing about where the "
              "content sits.</p>"]
    credits = "".join(f"<li>{a['html']} <span class=\"note\">({escape(', '.join(a['databases']))})</span></li>"
                      for a in report["attribution"])
    parts.append(f"<footer><p>Data up to {escape((report['data_date'] or 'no crawl')[:10])}. Sources of the "
                 "countries and networks shown:</p>"
                 + (f"<ul>{credits}</ul>" if credits else "<p>No geolocation database is recorded.</p>") + "</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title(report))}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _came_home(report: dict) -> list[str]:
    moves = report["came_home"]["moves"]
    out = ["<h2>Came home</h2>"]
    if not moves:
        return [*out, "<p>None in this period.</p>"]
    return [*out, _table(["Hoster", "From", "First seen home", "Reported URLs"],
                         [[escape(m["hoster"]), _countries(m["from_countries"]), m["first_seen_after"][:10],
                           str(m["urls"])] for m in moves], {3})]


def _abroad(report: dict) -> list[str]:
    abroad = report["now_abroad"]
    out = ["<h2>Hosters abroad at the end of the period</h2>",
           f'<p class="note">Located outside the home country at the period\'s last healthy crawl '
           f'({escape((abroad["at"] or "none")[:10])}), after having been in it.</p>']
    if abroad["hosters"]:
        out.append(_table(["Hoster", "Countries", "Networks", "Reported URLs"],
                          [[escape(h["hoster"]), _countries(h["countries"]),
                            escape(_networks(h)),
                            str(h["urls"])] for h in abroad["hosters"]], {3}))
    else:
        out.append("<p>None.</p>")
    if abroad["behind_cdn"]:
        out.append("<p>Behind a CDN or proxy, so where they are cannot be told: "
                   + ", ".join(escape(h["hoster"]) for h in abroad["behind_cdn"]) + ".</p>")
    return out


def _networks(hoster: dict) -> str:
    """'AS64521 (Nistru Hosting SRL)'; an organisation only known as its number is not repeated."""
    asns = ", ".join(f"AS{a}" for a in hoster["asns"])
    orgs = [o for o in hoster["as_orgs"] if not o.startswith("AS") or not o[2:].isdigit()]
    return f"{asns} ({', '.join(orgs)})" if orgs else asns


def _named(code: str) -> str:
    return _country(code) if code != "unknown" else "not located"


def _figures(report: dict) -> list[str]:
    out = ["<h2>Reported URLs by month and country</h2>",
           '<p class="note">URLs reported in the period, by the country where each URL\'s own host was last '
           "located (a URL in several countries counts in each).</p>"]
    rows = report["urls_by_month_and_country"]
    out.append(_table(["Month", "Country", "URLs"], [[r["month"], _named(r["country"]), str(r["urls"])]
                                                      for r in rows], {2}) if rows else "<p>None reported.</p>")
    out += ["<h2>Takedown times by country</h2>",
            '<p class="note">URLs first taken down in the period (removed, 404 or 410, or the host gone, on '
            "consecutive healthy crawls), by where each was last located before it went down; days from the "
            "report to the first crawl of the takedown.</p>"]
    rows = report["takedowns_by_country"]
    out.append(_table(["Country", "URLs taken down", "Average days", "Longest"],
                      [[_named(r["country"]), str(r["urls"]), str(r["avg_days_to_takedown"]),
                        str(r["max_days_to_takedown"])] for r in rows], {1, 2, 3})
               if rows else "<p>No URL was taken down in the period.</p>")
    out.append("<h2>Networks hosting the most reported URLs</h2>")
    rows = report["top_asns"]
    out.append(_table(["ASN", "Organisation", "Countries", "URLs"],
                      [[f"AS{r['asn']}", escape(r["as_org"] or ""), escape(", ".join(r["countries"])),
                        str(r["urls"])] for r in rows], {3}) if rows else "<p>No crawl located a URL.</p>")
    crawls = report["crawls"]
    out += ["<h2>Crawls</h2>", f"<p>{crawls['in_period']} crawls in the period, {crawls['healthy']} healthy.</p>"]
    if crawls["degraded"]:
        out.append("<ul>" + "".join(f"<li>Crawl {c['id']} ({escape(c['started_at'][:10])}) was degraded: "
                                    f"{escape(c['why'])}. It confirms no move and counts no takedown.</li>"
                                    for c in crawls["degraded"]) + "</ul>")
    return out


def _side(label: str, side: dict | None) -> list[str]:
    if side is None:
        return []
    rows = [[escape(a["ip"]), _country(a["country"]) if a["country"] else "not placed",
             f"AS{a['asn']}" if a["asn"] is not None else "", escape(a["as_org"] or ""),
             escape(f"{a['country_db'] or ''} {(a['country_build'] or '')[:10]}".strip()),
             escape(f"{a['asn_db'] or ''} {(a['asn_build'] or '')[:10]}".strip())] for a in side["addresses"]]
    if not rows:  # no enrichment kept for these addresses: show what the hoster's state holds
        rows = [[escape(ip), _countries(side["countries"]), escape(", ".join(f"AS{a}" for a in side["asns"])),
                 escape(", ".join(side["as_orgs"])), "", ""] for ip in side["ips"]]
    return [f"<p><b>{label}</b>: crawl {side['crawl']} of {escape((side['at'] or '')[:10])}</p>",
            _table(["Address", "Country", "ASN", "Organisation", "Country database", "ASN database"], rows)]


def _moved(db: Database, report: dict, footer: chart.Footer) -> list[str]:
    moves = report["left_home"]["moves"]
    out = ["<h2>Each hoster that left, with the evidence</h2>"]
    if not moves:
        return [*out, "<p>None in this period.</p>"]
    for name in dict.fromkeys(m["hoster"] for m in moves):
        hid, _ = hoster_id(db, name)
        out.append(f'<section class="hoster"><h3>{escape(name)}</h3>')
        out.append(_svg(chart.timeline_chart, timeline(db, name), list_moves(db, MoveFilter(hoster=name)),
                        footer=footer, alt=f"Timeline chart: where {name} was hosted"))
        for move in (m for m in moves if m["hoster"] == name):
            proof = evidence(db, hid, move)
            out.append(f"<p>Left {_countries(move['from_countries'])} for {_countries(move['to_countries'])}: last "
                       f"seen at home {escape(move['last_seen_before'][:16].replace('T', ' '))}, first seen abroad "
                       f"{escape(move['first_seen_after'][:16].replace('T', ' '))}, confirmed by crawl "
                       f"{move['confirmed_crawl']} of {escape(move['confirmed_at'][:10])}; {move['urls']} reported "
                       f"URL{'s' if move['urls'] != 1 else ''}; hotline there: "
                       f"{_hotline(move['destination_has_hotline'])}.</p>")
            out += _side("Before, at home", proof["before"]) + _side("After, abroad", proof["after"])
        out.append("</section>")
    return out
