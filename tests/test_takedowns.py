"""Takedowns: removed or gone on confirm_after consecutive healthy crawls; no evidence is not
evidence of absence; a URL that comes back has reappeared."""

from __future__ import annotations

import json

import pytest

from monitor.config import Config, Moves
from monitor.store.history import URL_COLUMNS, IntervalWriter
from monitor.takedowns import refresh_takedowns, takedowns

NL, MD = ("NL",), ("MD",)


def states(*nights):
    """One state per crawl 1, 2, ...: (outcome, countries)."""
    return [(n, n, outcome, countries) for n, (outcome, countries) in enumerate(nights, 1)]


def found(nights, healthy=None, confirm_after=2):
    healthy = healthy or list(range(1, len(nights) + 1))
    return [(t.crawl, t.countries, t.reappeared_crawl, t.reappeared_countries)
            for t in takedowns(states(*nights), healthy, confirm_after)]


ONLINE, REMOVED, GONE = ("online", NL), ("removed", NL), ("unresolved", None)


def test_removed_on_two_healthy_crawls_is_a_takedown_dated_at_the_first():
    assert found([ONLINE, REMOVED, REMOVED]) == [(2, NL, None, None)]


def test_one_night_removed_is_not_a_takedown():
    assert found([ONLINE, REMOVED, ONLINE, REMOVED]) == []


def test_a_host_gone_counts_and_the_country_is_where_it_was_last_located():
    assert found([("online", MD), GONE, GONE]) == [(2, MD, None, None)]


@pytest.mark.parametrize("blind", [("unknown", None), ("unreachable", NL)])
def test_no_evidence_neither_counts_nor_breaks_the_run(blind):
    assert found([ONLINE, REMOVED, blind, REMOVED]) == [(2, NL, None, None)]
    assert found([ONLINE, REMOVED, blind, blind]) == []


def test_an_error_answer_breaks_the_run():
    assert found([ONLINE, REMOVED, ("http-error", NL), REMOVED]) == []


def test_a_degraded_crawl_counts_for_nothing():
    # Crawl 3 was degraded (not in the healthy list): its "removed" is not the second night.
    assert found([ONLINE, REMOVED, REMOVED, ONLINE], healthy=[1, 2, 4]) == []
    assert found([ONLINE, REMOVED, REMOVED, REMOVED], healthy=[1, 2, 4]) == [(2, NL, None, None)]


def test_a_url_that_comes_back_has_reappeared_and_may_go_again():
    assert found([ONLINE, REMOVED, REMOVED, ("online", MD), GONE, GONE, GONE]) == [
        (2, NL, 4, MD), (5, MD, None, None)]


def test_confirm_after_is_the_number_of_nights():
    assert found([REMOVED], confirm_after=1) == [(1, NL, None, None)]
    assert found([REMOVED, REMOVED], confirm_after=3) == []


# -- over the store -----------------------------------------------------------------------------


def crawl(db, n: int, degraded: str | None = None, mode: str = "head") -> int:
    return db.execute(
        "INSERT INTO crawls (started_at, finished_at, status, mode, degraded) VALUES (?, ?, 'complete', ?, ?)",
        [f"2026-03-{n:02d}T02:00:00Z", f"2026-03-{n:02d}T02:30:00Z", mode, degraded]).lastrowid


def night(db, writer, crawl_id, outcomes):
    writer.write(crawl_id, [(url_id, (outcome, None, None, None, None, json.dumps(countries) if countries else None,
                                      None, None)) for url_id, (outcome, countries) in outcomes.items()])


@pytest.fixture
def urls(db):
    db.execute("INSERT INTO hosters (name, first_added) VALUES ('a.test', '2026-03-01T00:00:00Z')")
    for n in (1, 2, 3):
        db.execute("INSERT INTO urls (url, host, hoster_id, added_at, reported_at) VALUES (?, 'a.test', 1, "
                   "'2026-03-01T00:00:00Z', '2026-02-27T00:00:00Z')", [f"http://a.test/{n}"])
    db.conn.commit()
    return db


def totals(db):
    from monitor.store.queries import totals as stored_totals

    return dict(stored_totals(db))


def test_refreshed_each_night_as_a_crawl_does_equals_a_refresh_from_scratch(urls):
    db = urls
    writer = IntervalWriter(db, "url_states", "url_id", URL_COLUMNS)
    config = Config(moves=Moves(confirm_after=2))
    script = [
        ({1: ONLINE, 2: ONLINE, 3: ONLINE}, None),
        ({1: REMOVED, 2: GONE, 3: ONLINE}, None),
        ({1: ("unknown", None), 2: ("unknown", None), 3: ("unknown", None)}, "resolver down"),
        ({1: REMOVED, 2: ONLINE, 3: ONLINE}, None),
        ({1: REMOVED, 2: GONE, 3: ONLINE}, None),
        ({1: ONLINE, 2: GONE, 3: ONLINE}, None),
    ]
    for n, (outcomes, degraded) in enumerate(script, 1):
        crawl_id = crawl(db, n, degraded)
        night(db, writer, crawl_id, outcomes)
        refresh_takedowns(db, config, current=crawl_id)
    nightly = db.execute("SELECT url_id, taken_down_crawl, reappeared_crawl, countries FROM takedowns "
                         "ORDER BY url_id, taken_down_crawl").fetchall()
    db.execute("DELETE FROM takedowns")
    db.execute("DELETE FROM meta")
    db.conn.commit()
    refresh_takedowns(db, config)
    assert db.execute("SELECT url_id, taken_down_crawl, reappeared_crawl, countries FROM takedowns "
                      "ORDER BY url_id, taken_down_crawl").fetchall() == nightly
    # URL 1: removed on 2, (3 degraded), 4: taken down on crawl 2, back online on 6. URL 2: gone on
    # 2, online on 4 (one night is no takedown), gone on 5 and 6: taken down on 5. URL 3: online.
    assert nightly == [(1, 2, 6, '["NL"]'), (2, 5, None, '["NL"]')]
    figures = totals(db)
    assert figures["taken down (and not back)"] == 1 and figures["reappeared after a takedown"] == 1
    assert figures["degraded crawls"] == 1
    assert figures["online at the last HTTP crawl"] == 2 and figures["the last HTTP crawl"] == 6


def test_online_comes_from_the_last_healthy_crawl_that_made_http_requests(urls):
    db = urls
    writer = IntervalWriter(db, "url_states", "url_id", URL_COLUMNS)
    night(db, writer, crawl(db, 1), {1: ONLINE, 2: ONLINE, 3: REMOVED})
    night(db, writer, crawl(db, 2, mode="dns-only"), {1: ("resolved", NL), 2: ("resolved", NL), 3: ("resolved", NL)})
    night(db, writer, crawl(db, 3, degraded="resolver down"), {1: ("unknown", None), 2: ("unknown", None)})
    db.conn.commit()
    figures = totals(db)
    assert (figures["online at the last HTTP crawl"], figures["the last HTTP crawl"]) == (2, 1)
