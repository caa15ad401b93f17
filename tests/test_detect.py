"""Moves, relabels and timelines from scripted histories: one hoster's location night by night,
written through the same interval writer a crawl uses."""

from __future__ import annotations

import pytest

from monitor.config import Config, Moves
from monitor.detect import list_moves, list_relabels, refresh_moves, timeline
from monitor.errors import NotFound
from scripted import CA, CDN, DE, GONE, MD, NL, NL2, RU, V6, script

def moves_of(db, confirm_after: int = 2, **filters):
    """Derive the moves as a crawl's end does, then list them."""
    from monitor.detect import MoveFilter
    refresh_moves(db, Config(moves=Moves(confirm_after=confirm_after)))
    return list_moves(db, MoveFilter(**filters))


@pytest.mark.parametrize("before, after, kind", [
    (NL, MD, "left-home"),
    (MD, NL, "came-home"),
    (MD, RU, "abroad"),
    (NL, CDN, "masked"),
    (CDN, RU, "unmasked"),
])
def test_each_kind(db, before, after, kind):
    script(db, {"h.test": [before, before, after, after, after]})
    (move,) = moves_of(db)
    assert move["kind"] == kind
    assert move["hoster"] == "h.test"
    assert (move["from_countries"], move["to_countries"]) == ([before[0]], [after[0]])
    assert (move["from_asns"], move["to_asns"]) == ([before[1]], [after[1]])
    assert move["last_seen_before"] == "2026-03-02T02:30:00Z"
    assert move["first_seen_after"] == "2026-03-03T02:00:00Z"
    assert move["confirmed_at"] == "2026-03-04T02:00:00Z"  # the start of the second night at the new place
    assert move["urls"] == 1


def test_a_one_night_flap_is_not_a_move(db):
    script(db, {"flap.test": [NL, NL, MD, NL, NL]})
    assert moves_of(db) == []
    assert [p["countries"] for p in timeline(db, "flap.test")["periods"]] == [["NL"], ["MD"], ["NL"]]


def test_a_degraded_crawl_confirms_no_move(db):
    script(db, {"h.test": [NL, NL, MD, MD, NL]})
    db.execute("UPDATE crawls SET degraded = 'resolver down' WHERE id = 4")
    db.conn.commit()
    assert moves_of(db) == []  # MD was seen on one healthy crawl only
    db.execute("UPDATE crawls SET degraded = NULL WHERE id = 4")
    db.execute("DELETE FROM meta")  # derive again from scratch
    db.conn.commit()
    assert [(m["kind"], m["confirmed_at"]) for m in moves_of(db)] == [("left-home", "2026-03-04T02:00:00Z")]


def test_confirm_after_is_a_setting(db):
    script(db, {"h.test": [NL, MD, MD, NL]})
    assert [m["kind"] for m in moves_of(db, confirm_after=2)] == ["left-home"]
    assert [m["kind"] for m in moves_of(db, confirm_after=3)] == []
    assert [m["kind"] for m in moves_of(db, confirm_after=1)] == ["left-home", "came-home"]


def test_a_gap_then_a_new_country_is_a_move_across_the_gap(db):
    script(db, {"gap.test": [NL, NL, GONE, GONE, MD, GONE, MD]})
    (move,) = moves_of(db)
    assert move["kind"] == "left-home"
    assert move["last_seen_before"] == "2026-03-02T02:30:00Z"
    assert move["first_seen_after"] == "2026-03-05T02:00:00Z"
    assert move["confirmed_at"] == "2026-03-07T02:00:00Z"  # unresolved nights do not count
    periods = timeline(db, "gap.test")["periods"]
    assert [(p["status"], p["countries"], p["start"], p["end"]) for p in periods] == [
        ("located", ["NL"], "2026-03-01T02:00:00Z", "2026-03-02T02:30:00Z"),
        ("unresolved", [], "2026-03-03T02:00:00Z", "2026-03-04T02:30:00Z"),
        ("located", ["MD"], "2026-03-05T02:00:00Z", "2026-03-05T02:30:00Z"),
        ("unresolved", [], "2026-03-06T02:00:00Z", "2026-03-06T02:30:00Z"),
        ("located", ["MD"], "2026-03-07T02:00:00Z", "2026-03-07T02:30:00Z"),
    ]


def test_gone_and_back_at_the_same_place_is_not_a_move(db):
    script(db, {"h.test": [NL, GONE, GONE, NL, NL]})
    assert moves_of(db) == []


def test_a_round_robin_set_that_loses_the_home_country(db):
    script(db, {"rr.test": [[NL, DE], [NL, DE], [DE], [DE]]})
    (move,) = moves_of(db)
    assert (move["kind"], move["from_countries"], move["to_countries"]) == ("left-home", ["DE", "NL"], ["DE"])
    assert move["from_asns"] == [64501, 64511]


def test_gaining_a_second_country_while_staying_home_is_not_a_move(db):
    script(db, {"h.test": [NL, NL, [NL, DE], [NL, DE]]})
    assert moves_of(db) == []


def test_behind_a_cdn_and_back(db):
    script(db, {"cf.test": [NL, NL, CDN, CDN, NL, NL]})
    assert [(m["kind"], m["to_countries"], m["destination_has_hotline"]) for m in moves_of(db)] == [
        ("masked", ["US"], None), ("unmasked", ["NL"], True)]


def test_an_asn_change_in_the_same_country_is_a_new_period_not_a_move(db):
    script(db, {"h.test": [NL, NL, NL2, NL2]})
    assert moves_of(db) == []
    assert [p["asns"] for p in timeline(db, "h.test")["periods"]] == [[64501], [64502]]


def test_a_relabel_is_reported_apart_from_moves(db):
    script(db, {"rl.test": [NL, NL, ("DE", 64501, "127.1.1.1"), ("DE", 64501, "127.1.1.1")]})
    assert moves_of(db) == []
    (relabel,) = refresh_moves(db, Config()) or list_relabels(db)
    assert (relabel["hoster"], relabel["ips"], relabel["from_countries"], relabel["to_countries"]) == (
        "rl.test", ["127.1.1.1"], ["NL"], ["DE"])


def test_ipv6_only_hosts(db):
    script(db, {"v6.test": [NL, NL, V6, V6]})
    (move,) = moves_of(db)
    assert (move["kind"], move["to_countries"]) == ("left-home", ["SC"])
    assert timeline(db, "v6.test")["periods"][-1]["ips"] == ["2001:db8::5"]


@pytest.mark.parametrize("to, has", [(CA, False), (DE, True), (MD, None)])
def test_destination_has_hotline(db, to, has):
    """Canada's only hotline left INHOPE in 2020: false, not unknown; Moldova is not in the data: null."""
    script(db, {"h.test": [NL, NL, to, to]})
    assert moves_of(db)[0]["destination_has_hotline"] is has


def test_filters(db):
    script(db, {"a.test": [NL, NL, MD, MD], "b.test": [MD, MD, RU, RU, RU, NL, NL], "c.test": [NL, CDN, CDN]})
    assert {m["hoster"] for m in moves_of(db)} == {"a.test", "b.test", "c.test"}
    assert [m["hoster"] for m in moves_of(db, kind="abroad")] == ["b.test"]
    assert [m["hoster"] for m in moves_of(db, from_country="NL")] == ["c.test", "a.test"]  # by confirmation
    assert [m["kind"] for m in moves_of(db, to_country="NL")] == ["came-home"]
    assert [m["kind"] for m in moves_of(db, hoster="http://img.b.test/1.jpg")] == ["abroad", "came-home"]
    assert moves_of(db, since="2026-03-05") == [m for m in moves_of(db) if m["confirmed_at"] >= "2026-03-05"]
    assert len(moves_of(db, since="2026-03-05")) == 1


def test_moves_follow_new_crawls_and_a_changed_setting(db):
    script(db, {"h.test": [NL, NL, MD]})
    assert moves_of(db) == []
    crawl = db.execute("INSERT INTO crawls (started_at, finished_at, status, mode) "
                       "VALUES ('2026-03-04T02:00:00Z', '2026-03-04T02:30:00Z', 'complete', 'head')").lastrowid
    db.execute("UPDATE hoster_states SET last_crawl = ? WHERE last_crawl = ?", [crawl, crawl - 1])
    db.conn.commit()
    assert [m["kind"] for m in moves_of(db)] == ["left-home"]
    assert moves_of(db, confirm_after=3) == []


def test_unknown_hoster_is_an_error(db):
    script(db, {"h.test": [NL]})
    with pytest.raises(NotFound, match="nope.test: no reported URL has this hoster"):
        timeline(db, "nope.test")


def test_a_failed_crawl_confirms_nothing(db):
    """A crawl that failed wrote no state; the interval spans it, but it is not a night seen."""
    script(db, {"h.test": [NL, NL, MD, MD, MD]})
    db.execute("UPDATE crawls SET status = 'failed' WHERE id = 4")
    db.conn.commit()
    (move,) = moves_of(db)
    assert move["confirmed_at"] == "2026-03-05T02:00:00Z"  # night 4 failed: night 5 is the second at MD
    assert moves_of(db, confirm_after=3) == []
    assert [p["crawls"] for p in timeline(db, "h.test")["periods"]] == [2, 2]


def test_a_refresh_during_a_crawl_does_not_mark_it_done(db):
    """A reader listing moves while a crawl has written only part of its states must not mark the
    crawl done: the crawl's own refresh, once all are written, must still see the rest."""
    script(db, {"a.test": [NL, MD, MD], "b.test": [NL, MD, MD]})
    b = db.execute("SELECT id FROM hosters WHERE name = 'b.test'").fetchone()[0]
    db.execute("UPDATE crawls SET status = 'running' WHERE id = 3")
    db.execute("UPDATE hoster_states SET last_crawl = 2 WHERE hoster_id = ? AND last_crawl = 3", [b])  # not yet
    db.conn.commit()
    assert [m["hoster"] for m in moves_of(db)] == ["a.test"]  # a refresh, mid-crawl
    db.execute("UPDATE hoster_states SET last_crawl = 3 WHERE hoster_id = ? AND last_crawl = 2", [b])
    db.conn.commit()
    refresh_moves(db, Config(), current=3)  # the crawl's own refresh, all states written
    assert [m["hoster"] for m in moves_of(db)] == ["a.test", "b.test"]
