"""moves and timeline through the command line, and the chart."""

from __future__ import annotations

import json

import pytest

from scripted import CDN, GONE, MD, NL, script


@pytest.fixture
def scripted(run, tmp_path):
    from monitor.store import open_store

    db = open_store(tmp_path / "monitor.db")
    script(db, {"alpha.test": [NL, NL, GONE, MD, MD, CDN, CDN], "beta.test": [NL, MD, NL, NL]})
    db.close()
    assert run("refresh").stdout.strip() == "2 moves and 0 relabels (home_country NL, confirm_after 2)"
    return run


def test_listings_never_derive_moves_but_say_when_they_are_behind(run, tmp_path, config_file):
    from monitor.store import open_store

    db = open_store(tmp_path / "monitor.db")
    script(db, {"alpha.test": [NL, MD, MD]})  # states written, as by a crawl that died before its end
    db.close()
    listed = run("moves", "--format", "json")
    assert json.loads(listed.stdout) == []
    assert "note: the moves have not been derived yet; run `monitor refresh`" in listed.stderr
    assert run("refresh").exit_code == 0
    listed = run("moves", "--format", "json")
    assert [m["kind"] for m in json.loads(listed.stdout)] == ["left-home"] and listed.stderr == ""
    config_file.write_text(config_file.read_text().replace("home_country: NL", "home_country: md"))
    listed = run("moves", "--format", "json")
    assert [m["kind"] for m in json.loads(listed.stdout)] == ["left-home"]  # as stored
    assert "derived with home_country NL and confirm_after 2; the config says MD and 2" in listed.stderr
    assert run("refresh").exit_code == 0
    assert [m["kind"] for m in json.loads(run("moves", "--format", "json").stdout)] == ["came-home"]


def test_moves_json_has_the_designs_fields(scripted):
    shown = json.loads(scripted("moves", "--format", "json").stdout)
    assert [(m["hoster"], m["kind"]) for m in shown] == [("alpha.test", "left-home"), ("alpha.test", "masked")]
    assert set(shown[0]) >= {"hoster", "kind", "from_countries", "to_countries", "from_asns", "to_asns",
                             "last_seen_before", "first_seen_after", "confirmed_at", "urls",
                             "destination_has_hotline"}
    assert shown[0]["destination_has_hotline"] is None  # Moldova: not in the hotline data


def test_moves_filters_and_formats(scripted):
    assert scripted("moves", "--kind", "masked", "--format", "csv").stdout.splitlines()[1].startswith(
        "alpha.test,masked,MD,US,")
    assert json.loads(scripted("moves", "--since", "2026-03-07", "--format", "json").stdout)[0]["kind"] == "masked"
    assert scripted("moves", "--to", "ru").stdout.strip() == "(none)"
    assert scripted("moves", "--kind", "teleported").exit_code == 2


def test_timeline_json_and_unknown_hoster(scripted):
    shown = json.loads(scripted("timeline", "img.alpha.test", "--format", "json").stdout)
    assert shown["hoster"] == "alpha.test"
    assert [(p["status"], p["countries"]) for p in shown["periods"]] == [
        ("located", ["NL"]), ("unresolved", []), ("located", ["MD"]), ("located", ["US"])]
    assert set(shown["periods"][0]) >= {"start", "end", "status", "countries", "asns", "as_orgs", "ips"}
    missing = scripted("timeline", "nowhere.test")
    assert missing.exit_code == 1 and "nowhere.test: no reported URL has this hoster" in missing.stderr


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_timeline_chart(scripted, tmp_path, fmt, magic):
    output = tmp_path / f"alpha.{fmt}"
    result = scripted("timeline", "alpha.test", "--format", fmt, "--output", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(magic)
    if fmt == "svg":
        text = output.read_text()
        assert "left home: NL → MD, 4 Mar" in text  # each move labelled
        assert "unresolved" in text
    else:
        from PIL import Image

        with Image.open(output) as image:
            assert image.size[0] == 1200


def test_chart_needs_an_output(scripted):
    assert scripted("timeline", "alpha.test", "--format", "png").exit_code == 2


def test_chart_of_a_hoster_never_resolved_and_a_missing_folder(run, tmp_path):
    from monitor.store import open_store

    db = open_store(tmp_path / "monitor.db")
    script(db, {"gone.test": [GONE, GONE]})
    db.close()
    chart = tmp_path / "gone.png"
    assert run("timeline", "gone.test", "--format", "png", "--output", str(chart)).exit_code == 0
    assert chart.read_bytes().startswith(b"\x89PNG")
    missing = run("timeline", "gone.test", "--format", "svg", "--output", str(tmp_path / "no" / "x.svg"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_moves_say_how_many_crawls_were_degraded(scripted, tmp_path):
    from monitor.store import open_store

    db = open_store(tmp_path / "monitor.db")
    db.execute("UPDATE crawls SET degraded = 'the resolver did not answer' WHERE id IN (2, 6)")
    db.conn.commit()
    db.close()
    assert ("note: 2 crawl(s) could not see and confirm no move: 2 (2026-03-02: the resolver did not answer), "
            "6 (2026-03-06: the resolver did not answer)") in scripted("moves").stderr
    assert "note: 1 crawl(s) since 2026-03-05 could not see" in scripted("moves", "--since", "2026-03-05").stderr
