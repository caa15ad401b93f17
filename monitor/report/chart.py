"""A hoster's timeline as a chart a journalist could print (matplotlib, headless).

Time runs along the bottom; each located period is a bar coloured by its countries with the AS
organisation written on it; unresolved periods are left as gaps; each move is a labelled line.
"""

from __future__ import annotations

from datetime import datetime
from typing import BinaryIO
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in cron
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: editable, searchable

import matplotlib.dates as mdates  # noqa: E402  (after the backend is chosen)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ..countries import country_name  # noqa: E402

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f"]


def _time(text: str) -> float:
    """A stored time as matplotlib's date number (days), which its axes take."""
    return float(mdates.date2num(datetime.fromisoformat(text)))


def timeline_chart(timeline: dict, moves: list[dict], output: Path | BinaryIO, fmt: str) -> Path | BinaryIO:
    periods = timeline["periods"]
    fig, ax = plt.subplots(figsize=(12, 3.6), dpi=100)  # 1200 px wide as PNG
    colours: dict[str, str] = {}
    if periods:
        starts = [_time(p["start"]) for p in periods]
        last_end = _time(periods[-1]["end"])
        span = (last_end - starts[0]) or (_time(periods[0]["end"]) - starts[0])
        for index, period in enumerate(periods):
            start = starts[index]
            # A period lasts until the next one begins: crawls are points in time.
            end = starts[index + 1] if index + 1 < len(periods) else max(last_end, start + span * 0.02)
            if period["status"] != "located":  # a gap: the hoster did not resolve
                ax.text(start + (end - start) / 2, 0, "unresolved", ha="center", va="center", fontsize=8,
                        color="#777777", rotation=90 if end - start < span * 0.08 else 0, clip_on=True)
                continue
            key = "+".join(period["countries"]) or "?"
            colour = colours.setdefault(key, PALETTE[len(colours) % len(PALETTE)])
            ax.barh(0, end - start, left=start, height=0.5, color=colour, edgecolor="white")
            label = ", ".join(period["as_orgs"]) or ", ".join(f"AS{a}" for a in period["asns"])
            edge = "\n(CDN edge)" if period["cdn"] else ""
            ax.text(start + (end - start) / 2, 0, f"{key}{edge}\n{label}", ha="center", va="center",
                    fontsize=8, color="white", clip_on=True)
        for move in moves:
            at = _time(move["first_seen_after"])
            ax.axvline(at, color="black", linewidth=1.2, linestyle="--")
            text = f"{'+'.join(move['from_countries'])} -> {'+'.join(move['to_countries'])}, {move['first_seen_after'][:10]}"
            ax.annotate(f"{text}\n({move['kind']})", xy=(at, 0.32), xytext=(4, 0), textcoords="offset points",
                        fontsize=8, va="bottom")
    if not colours and periods:  # never located: give the axis a span so it can be drawn
        ax.set_xlim(_time(periods[0]["start"]) - 1, _time(periods[-1]["end"]) + 1)
        ax.text(0.5, 0.5, "never resolved", transform=ax.transAxes, ha="center", color="#777777")
    ax.set_ylim(-0.6, 0.9)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    ax.set_title(f"Where {timeline['hoster']} was hosted", loc="left", fontsize=11)
    handles = [Patch(color=c, label=" + ".join(country_name(cc) for cc in key.split("+")))
               for key, c in colours.items()]
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, frameon=False, ncols=min(4, len(handles)))
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(output, format=fmt)
    plt.close(fig)
    return output
