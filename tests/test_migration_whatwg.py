"""m009_whatwg_urls: stored URLs spelled again by the WHATWG URL standard, duplicates merged,
refused URLs kept, and no history lost."""

from __future__ import annotations

import json

import pytest
from sqlite_utils import Database

from monitor.store import open_store
from monitor.store.migrations import migrations

T = "2026-01-0{}T01:00:00Z"

# (id, url as the regex parser stored it, host, hoster, active) before m009.
OLD_URLS = [
    (1, "http://evil.example\\@good.example/x", "good.example", "good.example", 1),  # a browser: evil.example
    (2, "http://img.example.com/ä", "img.example.com", "example.com", 0),  # retired
    (3, "http://img.example.com/%C3%A4", "img.example.com", "example.com", 1),  # = 2
    (4, "http://img.example.com/a/../%C3%A4", "img.example.com", "example.com", 1),  # = 2
    (5, "http://0x7f.0.0.0x1/", "0x7f.0.0.0x1", "0.0x1", 1),  # a DNS name to the regex parser
    (6, "http://127.0.0.1/", "127.0.0.1", "127.0.0.1", 0),  # = 5
    (7, "http://xn--a.example.com/", "xn--a.example.com", "example.com", 1),  # invalid punycode: refused
    (8, "http://example.org/ok", "example.org", "example.org", 1),  # as it was
]

# (url id, first crawl, last crawl, outcome) as the crawls of 1..6 wrote them.
OLD_STATES = [
    (2, 1, 3, "online"),  # 2 was retired after crawl 3
    (3, 2, 6, "removed"),  # overlaps 2 in crawls 2..3: those crawls stay 2's, 4..6 come over
    (4, 5, 6, "http-error"),  # overlaps what 2 has by then: kept aside only
    (5, 1, 2, "unresolved"),
    (6, 4, 6, "online"),  # no overlap with 5: moves over whole
    (7, 1, 6, "unresolved"),
    (8, 1, 6, "online"),
]


@pytest.fixture
def old_store(tmp_path):
    """A database as the release before m009 left it: URLs as the regex parser stored them, and
    what crawls 1..6 saw of them."""
    path = tmp_path / "monitor.db"
    db = Database(path)
    migrations.apply(db, stop_before="m009_whatwg_urls")
    for n in range(1, 7):
        db.execute("INSERT INTO crawls (id, started_at, status, mode) VALUES (?, ?, 'complete', 'head')",
                   [n, T.format(n)])
    hosters: dict[str, int] = {}
    for url_id, url, host, hoster, active in OLD_URLS:
        if hoster not in hosters:
            hosters[hoster] = db.execute("INSERT INTO hosters (name, first_added) VALUES (?, ?)",
                                         [hoster, T.format(1)]).lastrowid
        db.execute("INSERT INTO urls (id, url, host, hoster_id, source, reference, added_at, active, retired_at)"
                   " VALUES (?, ?, ?, ?, 'reports.txt', ?, ?, ?, ?)",
                   [url_id, url, host, hosters[hoster], f"R-{url_id}", T.format(1), active,
                    None if active else T.format(3)])
    for url_id, first, last, outcome in OLD_STATES:
        db.execute("INSERT INTO url_states (url_id, first_crawl, last_crawl, outcome, countries)"
                   " VALUES (?, ?, ?, ?, ?)", [url_id, first, last, outcome, json.dumps([f"C{url_id}"])])
    db.conn.commit()
    db.close()
    return path


def test_urls_are_respelled_merged_and_refused_ones_kept(old_store):
    db = open_store(old_store)
    urls = {row[0]: row[1:] for row in db.execute(
        "SELECT u.id, u.url, u.host, h.name, u.active, u.retired_at, u.reference"
        " FROM urls u JOIN hosters h ON h.id = u.hoster_id")}
    assert urls == {
        1: ("http://evil.example/@good.example/x", "evil.example", "evil.example", 1, None, "R-1"),
        2: ("http://img.example.com/%C3%A4", "img.example.com", "example.com", 1, None, "R-2"),  # 3, 4 were active
        5: ("http://127.0.0.1/", "127.0.0.1", "127.0.0.1", 1, None, "R-5"),
        7: ("http://xn--a.example.com/", "xn--a.example.com", "example.com", 1, None, "R-7"),
        8: ("http://example.org/ok", "example.org", "example.org", 1, None, "R-8"),
    }
    assert db.execute("SELECT url_id, reason FROM url_refusals").fetchall() == [
        (7, "host 'xn--a.example.com': 'xn--a' is not the punycode of a valid international name")]
    # Every old spelling, with what it was counted under and its report's fields.
    aliases = {row[0]: row[1:] for row in db.execute(
        "SELECT alias, url_id, old_id, reason, old_host, old_hoster, reference, active FROM url_aliases")}
    assert aliases == {
        "http://evil.example\\@good.example/x": (1, 1, "respelled", "good.example", "good.example", "R-1", 1),
        "http://img.example.com/ä": (2, 2, "respelled", "img.example.com", "example.com", "R-2", 0),
        "http://img.example.com/%C3%A4": (2, 3, "merged", "img.example.com", "example.com", "R-3", 1),
        "http://img.example.com/a/../%C3%A4": (2, 4, "merged", "img.example.com", "example.com", "R-4", 1),
        "http://0x7f.0.0.0x1/": (5, 5, "respelled", "0x7f.0.0.0x1", "0.0x1", "R-5", 1),
        "http://127.0.0.1/": (5, 6, "merged", "127.0.0.1", "127.0.0.1", "R-6", 0),
    }
    assert json.loads(db.execute("SELECT value FROM meta WHERE key = 'm009_whatwg_urls'").fetchone()[0]) == {
        "respelled": 3, "merged": 3, "refused": 1}
    # The hoster the URL was wrongly counted under keeps its row (and any history).
    assert db.execute("SELECT COUNT(*) FROM hosters WHERE name IN ('good.example', '0.0x1')").fetchone()[0] == 2
    db.close()


def test_merged_states_keep_one_state_per_crawl_and_lose_nothing(old_store):
    db = open_store(old_store)
    states = db.execute("SELECT url_id, first_crawl, last_crawl, outcome, countries FROM url_states"
                        " ORDER BY url_id, first_crawl").fetchall()
    by_url: dict[int, list] = {}
    for url_id, first, last, outcome, countries in states:
        by_url.setdefault(url_id, []).append((first, last, outcome, json.loads(countries)))
    assert by_url == {
        2: [(1, 3, "online", ["C2"]),  # its own
            (4, 6, "removed", ["C3"])],  # 3's crawls that 2 did not see, trimmed from 3's 2..6
        5: [(1, 2, "unresolved", ["C5"]), (4, 6, "online", ["C6"])],  # 6's, moved whole
        7: [(1, 6, "unresolved", ["C7"])],
        8: [(1, 6, "online", ["C8"])],
    }
    # The rows that overlapped, as they were, beside the URL they were merged into.
    archived = db.execute("SELECT url_id, first_crawl, last_crawl, outcome, merged_into FROM url_states_merged"
                          " ORDER BY url_id").fetchall()
    assert archived == [(3, 2, 6, "removed", 2), (4, 5, 6, "http-error", 2)]
    # The views see one state per URL: no URL counted twice.
    now = db.execute("SELECT url_id, outcome FROM url_now ORDER BY url_id").fetchall()
    assert now == [(1, None), (2, "removed"), (5, "online"), (7, "unresolved"), (8, "online")]
    db.close()


def test_a_crawl_gap_is_not_invented(old_store):
    """A trimmed piece ends on crawls that exist (here crawl 5 is gone), or is left out when none."""
    db = Database(old_store)
    db.execute("DELETE FROM crawls WHERE id = 5")
    db.execute("UPDATE url_states SET last_crawl = 4 WHERE url_id = 2")  # 2: crawls 1..4
    db.conn.commit()
    db.close()
    db = open_store(old_store)
    assert db.execute("SELECT first_crawl, last_crawl, outcome FROM url_states WHERE url_id = 2"
                      " ORDER BY first_crawl").fetchall() == [(1, 4, "online"), (6, 6, "removed")]
    db.close()


def test_every_old_spelling_still_finds_its_url(old_store, run):
    open_store(old_store).close()
    for spelling in ["http://img.example.com/ä", "http://img.example.com/a/../%C3%A4",
                     "HTTP://IMG.example.com:80/%C3%A4#top"]:
        shown = json.loads(run("history", spelling, "--format", "json").stdout)
        assert shown["url"] == "http://img.example.com/%C3%A4"
        assert shown["aliases"] == ["http://img.example.com/a/../%C3%A4", "http://img.example.com/ä"]
    # A refused URL is found by its stored spelling, says why, and can be retired by it.
    refused = run("history", "http://xn--a.example.com/", "--format", "json")
    assert refused.exit_code == 0, refused.output
    shown = json.loads(refused.stdout)
    assert shown["refused"].endswith("is not the punycode of a valid international name")
    assert [p["outcome"] for p in shown["periods"]] == ["unresolved"]
    assert run("retire", "http://xn--a.example.com/").stdout.strip() == "1 retired, 0 already retired, 0 unknown"
    # The URL is now evil.example's, and good.example has no URL left.
    assert json.loads(run("history", "http://evil.example\\@good.example/x", "--format", "json").stdout)[
        "hoster"] == "evil.example"
    assert "good.example" not in run("hosters").stdout


def test_rows_of_a_later_table_follow_their_merged_url(old_store):
    """A table another migration adds that points at urls (say a note per URL) is not left pointing
    at a URL that is gone."""
    db = Database(old_store)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, url_id INTEGER REFERENCES urls(id), note TEXT)")
    db.execute("INSERT INTO notes (url_id, note) VALUES (4, 'seen by partner'), (8, 'fine')")
    db.conn.commit()
    db.close()
    db = open_store(old_store)
    assert db.execute("SELECT url_id, note FROM notes ORDER BY id").fetchall() == [(2, "seen by partner"), (8, "fine")]
    db.close()


def test_a_reader_shows_a_database_not_yet_upgraded_as_it_is(old_store, run):
    result = run("history", "http://example.org/ok", "--format", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["url"], shown["aliases"], shown["refused"]) == ("http://example.org/ok", [], None)
    assert "m009_whatwg_urls" in [m.name for m in migrations.pending(Database(old_store))]
