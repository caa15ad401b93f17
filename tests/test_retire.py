"""`monitor retire`: URLs leave the nightly crawl, keep their history, and come back with --undo."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.sim.world import World
from monitor.store import open_store

ALPHA = ["http://img.alpha.nl/a.jpg", "http://cdn.alpha.nl/b.jpg"]
DELTA = "https://x.delta.blogspot.com/"


@pytest.fixture
def added(run):
    assert run("add", *ALPHA, DELTA).exit_code == 0
    return run


@pytest.fixture
def store(tmp_path):
    """Read the database the CLI writes (config.yaml of conftest: monitor.db in tmp_path)."""
    def rows():
        db = open_store(tmp_path / "monitor.db")
        try:
            return {url: (active, retired_at) for url, active, retired_at in
                    db.execute("SELECT url, active, retired_at FROM urls")}
        finally:
            db.close()

    return rows


def test_urls_in_any_spelling_are_retired_and_brought_back(added, store):
    result = added("retire", "HTTP://IMG.Alpha.nl:80/a.jpg#x", "http://never.example.com/", "ftp://x.example.com/")
    assert result.exit_code == 0
    assert result.stdout.strip() == "1 retired, 0 already retired, 2 unknown"
    assert result.stderr.splitlines() == [
        "unknown argument:2: not a reported URL: http://never.example.com/",
        "unknown argument:3: scheme 'ftp' is not http or https: ftp://x.example.com/",
    ]
    active, retired_at = store()[ALPHA[0]]
    assert active == 0 and retired_at.endswith("Z")
    assert store()[ALPHA[1]] == (1, None)

    again = added("retire", ALPHA[0], ALPHA[1])
    assert again.stdout.strip() == "1 retired, 1 already retired, 0 unknown"
    assert store()[ALPHA[0]][1] == retired_at  # retiring again keeps the first date

    back = added("retire", "--undo", "http://img.alpha.nl/a.jpg", DELTA)
    assert back.exit_code == 0
    assert back.stdout.strip() == "1 brought back, 1 already active, 0 unknown"
    assert store()[ALPHA[0]] == (1, None)


def test_retired_urls_are_shown_apart_by_hosters_stats_and_history(added):
    added("retire", ALPHA[0])
    hosters = {r["hoster"]: r for r in json.loads(added("hosters", "--format", "json").stdout)}
    assert (hosters["alpha.nl"]["urls"], hosters["alpha.nl"]["active_urls"], hosters["alpha.nl"]["retired_urls"]) \
        == (2, 1, 1)
    assert hosters["delta.blogspot.com"]["retired_urls"] == 0
    assert added("hosters", "--format", "csv").stdout.splitlines()[0].startswith("hoster,urls,active_urls,retired_urls,")
    totals = {r["what"]: r["count"] for r in json.loads(added("stats", "--format", "json").stdout)}
    assert (totals["reported URLs"], totals["active URLs"], totals["retired URLs"]) == (3, 2, 1)
    shown = json.loads(added("history", ALPHA[0], "--format", "json").stdout)
    assert shown["active"] is False and shown["retired_at"].endswith("Z")
    # the grouped figures still count every reported URL, retired or not
    assert json.loads(added("stats", "--by", "month", "--format", "json").stdout)[0]["urls"] == 3


def test_a_retired_url_no_longer_counts_as_online(added, tmp_path):
    """Its last state predates its retirement: the last crawl did not see it online."""
    db = open_store(tmp_path / "monitor.db")
    crawl = db.execute("INSERT INTO crawls (started_at, finished_at, status, mode) "
                       "VALUES ('2026-03-01T02:00:00Z', '2026-03-01T02:30:00Z', 'complete', 'head')").lastrowid
    db.conn.executemany("INSERT INTO url_states (url_id, first_crawl, last_crawl, outcome, http_status) "
                        "VALUES (?, ?, ?, 'online', 200)", [(i, crawl, crawl) for (i,) in db.execute("SELECT id FROM urls")])
    db.conn.commit()
    db.close()

    def online() -> tuple[int, dict[str, tuple[int, int]]]:
        totals = {r["what"]: r["count"] for r in json.loads(added("stats", "--format", "json").stdout)}
        by_hoster = json.loads(added("stats", "--by", "hoster", "--format", "json").stdout)
        return totals["online at the last HTTP crawl"], {r["hoster"]: (r["urls"], r["online"]) for r in by_hoster}

    assert online() == (3, {"alpha.nl": (2, 2), "delta.blogspot.com": (1, 1)})
    added("retire", ALPHA[0])
    assert online() == (2, {"alpha.nl": (2, 1), "delta.blogspot.com": (1, 1)})


def test_a_file_is_read_as_import_reads_it_and_unknown_lines_are_named(added, store, tmp_path):
    path = tmp_path / "done.txt"
    path.write_text("# taken down for good\n\nhttp://IMG.alpha.nl/a.jpg\nhttp://unknown.example.com/\nnot a url\n")
    result = added("retire", "--file", str(path))
    assert result.exit_code == 0
    assert result.stdout.strip() == "1 retired, 0 already retired, 2 unknown"
    assert result.stderr.splitlines() == [
        f"unknown {path}:4: not a reported URL: http://unknown.example.com/",
        f"unknown {path}:5: not a URL: contains white space or control characters: not a url",
    ]
    assert store()[ALPHA[0]][0] == 0

    sheet = tmp_path / "done.csv"  # a spreadsheet's export, the url among other columns
    sheet.write_text('reference;url\nR-1;"http://cdn.alpha.nl/b.jpg"\n')
    assert added("retire", "--file", str(sheet), "--undo").stdout.strip() == "0 brought back, 1 already active, 0 unknown"
    assert added("retire", "--file", str(sheet)).stdout.strip() == "1 retired, 0 already retired, 0 unknown"
    assert store()[ALPHA[1]][0] == 0


def test_a_file_that_cannot_be_read_changes_nothing(added, store, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(ALPHA[0].encode() + b"\nhttp://caf\xe9.example.com/\n")
    result = added("retire", "--file", str(path))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: line 2: not UTF-8 text (invalid continuation byte); "
        "save the file as UTF-8 and run the command again; nothing from it was used")
    assert store()[ALPHA[0]] == (1, None)  # line 1 was retired inside the transaction, then rolled back
    missing = added("retire", "--file", str(tmp_path / "missing.txt"))
    assert missing.exit_code == 1 and "missing.txt: no such file" in missing.stderr


@pytest.mark.parametrize("named", ["alpha.nl", "img.alpha.nl", "http://cdn.alpha.nl/other.jpg"])
def test_a_hoster_named_by_itself_a_host_or_a_url(added, store, named):
    added("retire", ALPHA[1])
    result = added("retire", "--hoster", named)
    assert result.exit_code == 0
    assert result.stdout.strip() == "alpha.nl: 1 retired, 1 already retired, 0 unknown"
    assert [store()[url][0] for url in (*ALPHA, DELTA)] == [0, 0, 1]
    back = added("retire", "--hoster", named, "--undo")
    assert back.stdout.strip() == "alpha.nl: 2 brought back, 0 already active, 0 unknown"
    assert [store()[url] for url in ALPHA] == [(1, None), (1, None)]


def test_an_unknown_hoster_is_a_one_line_error(added, store):
    for named, message in [
        ("beta.example.org", "Error: example.org: no reported URL has this hoster (see `monitor hosters`)"),
        ("not a host", "Error: not a host: not a hoster, host or URL ('not a host' is not a host name or IP address)"),
    ]:
        result = added("retire", "--hoster", named)
        assert result.exit_code == 1
        assert result.stderr.strip() == message
    assert all(active for active, _ in store().values())


@pytest.mark.parametrize("args", [[], ["--undo"], [ALPHA[0], "--hoster", "alpha.nl"], ["--file", "x.txt", ALPHA[0]]])
def test_one_of_urls_file_or_hoster(added, args):
    result = added("retire", *args)
    assert result.exit_code == 2
    assert "give URLs, --file FILE or --hoster HOSTER: one of the three" in result.stderr


def test_retire_before_any_database_says_what_to_do(run, tmp_path):
    result = run("retire", ALPHA[0])
    assert result.exit_code == 1 and "no database yet" in result.stderr
    assert not (tmp_path / "monitor.db").exists()


def test_importing_a_retired_url_again_leaves_it_retired(added, store, tmp_path):
    added("retire", ALPHA[0])
    path = tmp_path / "again.txt"
    path.write_text(ALPHA[0] + "\n")
    assert added("import", str(path)).stdout.strip() == "0 added, 1 already known, 0 rejected"
    assert store()[ALPHA[0]][0] == 0


def spans(path, table: str, key: str) -> dict[str, str]:
    """first-last crawl of each state in `table`, per host or hoster name (`key`)."""
    joins = {"url_states": "JOIN urls t ON t.id = s.url_id", "hoster_states": "JOIN hosters h ON h.id = s.hoster_id"}
    db = open_store(path)
    try:
        return dict(db.execute(f"SELECT {key}, group_concat(s.first_crawl || '-' || s.last_crawl) "
                               f"FROM {table} s {joins[table]} GROUP BY {key}"))
    finally:
        db.close()


def test_the_crawl_skips_retired_urls_and_keeps_their_history(tmp_path):
    database = tmp_path / "monitor.db"
    with World(tmp_path / "world") as world:
        world.place("img.alpha.test", "nl")
        world.place("www.beta.test", "de")
        config = world.write_config(tmp_path / "config.yaml", database)

        def monitor(*args: str) -> str:
            result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.stdout

        monitor("add", "http://img.alpha.test/1.jpg", "http://www.beta.test/")
        assert monitor("crawl", "--dns-only").startswith("crawl 1 (dns-only) complete: 2 URLs")
        assert monitor("retire", "--hoster", "beta.test") == "beta.test: 1 retired, 0 already retired, 0 unknown\n"
        assert monitor("crawl", "--dns-only").startswith("crawl 2 (dns-only) complete: 1 URLs")
        # Crawl 2 did not look at beta's URL or hoster: their states still end at crawl 1, kept.
        assert spans(database, "url_states", "t.host") == {"img.alpha.test": "1-2", "www.beta.test": "1-1"}
        assert spans(database, "hoster_states", "h.name") == {"alpha.test": "1-2", "beta.test": "1-1"}
        assert len(json.loads(monitor("history", "http://www.beta.test/", "--format", "json"))["periods"]) == 1

        monitor("retire", "--undo", "http://WWW.beta.test")
        assert monitor("crawl", "--dns-only").startswith("crawl 3 (dns-only) complete: 2 URLs")
        # Seen as before, so the state stretches over the nights it sat out, as over any gap.
        assert spans(database, "url_states", "t.host")["www.beta.test"] == "1-3"
