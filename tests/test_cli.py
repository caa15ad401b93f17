"""The commands through Click's runner, as a user types them."""

import json

import pytest
from click.testing import CliRunner

from monitor.cli import cli


@pytest.fixture
def reports(tmp_path):
    path = tmp_path / "reports.txt"
    path.write_text(
        "# two hosters, one private-suffix hoster, one bad line\n"
        "http://img.alpha.nl/a.jpg\nhttp://cdn.alpha.nl/b.jpg\nhttps://x.delta.blogspot.com/\n"
        "ftp://nope.example.com/\nhttp://img.alpha.nl/a.jpg#again\n"
    )
    return path


def test_import_reports_counts_and_rejected_lines(run, reports):
    result = run("import", str(reports))
    assert result.exit_code == 0
    assert result.stdout.strip() == "3 added, 1 already known, 1 rejected"
    assert result.stderr.strip() == f"rejected {reports}:5: scheme 'ftp' is not http or https: ftp://nope.example.com/"


def test_import_of_several_files_goes_on_past_one_that_cannot_be_read(run, reports, tmp_path):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02")
    result = run("import", str(binary), str(reports), str(tmp_path / "missing.txt"))
    assert result.exit_code == 0
    assert "total: 3 added, 1 already known, 1 rejected" in result.stdout
    assert "blob.bin: a binary file" in result.stderr
    assert "missing.txt: no such file" in result.stderr


def test_import_exits_1_when_nothing_could_be_read(run, tmp_path):
    result = run("import", str(tmp_path / "missing.txt"))
    assert result.exit_code == 1
    assert "nothing could be read" in result.stderr
    assert "Traceback" not in result.output


def test_add(run):
    result = run("add", "http://Example.com", "http://example.com/", "nonsense")
    assert result.exit_code == 0
    assert result.stdout.strip() == "1 added, 1 already known, 1 rejected"
    assert "argument:3: not a URL" in result.stderr


def test_add_with_reported_at_reference_and_source(run):
    result = run("add", "http://a.example.com/1", "http://b.example.com/2", "--reported-at", "2024-03-01T10:00:00+02:00",
                 "--reference", "R-7", "--source", "partner")
    assert result.exit_code == 0
    assert result.stdout.strip() == "2 added, 0 already known, 0 rejected"
    shown = json.loads(run("history", "http://b.example.com/2", "--format", "json").stdout)
    assert (shown["reported_at"], shown["reference"], shown["source"]) == ("2024-03-01T08:00:00Z", "R-7", "partner")
    run("add", "http://c.example.com/")
    assert json.loads(run("history", "http://c.example.com/", "--format", "json").stdout)["source"] == "command line"


@pytest.mark.parametrize("date", ["yesterday", "2024-02-30", ""])
def test_add_with_a_bad_reported_at_is_a_usage_error_and_adds_nothing(run, tmp_path, date):
    result = run("add", "http://a.example.com/1", "--reported-at", date)
    assert result.exit_code == 2
    assert f"Invalid value for '--reported-at': reported_at {date!r} is not a date" in result.stderr
    assert not (tmp_path / "monitor.db").exists()


def test_hosters_in_every_format(run, reports):
    run("import", str(reports))
    table = run("hosters").stdout
    assert table.splitlines()[0].split()[:3] == ["hoster", "urls", "active_urls"]
    assert "alpha.nl" in table and "delta.blogspot.com" in table
    rows = json.loads(run("hosters", "--format", "json").stdout)
    assert [(r["hoster"], r["urls"], r["status"]) for r in rows] == [
        ("alpha.nl", 2, "not crawled"),
        ("delta.blogspot.com", 1, "not crawled"),
    ]
    csv_lines = run("hosters", "--format", "csv").stdout.splitlines()
    assert csv_lines[0].startswith("hoster,urls,active_urls")
    assert csv_lines[1].startswith("alpha.nl,2,2,")
    assert json.loads(run("hosters", "--country", "NL", "--format", "json").stdout) == []


def test_stats(run, reports, tmp_path):
    run("import", str(reports))
    totals = {r["what"]: r["count"] for r in json.loads(run("stats", "--format", "json").stdout)}
    assert totals == {"reported URLs": 3, "active URLs": 3, "retired URLs": 0, "online at the last HTTP crawl": 0,
                      "the last HTTP crawl": None, "taken down (and not back)": 0, "reappeared after a takedown": 0,
                      "hosters": 2, "crawls": 0, "degraded crawls": 0, "moves": 0}
    by_country = json.loads(run("stats", "--by", "country", "--format", "json").stdout)
    month = by_country[0]["month"]
    assert by_country == [{"month": month, "country": "unknown", "urls": 3, "online": 0, "taken_down": 0,
                           "reappeared": 0, "avg_days_to_takedown": None, "attribution": None}]
    csv_file = tmp_path / "dated.csv"
    csv_file.write_text("url,reported_at\nhttp://old.example.com/,2021-06-15\n")
    run("import", str(csv_file))
    months = run("stats", "--by", "month", "--format", "csv").stdout.splitlines()
    assert months[0] == "month,urls,online,taken_down,reappeared,avg_days_to_takedown"
    assert months[1] == "2021-06,1,0,0,0,"


def test_history_accepts_any_spelling_and_shows_the_stored_url(run, reports):
    run("import", str(reports))
    result = run("history", "HTTP://IMG.Alpha.nl:80/a.jpg#frag", "--format", "json")
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["url"] == "http://img.alpha.nl/a.jpg"
    assert shown["hoster"] == "alpha.nl"
    assert shown["source"] == "reports.txt"
    assert shown["periods"] == []
    table = run("history", "http://img.alpha.nl/a.jpg").stdout
    assert "url: http://img.alpha.nl/a.jpg" in table and "no crawl has seen it yet" in table


def test_history_of_an_unknown_url_is_a_clear_error(run, reports):
    run("import", str(reports))
    result = run("history", "http://never.example.com/")
    assert result.exit_code == 1
    assert "http://never.example.com/: not a reported URL" in result.stderr
    assert "Traceback" not in result.output


def test_listing_before_any_import_says_what_to_do(run):
    result = run("hosters")
    assert result.exit_code == 1
    assert "no database yet" in result.stderr


def test_usage_errors_exit_2(run):
    assert run("stats", "--by", "planet").exit_code == 2
    assert run("hosters", "--format", "xml").exit_code == 2
    assert run("import").exit_code == 2


@pytest.mark.parametrize("command", ["import", "add", "retire", "hosters", "stats", "history"])
def test_every_command_is_documented(command):
    from click.testing import CliRunner

    help_text = CliRunner().invoke(cli, [command, "--help"]).stdout
    assert len(help_text.split("\n\n")[1].strip()) > 20
    readme = (__import__("pathlib").Path(__file__).parent.parent / "README.md").read_text()
    assert f"monitor {command}" in readme


def test_config_is_accepted_before_or_after_the_command(tmp_path, config_file, monkeypatch, reports):
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path / "..")  # no ./config.yaml here
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(reports), "--config", str(config_file)]).exit_code == 0
    after = runner.invoke(cli, ["hosters", "--format", "json", "--config", str(config_file)])
    before = runner.invoke(cli, ["--config", str(config_file), "hosters", "--format", "json"])
    assert after.exit_code == 0 and after.stdout == before.stdout
    assert [h["hoster"] for h in json.loads(after.stdout)] == ["alpha.nl", "delta.blogspot.com"]


def test_version_and_help_show_every_summary_whole():
    from importlib.metadata import version

    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).stdout.strip() == f"monitor, version {version('monitor')}"
    help_text = " ".join(runner.invoke(cli, ["--help"]).stdout.split())
    for name, command in cli.commands.items():
        summary = " ".join(command.help.split("\n\n")[0].split())
        assert summary in help_text, name  # whole, not cut with "..."


@pytest.mark.parametrize("args, header", [
    (["hosters", "--country", "DE"], "hoster,urls,active_urls,retired_urls,first_added,status,countries,asns"),
    (["stats", "--by", "country"], "month,country,urls,online,taken_down,reappeared,avg_days_to_takedown"),
    (["moves"], "hoster,kind,from_countries,to_countries,from_asns,to_asns,last_seen_before,first_seen_after,"
                "confirmed_at,urls,destination_has_hotline"),
    (["moves", "--relabels"], "hoster,ips,from_countries,to_countries,first_seen_after,confirmed_at"),
    (["history", "http://img.alpha.nl/a.jpg"], "start,end,outcome,http_status,final_url,connected_ip,countries,asns"),
    (["timeline", "alpha.nl"], "start,end,status,countries,asns,as_orgs,ips,cdn,crawls,first_crawl,last_crawl"),
])
def test_empty_csv_output_still_has_its_header(run, reports, args, header):
    run("add", "not-a-url" if args[0] == "stats" else "http://img.alpha.nl/a.jpg")  # stats: an empty store
    result = run(*args, "--format", "csv")
    assert result.exit_code == 0
    # Listings that can show a country or ASN always have the attribution column, filled or not.
    assert result.stdout == header + ",attribution\n"


def test_country_options_take_any_case_and_refuse_what_is_no_country(run, reports):
    run("import", str(reports))
    assert run("hosters", "--country", "nl").exit_code == 0
    for args in (["hosters", "--country", "Holland"], ["moves", "--from", "xx"], ["moves", "--to", "NLD"]):
        result = run(*args)
        assert result.exit_code == 2
        assert f"'{args[-1]}' is not an ISO 3166-1 alpha-2 country code (e.g. NL, DE, US)" in result.stderr


def test_timeline_output_rules(run, reports, tmp_path):
    run("import", str(reports))
    table_to_file = run("timeline", "alpha.nl", "--output", str(tmp_path / "t.txt"))
    assert table_to_file.exit_code == 2 and "--output goes with --format png, svg, csv or json" in table_to_file.stderr
    assert run("timeline", "alpha.nl", "--format", "png").exit_code == 2  # a chart needs somewhere to go
    to_stdout = run("timeline", "alpha.nl", "--format", "json", "--output", "-")
    assert json.loads(to_stdout.stdout)["hoster"] == "alpha.nl"
    to_file = run("timeline", "alpha.nl", "--format", "csv", "--output", str(tmp_path / "t.csv"))
    assert to_file.exit_code == 0 and (tmp_path / "t.csv").read_text().startswith("start,end,status")
    svg = run("timeline", "alpha.nl", "--format", "svg", "--output", "-")
    assert svg.exit_code == 0 and svg.stdout.startswith("<?xml")
