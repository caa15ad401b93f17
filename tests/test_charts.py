"""Charts fit to print: fixed colours per country, CDN periods never in a country's colour, a date
axis that reads right for any span, labels that never overlap or get cut, the footer."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from itertools import combinations, pairwise

import pytest
from scripted import DBIP, MD, NL, script

from monitor.report import chart
from monitor.report.colours import CDN_FACE, FIXED, OTHERS, country_colour, text_colour

T0 = datetime(2026, 3, 1, 2, tzinfo=UTC)
COUNTRY_COLOURS = set(FIXED.values()) | set(OTHERS)


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def period(start: float, end: float, countries=("NL",), *, cdn=False, status="located", asns=(64501,),
           orgs=("Polder Hosting B.V.",)) -> dict:
    located = status == "located"
    return {"start": at(start), "end": at(end), "status": status, "countries": list(countries) if located else [],
            "asns": list(asns) if located else [], "as_orgs": list(orgs) if located else [], "ips": [],
            "cdn": cdn, "crawls": max(1, round(end - start) + 1), "first_crawl": 1, "last_crawl": 1}


def move(day: float, to=("MD",), kind="left-home", frm=("NL",)) -> dict:
    return {"kind": kind, "from_countries": list(frm), "to_countries": list(to), "first_seen_after": at(day)}


def svg(draw, *args, **kwargs) -> str:
    out = io.BytesIO()
    draw(*args, out, "svg", **kwargs)
    return out.getvalue().decode()


def fills(text: str, gid: str) -> set[str]:
    """The fill colours drawn inside the SVG group with this id."""
    group = re.search(rf'<g id="{re.escape(gid)}">(.*?)</g>', text, re.S)
    assert group, f"no element {gid} in the chart"
    found = set(re.findall(r"fill: (#[0-9a-f]{6})", group.group(1)))
    for pattern in re.findall(r"fill: url\(#(\w+)\)", group.group(1)):  # a hatch: its ground and its lines
        body = re.search(rf'<pattern id="{pattern}".*?</pattern>', text, re.S)
        assert body, pattern
        found |= set(re.findall(r'(?:fill|stroke)(?:: |=")(#[0-9a-f]{6})', body.group(0)))
    return found


def test_a_country_has_one_colour_in_every_chart():
    first = svg(chart.timeline_chart, {"hoster": "a.test", "periods": [period(0, 3), period(4, 8, ["DE"])]}, [])
    second = svg(chart.timeline_chart, {"hoster": "b.test", "periods": [period(0, 3, ["DE"]), period(4, 8, ["MD"])]},
                 [])
    bars = svg(chart.destinations_chart, [{"country": "MD", "hosters": 3, "urls": 4, "has_hotline": None},
                                          {"country": "DE", "hosters": 1, "urls": 1, "has_hotline": True}],
               "NL", {"since": "2026-03-01", "until": "2026-03-31"})
    germany = country_colour("DE")
    assert fills(first, "period1-DE") == fills(second, "period0-DE") == fills(bars, "destination-DE") == {germany}
    assert fills(second, "period1-MD") == fills(bars, "destination-MD") == {country_colour("MD")} != {germany}


def test_every_country_colour_is_fixed_and_none_is_grey():
    assert country_colour("nl") == country_colour("NL") == FIXED["NL"]
    assert country_colour("ZW") == country_colour("ZW") in OTHERS  # a stable hash, not an order
    for colour in COUNTRY_COLOURS:
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert max(r, g, b) - min(r, g, b) > 40, colour  # greys are kept for edges and unknowns
    assert text_colour("#ffffff") == "#111111" and text_colour("#1f5fa8") == "#ffffff"


def test_a_cdn_period_is_hatched_grey_and_labelled_never_a_countrys_colour():
    shown = {"hoster": "c.test", "periods": [period(0, 3, ["DE"]), period(4, 9, ["US"], cdn=True, asns=(13335,),
                                                                           orgs=("CLOUDFLARENET",))]}
    text = svg(chart.timeline_chart, shown, [move(4, ["US"], "masked", ["DE"])])
    drawn = fills(text, "period1-cdn")
    assert CDN_FACE in drawn
    assert not drawn & COUNTRY_COLOURS  # not the United States' red, nor any country's
    assert "hidden behind a CDN" in text
    assert "hidden behind a CDN (country unknown)" in text  # the legend says what the hatching means
    assert "United States" not in text and "→ US" not in text  # the edge's country is not shown as a place
    assert "went behind a CDN, 5 Mar" in text


def _visible_texts(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return renderer, [t for t in fig.findobj(chart.plt.Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("days, expected, form", [
    (2, ["2 Mar 00:00"], r"\d{1,2} [A-Z][a-z]{2} \d\d:00"),  # two days: hours, each with its day
    (6, ["31 Mar", "1 Apr"], r"\d{1,2} [A-Z][a-z]{2}"),        # across a month: every label says its month
    (40, [], r"\d{1,2} [A-Z][a-z]{2}"),
    (400, ["Jan 2027"], r"[A-Z][a-z]{2} 20\d\d"),
    (6 * 365, ["2028", "2030"], r"20\d\d"),
])
def test_the_date_axis_reads_right_for_any_span(days, expected, form):
    start = 28 if days == 6 else 0  # 29 March: the six days cross into April
    shown = {"hoster": "d.test", "periods": [period(start, start + days / 2), period(start + days / 2 + 0.01,
                                                                                       start + days, ["DE"])]}
    fig = chart.timeline_figure(shown, [])
    renderer, _texts = _visible_texts(fig)
    ax = fig.axes[0]
    labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    shown_text = [t.get_text() for t in labels]
    assert len(labels) >= 3, shown_text
    assert all(e in shown_text for e in expected), shown_text
    assert all(re.fullmatch(form, t) for t in shown_text), shown_text
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
    assert all(a.x1 + 4 < b.x0 for a, b in pairwise(boxes)), shown_text  # no overlap
    assert boxes[0].x0 >= 0 and boxes[-1].x1 <= fig.get_figwidth() * fig.dpi  # none cut off
    chart.plt.close(fig)


def test_labels_never_overlap_nor_run_off_on_a_crowded_timeline():
    countries = ["NL", "DE", "MD", "US", "IN", "CZ"]
    periods = [period(d, d + 0.9, [countries[d % 6]], orgs=(f"Network number {d} with a long name",))
               for d in range(30)]
    periods[7] = period(7, 7.9, status="unresolved")
    periods[12] = period(12, 18.9, ["US"], cdn=True, orgs=("CLOUDFLARENET",))  # a week: room for labels
    del periods[13:19]
    moves = [move(d, [countries[d % 6]], "abroad", [countries[(d - 1) % 6]]) for d in [*range(1, 13), *range(19, 30)]]
    fig = chart.timeline_figure({"hoster": "crowded.test", "periods": periods}, moves,
                                chart.Footer("2026-03-30T02:00:00Z", ["A credit " * 40]))
    renderer, texts = _visible_texts(fig)
    width, height = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, text.get_text()
    ax = fig.axes[0]
    written = [t for t in ax.texts if t.get_visible()]
    assert any(t.get_gid().startswith("move") for t in written)  # some moves labelled...
    assert sum(t.get_gid().startswith("move") for t in written) < len(moves)  # ...those that fit
    for a, b in combinations(written, 2):
        assert not a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)), (a.get_text(), b.get_text())
    # A period label stays inside its bar: shortened or left out, never spilling over the next.
    for label in (t for t in written if t.get_gid().startswith("label")):
        index = int(label.get_gid()[5:])
        box = label.get_window_extent(renderer)
        left, right = ax.transData.transform([(chart._time(periods[index]["start"]), 0),
                                              (chart._time(periods[index + 1]["start"]) if index + 1 < len(periods)
                                               else ax.get_xlim()[1], 0)])[:, 0]
        assert left <= box.x0 and box.x1 <= right, label.get_text()
    chart.plt.close(fig)


def test_destination_figures_and_names_are_never_cut(tmp_path):
    rows = [{"country": "CF", "hosters": 120, "urls": 4501, "has_hotline": None},  # Central African Republic
            {"country": "MD", "hosters": 6, "urls": 14, "has_hotline": False}]
    fig = chart.destinations_figure(rows, "NL", {"since": "2021-01-01", "until": "2021-12-31"},
                                    chart.Footer("2021-12-31T02:00:00Z", ["IP Geolocation by DB-IP"]))
    renderer, texts = _visible_texts(fig)
    width = fig.get_figwidth() * fig.dpi
    assert any("NO HOTLINE" in t.get_text() for t in texts)
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width, text.get_text()
    chart.plt.close(fig)


def test_the_timeline_charts_footer_carries_the_attribution_and_data_date(run, tmp_path):
    from monitor.store import open_store

    store = open_store(tmp_path / "monitor.db")
    script(store, {"alpha.test": [NL, MD, MD]}, sources=DBIP)
    store.close()
    assert run("refresh").exit_code == 0
    output = tmp_path / "alpha.svg"
    assert run("timeline", "alpha.test", "--format", "svg", "--output", str(output)).exit_code == 0
    text = output.read_text()
    assert "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0" in text
    assert "Data up to 2026-03-03 (last crawl)." in text
