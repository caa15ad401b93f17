"""Issue 5's acceptance on a simulated world: crawled for several nights, `monitor moves` lists
exactly the scripted moves with the right kinds and dates, and timelines give the right periods."""

from __future__ import annotations

import json

from click.testing import CliRunner

from monitor.cli import cli
from monitor.sim.world import World

# hoster -> its host's network night by night (None: NXDOMAIN that night)
SCRIPT = {
    "stays.test": ["nl", "nl", "nl", "nl", "nl", "nl"],
    "leaves.test": ["nl", "nl", "md", "md", "md", "md"],          # left-home, confirmed night 4
    "flaps.test": ["nl", "nl", "ru", "nl", "nl", "nl"],            # one night away: no move
    "vanishes.test": ["nl", "nl", None, None, "sc", "sc"],         # gap, then abroad: left-home, night 6
    "masks.test": ["de", "de", "cdn", "cdn", "cdn", "cdn"],        # masked, night 4
    "returns.test": ["ru", "ru", "ru", "nl", "nl", "nl"],          # came-home, night 5
    "canada.test": ["nl", "ca", "ca", "ca", "ca", "ca"],           # left-home to a country whose hotline left
}


def test_scripted_moves_on_a_crawled_world(tmp_path):
    with World(tmp_path / "world") as world:
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db")
        reports = tmp_path / "reports.txt"
        reports.write_text("".join(f"http://img.{h}/{n}.jpg\nhttp://www.{h}/\n" for n, h in enumerate(SCRIPT)))

        def run(*args):
            return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)

        assert run("import", str(reports)).exit_code == 0
        for night in range(6):
            for hoster, places in SCRIPT.items():
                for host in (f"img.{hoster}", f"www.{hoster}"):
                    if places[night] is None:
                        world.dns.set_nxdomain(host)
                    else:
                        world.place(host, places[night])
            assert run("crawl", "--dns-only").exit_code == 0

        moves = json.loads(run("moves", "--format", "json").stdout)
        stays = json.loads(run("timeline", "stays.test", "--format", "json").stdout)["periods"]
        assert [(p["countries"], p["crawls"]) for p in stays] == [(["NL"], 6)]  # one period for six nights

        found = sorted((m["hoster"], m["kind"], tuple(m["from_countries"]), tuple(m["to_countries"]),
                        m["destination_has_hotline"]) for m in moves)
        assert found == [
            ("canada.test", "left-home", ("NL",), ("CA",), False),
            ("leaves.test", "left-home", ("NL",), ("MD",), None),
            ("masks.test", "masked", ("DE",), ("US",), None),
            ("returns.test", "came-home", ("RU",), ("NL",), True),
            ("vanishes.test", "left-home", ("NL",), ("SC",), None),
        ]
        nights = [p["start"] for p in json.loads(run("timeline", "leaves.test", "--format", "json").stdout)["periods"]]
        leaves = next(m for m in moves if m["hoster"] == "leaves.test")
        assert leaves["first_seen_after"] == nights[1]  # the night it was first seen in MD
        assert leaves["urls"] == 2

        vanishes = json.loads(run("timeline", "vanishes.test", "--format", "json").stdout)["periods"]
        assert [(p["status"], p["countries"], p["crawls"]) for p in vanishes] == [
            ("located", ["NL"], 2), ("unresolved", [], 2), ("located", ["SC"], 2)]
        flaps = json.loads(run("timeline", "flaps.test", "--format", "json").stdout)["periods"]
        assert [p["countries"] for p in flaps] == [["NL"], ["RU"], ["NL"]]

        chart = tmp_path / "leaves.png"
        assert run("timeline", "leaves.test", "--format", "png", "--output", str(chart)).exit_code == 0
        assert chart.stat().st_size > 10_000
