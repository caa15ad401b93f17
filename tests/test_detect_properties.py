"""Moves against a reference model: random sequences of nights (moves, flaps, gaps, relabels, CDN
periods, outages) give exactly the moves a plain night-by-night model gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from monitor.config import Config, Moves
from monitor.detect import list_moves, list_relabels, refresh_moves
from monitor.store.migrations import migrations
from scripted import GONE, script

HOME = "NL"
PLACES = {
    "nl": ("NL", 64501, "127.1.1.1"),
    "nl2": ("NL", 64502, "127.1.2.1"),  # another network at home: not a move
    "de": ("DE", 64511, "127.2.1.1"),
    "md": ("MD", 64521, "127.3.1.1"),
    "relabel": ("DE", 64501, "127.1.1.1"),  # nl's address, placed in DE by a newer database
    "cdn": ("US", 13335, "127.7.1.1"),
    "cdn2": ("DE", 13335, "127.7.2.1"),  # another edge: still behind a CDN
}
OUTAGE = "outage"  # a degraded crawl: what it saw counts for nothing
NIGHTS = st.lists(st.sampled_from([*PLACES, "gone", OUTAGE]), min_size=1, max_size=14)


def reference(nights: list[str], confirm_after: int) -> tuple[list[tuple], int]:
    """(kind, from, to) of each move, and the number of relabels, night by night."""

    def place(name):
        country, asn, ip = PLACES[name]
        return {"country": country, "ip": ip, "cdn": asn == 13335}

    def same(a, b):
        return (a["cdn"] and b["cdn"]) or (a["cdn"] == b["cdn"] and a["country"] == b["country"])

    def kind(old, new):
        if new["cdn"] and not old["cdn"]:
            return "masked"
        if old["cdn"] and not new["cdn"]:
            return "unmasked"
        if old["country"] == HOME and new["country"] != HOME:
            return "left-home"
        if new["country"] == HOME and old["country"] != HOME:
            return "came-home"
        return "abroad" if old["country"] != HOME and new["country"] != HOME else None

    found, relabels = [], 0
    confirmed, candidate, seen = None, None, 0
    for name in nights:
        if name in ("gone", OUTAGE):
            continue
        here = place(name)
        if confirmed is None or same(here, confirmed):
            confirmed, candidate, seen = here, None, 0
            continue
        seen = seen + 1 if candidate is not None and same(here, candidate) else 1
        candidate = here
        if seen < confirm_after:
            continue
        if here["ip"] == confirmed["ip"] and not (here["cdn"] or confirmed["cdn"]):
            relabels += 1
        elif (k := kind(confirmed, here)) is not None:
            found.append((k, [confirmed["country"]], [here["country"]]))
        confirmed, candidate, seen = here, None, 0
    return found, relabels


@settings(max_examples=150, deadline=None)
@given(nights=NIGHTS, confirm_after=st.integers(1, 3))
def test_moves_match_the_reference_model(nights, confirm_after):
    db = Database(memory=True)
    migrations.apply(db)
    script(db, {"h.test": [GONE if n in ("gone", OUTAGE) else PLACES[n] for n in nights]})
    for crawl_id, name in enumerate(nights, 1):
        if name == OUTAGE:
            db.execute("UPDATE crawls SET degraded = 'resolver down' WHERE id = ?", [crawl_id])
    db.conn.commit()
    refresh_moves(db, Config(home_country=HOME, moves=Moves(confirm_after=confirm_after)))
    moves, relabels = reference(nights, confirm_after)
    assert [(m["kind"], m["from_countries"], m["to_countries"]) for m in list_moves(db)] == moves
    assert len(list_relabels(db)) == relabels
