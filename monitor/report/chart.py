"""Charts fit to print (matplotlib, headless): a hoster's timeline and where the hosters that left
home went.

What a reader of a printed report needs, and what the charts therefore hold to:
- a country has one colour everywhere (monitor.report.colours), so two charts can be compared;
- a period behind a CDN or proxy is hatched grey and says so: the edge's country is not where the
  content sits, so it must never look like a country;
- the date axis reads right for any span, from two days to several years: every tick says its day
  and month (or month and year), so crossing a month boundary is never ambiguous;
- no label overlaps another or is cut off: a label that does not fit is shortened, and left out
  if even that does not fit;
- a footer says up to when the data goes and carries the attribution the databases require.
Each drawn element that a test (or a designer) needs to find carries an SVG id (`gid`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import matplotlib

matplotlib.use("Agg")  # no display on servers and in cron
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: editable, searchable
matplotlib.rcParams["svg.hashsalt"] = "monitor"  # the same chart gives the same SVG: diffable reports

import matplotlib.dates as mdates  # noqa: E402  (after the backend is chosen)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator  # noqa: E402

from ..countries import country_in_sentence, country_name  # noqa: E402
from .colours import CDN_EDGE, CDN_FACE, CDN_HATCH, country_colour, text_colour  # noqa: E402

# 8 inches at 150 dpi: 1200 px as PNG, and close to the width of an A4 page's text, so that the
# type sizes below are the sizes a reader sees on paper (and on screen, in the HTML report).
WIDTH = 8.0
DPI = 150
FONT = 10  # points
SMALL = 8.5
INK = "#222222"
MUTED = "#666666"
CDN_LABEL = "hidden behind a CDN"


@dataclass
class Footer:
    """What every chart states at its foot: the data's date and the databases' attribution."""

    data_date: str | None = None  # the start of the last crawl the chart shows (ISO 8601)
    attribution: list[str] = field(default_factory=list)  # the texts the databases' licences require

    def text(self) -> str:
        parts = []
        if self.data_date:
            parts.append(f"Data up to {self.data_date[:10]} (last crawl).")
        if self.attribution:
            parts.append("; ".join(self.attribution) + ".")
        return " ".join(parts)


def _time(text: str) -> float:
    """A stored time as matplotlib's date number (days), which its axes take."""
    return float(mdates.date2num(datetime.fromisoformat(text.replace("Z", "+00:00"))))


def _day(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return f"{moment.day} {moment:%b %Y}"


def _figure(height: float):
    fig = plt.figure(figsize=(WIDTH, height), dpi=DPI)
    fig.patch.set_facecolor("white")
    return fig


def _inches(fig, value: float) -> float:
    """Inches from the top or bottom as a fraction of the figure's height."""
    return value / fig.get_figheight()


def _footer_lines(footer: Footer | None) -> list[str]:
    text = footer.text() if footer else ""
    # An average character of DejaVu Sans is under 0.6 em: the footer wraps inside the page, never off it.
    return textwrap.wrap(text, width=int(WIDTH * 72 / (SMALL * 0.6))) if text else []


def _draw_footer(fig, lines: list[str]) -> None:
    if lines:
        fig.text(0.012, _inches(fig, 0.12), "\n".join(lines), fontsize=SMALL, color=MUTED, ha="left",
                 va="bottom", linespacing=1.35, gid="footer")


def _title(fig, title: str, subtitle: str) -> None:
    fig.text(0.012, 1 - _inches(fig, 0.18), title, fontsize=14, weight="bold", color=INK, ha="left", va="top",
             gid="title")
    # Wrapped, as the footer is, so that a long subtitle stays on the page.
    wrapped = "\n".join(textwrap.wrap(subtitle, width=int(WIDTH * 72 / (FONT * 0.6)))[:2])
    fig.text(0.012, 1 - _inches(fig, 0.5), wrapped, fontsize=FONT, color=MUTED, ha="left", va="top")


def _save(fig, output: Path | BinaryIO, fmt: str) -> None:
    # No creation date in the file: the same data gives the same bytes.
    metadata = {"Date": None} if fmt == "svg" else {}
    fig.savefig(output, format=fmt, metadata=metadata, facecolor="white")
    plt.close(fig)


# -- the date axis -------------------------------------------------------------------------------

_STEPS_DAYS = (1, 2, 3, 7, 14)
_STEPS_MONTHS = (1, 2, 3, 6, 12)


def date_axis(ax, start: float, end: float, width_pt: float) -> str:
    """Ticks every hour(s), day(s), month(s) or year(s), as many as fit the axis's width in points
    with room for each label, every label complete on its own ("30 Mar", "1 Apr"; "Mar 2026"):
    returns the axis label (the year or years, and UTC)."""
    span = end - start
    first = mdates.num2date(start)
    last = mdates.num2date(end)
    years = str(first.year) if first.year == last.year else f"{first.year}–{last.year}"

    def most(label_pt: float) -> int:  # label widths at FONT, with a gap between labels
        return max(2, int(width_pt // label_pt))

    if span <= 3:
        fit = most(95)  # "28 Feb 12:00"
        hours = next((h for h in (1, 2, 3, 6, 12, 24) if span * 24 / h <= fit), 24)
        ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, hours), tz=UTC))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda x, _pos: (lambda d: f"{d.day} {d:%b} {d:%H:%M}")(mdates.num2date(x))))
        return f"{years} (UTC)"
    if span <= 75:
        fit = most(55)  # "28 Feb"
        step = next((s for s in _STEPS_DAYS if span / s <= fit), 14)
        ax.xaxis.set_major_locator(FixedLocator(_day_ticks(first, last, step)))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda x, _pos: (lambda d: f"{d.day} {d:%b}")(mdates.num2date(x))))
        return f"{years} (UTC)"
    months = span / 30.44
    fit = most(70)  # "Sep 2026"
    step = next((s for s in _STEPS_MONTHS if months / s <= fit), 0)
    if step and step < 12:
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=range(1, 13, step), tz=UTC))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{mdates.num2date(x):%b %Y}"))
        return "UTC"
    fit = most(45)  # "2026"
    ax.xaxis.set_major_locator(mdates.YearLocator(base=max(1, -(-int(span / 365.25) // fit))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{mdates.num2date(x):%Y}"))
    return "UTC"


def _hide_cut_ticks(fig, ax) -> None:
    """A tick label that would run off the figure is left out rather than cut."""
    renderer = fig.canvas.get_renderer()
    width = fig.get_figwidth() * fig.dpi
    for label in ax.get_xticklabels():
        box = label.get_window_extent(renderer)
        if box.x0 < 0 or box.x1 > width:
            label.set_visible(False)


def _day_ticks(first: datetime, last: datetime, step: int) -> list[float]:
    """Midnights from the first day on, every `step` days (a week step starts on a Monday)."""
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    if step == 7:
        day -= timedelta(days=day.weekday())
    ticks = []
    while day <= last:
        if day >= first:
            ticks.append(float(mdates.date2num(day)))
        day += timedelta(days=step)
    return ticks


# -- labels that fit -----------------------------------------------------------------------------


def _fit(ax, renderer, x0: float, x1: float, y: float, candidates: Sequence[str], colour: str, gid: str,
         box: dict | None = None):
    """Write the first candidate that fits between x0 and x1 (data units), centred; none if none fits."""
    left, right = ax.transData.transform([(x0, y), (x1, y)])[:, 0]
    room = right - left - 8
    for text in candidates:
        if not text:
            continue
        label = ax.text((x0 + x1) / 2, y, text, ha="center", va="center", fontsize=FONT - 0.5, color=colour,
                        gid=gid, bbox=box)
        if label.get_window_extent(renderer).width <= room:
            return label
        label.remove()
    return None


def _period_label(period: dict) -> list[str]:
    if period["status"] != "located":
        return ["no address (unresolved)", "unresolved", "none"]
    orgs = ", ".join(period["as_orgs"]) or ", ".join(f"AS{a}" for a in period["asns"])
    asns = ", ".join(f"AS{a}" for a in period["asns"])
    if period["cdn"]:
        return [f"{CDN_LABEL}\n{orgs}", CDN_LABEL, "CDN"]
    names = " + ".join(country_name(c) for c in period["countries"]) or "country unknown"
    codes = "+".join(period["countries"]) or "?"
    return [f"{names}\n{orgs}", f"{names}\n{asns}", names, codes]


# -- a hoster's timeline -------------------------------------------------------------------------


def timeline_chart(timeline: dict, moves: list[dict], output: Path | BinaryIO, fmt: str,
                   footer: Footer | None = None) -> Path | BinaryIO:
    """A hoster's timeline written as png or svg to output."""
    _save(timeline_figure(timeline, moves, footer), output, fmt)
    return output


def timeline_figure(timeline: dict, moves: list[dict], footer: Footer | None = None):
    """One lane of periods along time, each move a dashed line with its label above the lane."""
    periods = timeline["periods"]
    if footer is not None and footer.data_date is None and periods:
        footer = Footer(periods[-1]["end"], footer.attribution)
    footer_lines = _footer_lines(footer)
    countries = list(dict.fromkeys(c for p in periods if p["status"] == "located" and not p["cdn"]
                                   for c in p["countries"]))
    has_cdn = any(p["status"] == "located" and p["cdn"] for p in periods)
    has_gap = any(p["status"] != "located" for p in periods)
    legend_items = len(countries) + has_cdn + has_gap
    long_names = any(len(country_name(c)) > 16 for c in countries) or has_cdn
    per_row = 3 if long_names else 4
    legend_rows = -(-legend_items // per_row) if legend_items else 0
    height = 0.85 + 1.6 + 0.5 + 0.26 * legend_rows + 0.17 * len(footer_lines) + 0.2
    fig = _figure(height)
    bottom = 0.5 + 0.26 * legend_rows + 0.17 * len(footer_lines) + 0.2
    # Side margins hold half of the widest date label ("28 Feb 12:00"), so no tick label is cut.
    ax = fig.add_axes((0.06, _inches(fig, bottom), 0.88, _inches(fig, 1.6)))
    ax.set_ylim(-0.1, 1.88)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(MUTED)
    ax.tick_params(axis="x", labelsize=FONT, colors=INK)

    if periods:
        starts = [_time(p["start"]) for p in periods]
        first, last_end = starts[0], max(_time(periods[-1]["end"]), starts[-1])
        span = max(last_end - first, 2.0)  # at least two days: a single crawl still gets an axis
        pad = span * 0.015
        ax.set_xlim(first - pad, first + span + pad)
        ends = [*starts[1:], max(last_end, starts[-1] + span * 0.01)]  # a period lasts until the next begins
        _draw_periods(ax, periods, starts, ends)
        renderer = fig.canvas.get_renderer()
        for index, period in enumerate(periods):
            striped = period["status"] == "located" and not period["cdn"] and len(period["countries"]) > 1
            colour = INK if period["status"] != "located" or period["cdn"] or striped \
                else text_colour(country_colour(period["countries"][0]))
            # Over stripes or hatching no text colour reads everywhere: a white ground under the label.
            box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.5} \
                if striped or (period["status"] == "located" and period["cdn"]) else None
            _fit(ax, renderer, starts[index], ends[index], 0.5, _period_label(period), colour, f"label{index}", box)
        _draw_moves(ax, renderer, moves)
        axis_pt = ax.get_window_extent(renderer).width * 72 / fig.dpi
        ax.set_xlabel(date_axis(ax, first - pad, first + span + pad, axis_pt), fontsize=SMALL, color=MUTED,
                      loc="right")
        _hide_cut_ticks(fig, ax)
        subtitle = (f"{_day(periods[0]['start'])} to {_day(periods[-1]['end'])} · "
                    f"{sum(p['crawls'] for p in periods)} crawls · a dashed line marks a confirmed move")
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "not crawled yet", transform=ax.transAxes, ha="center", color=MUTED, fontsize=FONT)
        subtitle = "no crawl has seen it yet"
    _title(fig, f"Where {timeline['hoster']} was hosted", subtitle)
    handles = [Patch(facecolor=country_colour(c), label=country_name(c)) for c in countries]
    if has_cdn:
        handles.append(Patch(facecolor=CDN_FACE, edgecolor=CDN_EDGE, hatch=CDN_HATCH,
                             label=f"{CDN_LABEL} (country unknown)"))
    if has_gap:
        handles.append(Patch(facecolor="white", edgecolor=MUTED, linestyle="--", label="no address (unresolved)"))
    if handles:
        fig.legend(handles=handles, loc="upper left", ncols=min(per_row, len(handles)), frameon=False,
                   fontsize=FONT - 0.5, bbox_to_anchor=(0.01, _inches(fig, bottom - 0.45)), handlelength=1.5,
                   columnspacing=1.4)
    _draw_footer(fig, footer_lines)
    return fig


def _draw_periods(ax, periods: list[dict], starts: list[float], ends: list[float]) -> None:
    for index, period in enumerate(periods):
        left, width = starts[index], ends[index] - starts[index]
        if period["status"] != "located":
            bar = ax.barh(0.5, width, left=left, height=0.9, facecolor="white", edgecolor=MUTED, linestyle="--",
                          linewidth=0.9)
            bar.patches[0].set_gid(f"period{index}-unresolved")
            continue
        if period["cdn"]:
            # Hatched grey, never a country's colour: the edge's country says nothing.
            bar = ax.barh(0.5, width, left=left, height=0.9, facecolor=CDN_FACE, edgecolor=CDN_EDGE, hatch=CDN_HATCH,
                          linewidth=0.8)
            bar.patches[0].set_gid(f"period{index}-cdn")
            continue
        codes = period["countries"] or ["??"]
        stripe = 0.9 / len(codes)  # a set of countries (round robin) is striped, one colour each
        for k, code in enumerate(codes):
            bar = ax.barh(0.05 + stripe * (k + 0.5), width, left=left, height=stripe, color=country_colour(code),
                          edgecolor="white", linewidth=0.8)
            bar.patches[0].set_gid(f"period{index}-{code}")


_KIND_WORDS = {"left-home": "left home", "came-home": "came home", "abroad": "moved",
               "unmasked": "out from behind a CDN"}


def _draw_moves(ax, renderer, moves: list[dict]) -> None:
    """Each move a dashed line; its label on the first of three rows above the lane where it
    overlaps nothing, shortened if need be, left out if even the short form fits nowhere."""
    rows = (1.2, 1.45, 1.7)
    taken: list[list[tuple[float, float]]] = [[] for _ in rows]
    x_min, x_max = ax.transData.transform([(ax.get_xlim()[0], 0), (ax.get_xlim()[1], 0)])[:, 0]
    moves = sorted(moves, key=lambda m: m["first_seen_after"])
    lines = [float(ax.transData.transform((_time(m["first_seen_after"]), 0))[0]) for m in moves]
    for n, move in enumerate(moves):
        at = _time(move["first_seen_after"])
        when = datetime.fromisoformat(move["first_seen_after"].replace("Z", "+00:00"))
        route = f"{'+'.join(move['from_countries'])} → {'+'.join(move['to_countries'])}"
        day = f"{when.day} {when:%b}"
        if move["kind"] == "masked":  # the new countries are an edge's: not named
            candidates = [f"went behind a CDN, {day}", "behind a CDN", "CDN"]
        else:
            candidates = [f"{_KIND_WORDS.get(move['kind'], move['kind'])}: {route}, {day}", f"{route}, {day}", route]
        placed = None
        for text in candidates:
            for row, y in enumerate(rows):
                for align, offset in (("left", 4), ("right", -4)):
                    label = ax.annotate(text, xy=(at, y), xytext=(offset, 0), textcoords="offset points",
                                        ha=align, va="center", fontsize=SMALL, color=INK, gid=f"move{n}")
                    box = label.get_window_extent(renderer)
                    # Nor may another move's line cross it: labels sit in the gaps between lines.
                    free = all(box.x1 + 6 < a or box.x0 - 6 > b for a, b in taken[row]) and not any(
                        box.x0 - 3 <= x <= box.x1 + 3 for k, x in enumerate(lines) if k != n)
                    if free and box.x0 >= x_min - 2 and box.x1 <= x_max + 2:
                        taken[row].append((box.x0, box.x1))
                        placed = y
                        break
                    label.remove()
                if placed is not None:
                    break
            if placed is not None:
                break
        ax.plot([at, at], [0.0, placed if placed is not None else 1.05], color=INK, linewidth=1.1, linestyle="--",
                gid=f"moveline{n}")


# -- where the hosters that left went ------------------------------------------------------------


def destinations_chart(rows: list[dict], home: str, period: dict, output: Path | BinaryIO, fmt: str,
                       footer: Footer | None = None) -> Path | BinaryIO:
    """The destinations chart written as png or svg to output."""
    _save(destinations_figure(rows, home, period, footer), output, fmt)
    return output


def destinations_figure(rows: list[dict], home: str, period: dict, footer: Footer | None = None):
    """A bar per destination country (hosters that left home for it), most first, each in the
    country's colour, with its URLs and whether a hotline works there."""
    footer_lines = _footer_lines(footer)
    bars = max(1, len(rows))
    plot = 0.36 * bars + 0.25
    height = 0.85 + plot + 0.5 + 0.17 * len(footer_lines) + 0.2
    fig = _figure(height)
    bottom = 0.5 + 0.17 * len(footer_lines) + 0.2
    names = [_shorten(country_name(r["country"]), 22) for r in rows]
    notes = [_bar_note(r) for r in rows]
    # Margins measured on the text they hold: country names on the left, figures on the right, so
    # neither is ever cut off whatever the names and numbers are.
    left = _widest(fig, names, FONT) + 0.2
    right = _widest(fig, notes, FONT) + 0.25
    ax = fig.add_axes((left / WIDTH, _inches(fig, bottom), 1 - (left + right) / WIDTH, _inches(fig, plot)))
    _title(fig, f"Where the hosters that left {country_in_sentence(home)} went",
           f"{_day(period['since'])} to {_day(period['until'])} · hosters that left, by destination")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(MUTED)
    ax.spines["bottom"].set_color(MUTED)
    if not rows:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, f"No hoster left {country_in_sentence(home)} in this period.", transform=ax.transAxes,
                ha="center", va="center", fontsize=FONT + 1, color=MUTED)
        _draw_footer(fig, footer_lines)
        return fig
    top = max(r["hosters"] for r in rows)
    ax.set_xlim(0, top * 1.02)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the most hosters at the top
    for y, row in enumerate(rows):
        bar = ax.barh(y, row["hosters"], height=0.66, color=country_colour(row["country"]))
        bar.patches[0].set_gid(f"destination-{row['country']}")
        # The figures stand in a column of their own right of the plot: never over a bar, never cut.
        ax.annotate(notes[y], xy=(1.0, y), xycoords=("axes fraction", "data"),
                    xytext=(10, 0), textcoords="offset points", ha="left", va="center", fontsize=FONT,
                    color="#b00020" if row["has_hotline"] is False else INK,
                    weight="bold" if row["has_hotline"] is False else "normal")
    ax.set_yticks(range(len(rows)), names, fontsize=FONT)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    ax.tick_params(axis="x", labelsize=FONT)
    ax.set_xlabel("hosters", fontsize=SMALL, color=MUTED, loc="right")
    _draw_footer(fig, footer_lines)
    return fig


def _bar_note(row: dict) -> str:
    hotline = {True: "hotline: yes", False: "NO HOTLINE", None: "hotline: unknown"}[row["has_hotline"]]
    urls = f"{row['urls']} URL{'s' if row['urls'] != 1 else ''}"
    return f"{row['hosters']} hoster{'s' if row['hosters'] != 1 else ''} · {urls} · {hotline}"


def _widest(fig, texts: list[str], size: float) -> float:
    """The width in inches of the widest of these texts at this size (bold, to be safe)."""
    renderer = fig.canvas.get_renderer()
    widest = 0.0
    for text in texts:
        probe = fig.text(0, 0, text, fontsize=size, weight="bold")
        widest = max(widest, probe.get_window_extent(renderer).width / fig.dpi)
        probe.remove()
    return widest


def _shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1].rstrip() + "…"
