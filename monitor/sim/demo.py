"""`monitor demo`: a small simulated world on loopback, crawled night after night while its
hosters move, so a newcomer sees what monitor detects, with no network and no config file.

Everything runs on this machine: a DNS server and web servers on 127.x addresses, and .mmdb files
that place 127.x networks in countries. No real host is contacted.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from pathlib import Path

from ..config import load_file
from ..errors import InputError
from ..crawl.run import run_crawl
from ..detect import list_moves, timeline
from ..intake import import_file
from ..report import attribution
from ..report.formats import render
from .. import store
from ..store import queries
from .http import WebServer
from .world import NETWORKS, World

# hoster -> (what happens, its place night by night; a list is a round-robin set, None: gone).
# The last entry holds for the nights after it.
SCENARIO: dict[str, tuple[str, list]] = {
    "polder-pics.test": ("stays in the Netherlands", ["nl"]),
    "tulip-img.test": ("moves to Moldova on night 3", ["nl", "nl", "md"]),
    "flapper.test": ("is in Russia for one night only (a flap, not a move)", ["nl", "nl", "ru", "nl"]),
    "takedown.test": ("takes its content down on night 3 (HTTP 404)", ["nl"]),
    "phoenix.test": ("vanishes on nights 3-4, reappears in the Seychelles", ["nl", "nl", None, None, "sc"]),
    "cloaked.test": ("hides behind a CDN on night 3", ["de", "de", "cdn"]),
    "homecoming.test": ("comes home from Russia on night 4", ["ru", "ru", "ru", "nl"]),
    "maple.test": ("moves to Canada, whose hotline left INHOPE in 2020", ["nl", "ca"]),
    "roundrobin.test": ("serves from NL and DE, then DE only", [["nl", "de"], ["nl", "de"], ["de"]]),
    "offshore.test": ("moves from Moldova to the Seychelles (abroad to abroad)", ["md", "md", "md", "sc"]),
    "dike.test": ("changes network inside the Netherlands (not a move)", ["nl", "nl", "nl2"]),
    "prairie.test": ("stays in the United States", ["us"]),
}
TAKEN_DOWN_FROM = 2  # night index (0-based) from which takedown.test answers 404
CHART_HOSTER = "tulip-img.test"


def place_of(hoster: str, night: int):
    places = SCENARIO[hoster][1]
    return places[min(night, len(places) - 1)]


def run_demo(nights: int = 6, keep: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """Run the demo; return the folder holding the database and the chart (kept, so that
    `monitor serve` can be tried on them)."""
    # Absolute: the config written there names its files by these paths.
    folder = Path(keep).absolute() if keep else Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    if folder.exists() and any(folder.iterdir()):
        raise InputError(f"{folder}: not empty; the demo builds its world in a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    with World(folder / "world") as world, WebServer([n.address() for n in NETWORKS.values()]) as web:
        database = folder / "monitor.db"
        config = load_file(world.write_config(folder / "config.yaml", database, timeout=3.0))
        _introduce(say, nights)
        now = datetime.now(timezone.utc)
        _import(config, web, folder, reported=now - timedelta(days=nights + 1))
        for night in range(nights):
            _set_night(world, web, night)
            summary = run_crawl(config, clock=_night_clock(now, nights - 1 - night))
            outcomes = ", ".join(f"{n} {o}" for o, n in sorted(summary.outcomes.items()))
            say(f"  night {night + 1}: {summary.urls} URLs revisited ({outcomes}); "
                f"{summary.hosters_changed} hoster(s) changed location")
        _report(config, folder, say)
    say(f"\nBrowse it: monitor --config {folder / 'config.yaml'} serve   (then open http://127.0.0.1:8001/)\n"
        f"or ask:    monitor --config {folder / 'config.yaml'} timeline phoenix.test")
    return folder


def _introduce(say, nights: int) -> None:
    say("monitor demo: a simulated internet on this machine (DNS and web servers on 127.x addresses,\n"
        "geolocation databases that place those addresses in countries). A hotline in the Netherlands\n"
        f"has reported URLs on {len(SCENARIO)} image hosters. Over {nights} nights:")
    for hoster, (story, _) in SCENARIO.items():
        say(f"  {hoster:<18} {story}")
    say("Each night monitor resolves every host, places its addresses, and sends each URL a HEAD\n"
        "request (never downloading content).\n")


def _import(config, web: WebServer, folder: Path, reported: datetime) -> None:
    """The hotline's reports, received the day before the first night."""
    reports = folder / "reports.csv"
    lines = [f"http://{sub}.{hoster}:{web.port}/{kind}/{n}.jpg,{reported:%Y-%m-%d}"
             for hoster in SCENARIO for n, (sub, kind) in enumerate([("img", "gallery"), ("img", "gallery"),
                                                                    ("www", "view")])]
    reports.write_text("url,reported_at\n" + "\n".join(lines) + "\n")
    db = store.writer(config)
    import_file(db, reports, on_reject=lambda rejected: None)
    db.close()


def _night_clock(now: datetime, days_ago: int):
    """Crawls here follow each other within seconds; a simulated calendar makes timelines and the
    chart read like real ones. The nights lie in the past, the last one ending now, so that a real
    crawl run on the demo's database afterwards sorts after them."""
    start = now - timedelta(days=days_ago, minutes=20)
    times = iter(t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (start, start + timedelta(minutes=20)))
    return lambda: next(times)


def _set_night(world: World, web: WebServer, night: int) -> None:
    for hoster in SCENARIO:
        place = place_of(hoster, night)
        for host in (f"img.{hoster}", f"www.{hoster}"):
            if place is None:
                world.dns.set_nxdomain(host)
            else:
                world.dns.set_a(host, [world.networks[p].address() for p in (place if isinstance(place, list) else [place])])
            gone = hoster == "takedown.test" and night >= TAKEN_DOWN_FROM
            web.set_default(host, 404 if gone else 200)


def _report(config, folder: Path, say) -> None:
    db = store.reader(config)
    moves = list_moves(db)
    say(f"\nMoves detected ({len(moves)}): a move is confirmed after {config.moves.confirm_after} nights at the new place.")
    say(render(moves, "table", ["hoster", "kind", "from_countries", "to_countries", "first_seen_after",
                                "confirmed_at", "destination_has_hotline"]))
    say("kinds: left-home (left NL), came-home, abroad (between two foreign countries), masked (now behind a\n"
        "CDN, whose country says nothing); destination_has_hotline: yes / no / empty where unknown.")
    for hoster in ("phoenix.test", "flapper.test", "cloaked.test"):
        shown = timeline(db, hoster)
        say(f"\nTimeline of {hoster} ({SCENARIO[hoster][0]}):")
        rows = [{**p, "nights": f"{p['first_crawl']}-{p['last_crawl']}" if p["last_crawl"] > p["first_crawl"]
                 else str(p["first_crawl"])} for p in shown["periods"]]
        say(render(rows, "table", ["nights", "status", "countries", "as_orgs"]))
    # The countries and ASNs above come from the (simulated) databases the crawls recorded: credited
    # as every output credits them.
    credits = attribution.for_store(db)
    if credits:
        say(f"\n{attribution.line(credits)}")
    chart = folder / f"timeline-{CHART_HOSTER}.png"
    from ..report.chart import Footer, timeline_chart

    timeline_chart(timeline(db, CHART_HOSTER), [m for m in moves if m["hoster"] == CHART_HOSTER], chart, "png",
                   Footer(attribution=[a.text for a in credits]))
    removed = queries.urls_now_with_outcome(db, "removed")
    db.close()
    say(f"\nURLs found removed (404/410) at the last night: {removed}")
    say(f"database: {config.database}\nchart:    {chart}")
