"""`monitor report`: the period report in every format, on scripted hoster histories (where the
headline table is known exactly) and on a crawled simulated world (where the evidence is real)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import pytest
from scripted import CA, CDN, CZ, DBIP, DE, GONE, IN, MD, NL, RU, US, script

from monitor.report.colours import country_colour

DBIP_TEXT = "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0"
# Night n is 2026-03-(n+1); a move is confirmed the night after it is first seen (confirm_after 2).
WORLD = {
    **{f"md{i}.test": [NL, NL, MD] for i in range(1, 7)},          # first seen in MD on 3 March
    **{f"us{i}.test": [NL, NL, NL, US] for i in range(1, 8)},      # in the US on 4 March
    **{f"in{i}.test": [NL, NL, NL, NL, IN] for i in range(1, 4)},  # in India on 5 March
    "both.test": [NL, NL, [US, IN]],                                # to two countries at once
    "cz.test": [NL, NL, GONE, CZ],                                  # across a night it did not resolve
    "maple.test": [NL, NL, NL, NL, NL, CA],                         # Canada: no hotline since 2021
    "stays.test": [NL],
    "back.test": [RU, RU, RU, NL],                                  # came home on 4 March
    "flap.test": [NL, NL, MD, NL],                                  # one night away: no move
    "cloaked.test": [NL, NL, NL, CDN],                              # behind a CDN: masked, not left
    "late.test": [NL, NL, NL, NL, NL, NL, NL, DE],                  # seen abroad on the last night only
    "early.test": [NL, DE],                                         # left on 2 March, before the period
}
URLS = {"md1.test": 3, "us1.test": 5, "both.test": 4, "in2.test": 2}
NIGHTS = 8  # 1 to 8 March
PERIOD = ("--since", "2026-03-03", "--until", "2026-03-08")


@pytest.fixture
def world(run, tmp_path):
    from monitor.store import open_store

    db = open_store(tmp_path / "monitor.db")
    script(db, {name: (nights + [nights[-1]] * NIGHTS)[:NIGHTS] for name, nights in WORLD.items()},
           sources=DBIP, urls=URLS)
    db.close()
    assert run("refresh").exit_code == 0
    return run


def report(run, *args: str, fmt: str = "json"):
    result = run("report", *args, "--format", fmt)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def test_json_gives_exactly_the_scripted_table(world):
    shown = report(world, *PERIOD)
    assert shown["period"] == {"since": "2026-03-03", "until": "2026-03-08"}
    assert shown["home_country"] == "NL"
    left = shown["left_home"]
    assert left["by_destination"] == [
        {"country": "US", "hosters": 8, "urls": 15, "has_hotline": True},   # us1-7 and both.test
        {"country": "MD", "hosters": 6, "urls": 8, "has_hotline": None},    # Moldova: not in the data
        {"country": "IN", "hosters": 4, "urls": 8, "has_hotline": None},    # in1-3 and both.test
        {"country": "CA", "hosters": 1, "urls": 1, "has_hotline": False},
        {"country": "CZ", "hosters": 1, "urls": 1, "has_hotline": None},
    ]
    # both.test counts under the US and India, once in the totals.
    assert (left["hosters"], left["urls"]) == (19, 29)
    assert left["no_hotline"] == {"hosters": 1, "share": round(1 / 19, 3)}
    assert left["hotline_unknown"] == {"hosters": 11, "share": round(11 / 19, 3)}
    assert shown["came_home"]["hosters"] == 1 and shown["came_home"]["moves"][0]["hoster"] == "back.test"
    assert [a["text"] for a in shown["attribution"]] == [DBIP_TEXT]
    assert shown["summary"].startswith(
        "From 2026-03-03 to 2026-03-08, 19 hosters with 29 reported URLs left the Netherlands: eight to the "
        "United States, six to Moldova, four to India, one to Canada and one to Czechia. One of them (5%) went "
        "where no INHOPE hotline works")


def test_a_hoster_left_in_the_period_it_was_first_seen_abroad_not_when_confirmed(world):
    # md*: first seen in Moldova on 3 March, confirmed on 4 March.
    on_third = report(world, "--since", "2026-03-03", "--until", "2026-03-03")["left_home"]["by_destination"]
    assert [(r["country"], r["hosters"]) for r in on_third] == [("MD", 6), ("IN", 1), ("US", 1)]  # with both.test
    on_fourth = report(world, "--since", "2026-03-04", "--until", "2026-03-04")["left_home"]["by_destination"]
    assert [(r["country"], r["hosters"]) for r in on_fourth] == [("US", 7), ("CZ", 1)]
    everything = report(world)  # the whole store: early.test's move to Germany on 2 March too
    assert everything["period"] == {"since": "2026-03-01", "until": "2026-03-08"}
    assert ("DE", 1) in [(r["country"], r["hosters"]) for r in everything["left_home"]["by_destination"]]
    assert "first seen" in everything["period_rule"] and "not when the move was confirmed" in everything["period_rule"]


def test_hosters_abroad_at_the_periods_end_leave_cdn_ones_apart(world):
    abroad = report(world, "--since", "2026-03-01", "--until", "2026-03-05")["now_abroad"]
    assert abroad["at"] == "2026-03-05T02:00:00Z"
    names = [h["hoster"] for h in abroad["hosters"]]
    assert names[:2] == ["us1.test", "both.test"]  # most reported URLs first
    assert "maple.test" not in names and "late.test" not in names  # still at home on 5 March
    assert [h["hoster"] for h in abroad["behind_cdn"]] == ["cloaked.test"]


def test_markdown_for_pasting_into_a_text(world):
    text = report(world, *PERIOD, fmt="md")
    assert text.startswith("# Hosters that left the Netherlands, 2026-03-03 to 2026-03-08\n")
    assert "| United States (US) | 8 | 15 | yes |" in text
    assert "| Canada (CA) | 1 | 1 | no |" in text
    assert "| Moldova (MD) | 6 | 8 | unknown |" in text
    assert "| **All destinations** | **19** | **29** |  |" in text
    assert text.rstrip().endswith(f"Sources: {DBIP_TEXT}.")


def test_csv_is_the_headline_table_with_its_attribution(world):
    rows = list(csv.DictReader(io.StringIO(report(world, *PERIOD, fmt="csv"))))
    assert [(r["country"], r["country_name"], r["hosters"], r["urls"], r["has_hotline"]) for r in rows] == [
        ("US", "United States", "8", "15", "yes"), ("MD", "Moldova", "6", "8", "unknown"),
        ("IN", "India", "4", "8", "unknown"), ("CA", "Canada", "1", "1", "no"), ("CZ", "Czechia", "1", "1", "unknown")]
    assert {r["attribution"] for r in rows} == {DBIP_TEXT}


def _embedded_svgs(page: str) -> list[str]:
    return [base64.b64decode(data).decode() for data in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_html_is_one_file_that_loads_nothing_and_links_only_the_attribution(world, tmp_path):
    output = tmp_path / "report.html"
    result = world("report", *PERIOD, "--format", "html", "--output", str(output))
    assert result.exit_code == 0, result.output
    page = output.read_text()
    assert not re.search(r"<(script|link|iframe|object|embed)\b", page, re.I)
    assert "@import" not in page and not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    for source in re.findall(r"\bsrc\s*=\s*[\"']([^\"']*)", page, re.I):
        assert source.startswith("data:image/svg+xml;base64,")
    links = set(re.findall(r"\bhref\s*=\s*[\"']([^\"']*)", page, re.I))
    assert links == {"https://db-ip.com", "https://creativecommons.org/licenses/by/4.0/"}
    svgs = _embedded_svgs(page)
    assert len(svgs) == 1 + 19  # the destinations and each hoster that left
    for svg in svgs:
        assert not re.search(r"(xlink:)?href=\"(?!#)", svg)  # an image refers only to itself
        assert DBIP_TEXT in svg  # every chart carries the attribution
    assert '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>' in page
    assert "19 hosters with 29 reported URLs left the Netherlands" in page


def test_html_colours_each_country_as_every_chart_does(world):
    page = report(world, *PERIOD, fmt="html")
    svgs = _embedded_svgs(page)
    us = country_colour("US")
    assert f'<span class="swatch" style="background:{us}"></span>United States (US)' in page
    assert re.search(rf'<g id="destination-US">\s*<path[^>]*fill: {us}', svgs[0])
    us1 = next(s for s in svgs if "Where us1.test was hosted" in s)
    assert re.search(rf'<g id="period1-US">\s*<path[^>]*fill: {us}', us1)
    assert re.search(rf'<g id="period0-NL">\s*<path[^>]*fill: {country_colour("NL")}', us1)


def test_a_period_without_moves_and_usage_errors(world, tmp_path):
    quiet = report(world, "--since", "2026-03-07", "--until", "2026-03-07")
    assert quiet["left_home"] == {"hosters": 0, "urls": 0, "by_destination": [],
                                  "no_hotline": {"hosters": 0, "share": None},
                                  "hotline_unknown": {"hosters": 0, "share": None}, "moves": []}
    assert quiet["summary"] == "From 2026-03-07 to 2026-03-07 no hoster left the Netherlands."
    assert "No hoster left the Netherlands in this period." in _embedded_svgs(
        report(world, "--since", "2026-03-07", "--until", "2026-03-07", fmt="html"))[0]
    backwards = world("report", "--since", "2026-03-05", "--until", "2026-03-01")
    assert backwards.exit_code == 1 and "--until 2026-03-01 is before --since 2026-03-05" in backwards.stderr
    assert world("report", "--since", "March").exit_code == 2
    assert world("report", "--output", str(tmp_path / "no" / "r.html")).exit_code == 2
    assert report(world, fmt="md").startswith("# Hosters that left")  # Markdown by default


def test_a_store_without_crawls_says_what_to_do(run):
    run("add", "http://img.alpha.nl/a.jpg")
    result = run("report")
    assert result.exit_code == 1 and "no crawl in the database yet" in result.stderr


def test_on_a_crawled_world_the_evidence_is_the_crawls_own(tmp_path):
    """Real crawls (dns-only) of the simulated world: addresses, ASNs, database builds and crawls."""
    from click.testing import CliRunner

    from monitor.cli import cli
    from monitor.sim.world import World
    from monitor.store import open_store

    with World(tmp_path / "world") as sim:
        config = sim.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db")
        # Reported now (no reported_at): in the period of the crawls that follow.
        (tmp_path / "reports.txt").write_text("http://img.leaves.test/1.jpg\nhttp://img.leaves.test/2.jpg\n"
                                              "http://www.stays.test/\n")

        def run(*args):
            return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)

        assert run("import", str(tmp_path / "reports.txt")).exit_code == 0
        for night, place in enumerate(["nl", "nl", "md", "md"]):
            sim.place("img.leaves.test", place)
            sim.place("www.stays.test", "nl")
            assert run("crawl", "--dns-only").exit_code == 0, night
        db = open_store(tmp_path / "monitor.db")
        db.execute("UPDATE crawls SET degraded = 'the resolver did not answer' WHERE id = 2")
        db.conn.commit()
        db.close()
        shown = json.loads(run("report", "--format", "json").stdout)
        page = run("report", "--format", "html").stdout
    assert [(r["country"], r["hosters"], r["urls"]) for r in shown["left_home"]["by_destination"]] == [("MD", 1, 2)]
    assert [a["provider"] for a in shown["attribution"]] == ["MaxMind"]  # the simulated files are GeoLite2's
    assert shown["crawls"]["degraded"][0]["id"] == 2
    assert {r["asn"] for r in shown["top_asns"]} == {64501, 64521}
    assert {(r["country"], r["urls"]) for r in shown["urls_by_month_and_country"]} == {("MD", 2), ("NL", 1)}
    move = shown["left_home"]["moves"][0]
    for evidence in ("127.1.1.1", "127.3.1.1", "AS64521", "Nistru Hosting SRL", "Polder Hosting B.V.",
                     "GeoLite2-Country", "GeoLite2-ASN", f"confirmed by crawl {move['confirmed_crawl']}",
                     "Crawl 2 (", "the resolver did not answer"):
        assert evidence in page, evidence
    assert "This product includes GeoLite2 data created by MaxMind" in page
