"""monitor/store/caches.py: the Cymru and RDAP cache tables, read and written by named operations."""

from __future__ import annotations

import pytest

from monitor.errors import ReadOnlyDatabase
from monitor.store import open_reader, open_store
from monitor.store.caches import NetworkRow, PrefixRow, fresh_after, load_networks, load_prefixes, save

NOW = fresh_after(0)  # now, as the store writes times


def prefix(text: str, asn: int, fetched_at: str = NOW) -> PrefixRow:
    return PrefixRow(text, asn, f"AS{asn}", "arin", "US", fetched_at)


def network(name: str, start: str, end: str, fetched_at: str = NOW) -> NetworkRow:
    return NetworkRow("ripencc", f"{start} - {end}", name, None, start, end, "GB", ("abuse@example.net",), fetched_at)


def test_prefixes_round_trip_narrowest_and_fresh_only(db) -> None:
    save(db, prefixes=[prefix("8.0.0.0/9", 3356), prefix("8.8.8.0/24", 15169),
                       prefix("9.9.9.0/24", 19281, "2000-01-01T00:00:00Z")])
    found = load_prefixes(db, ["8.8.8.8", "8.8.8.9", "8.1.1.1", "9.9.9.9", "1.1.1.1"], max_age_days=7)
    assert sorted(row.prefix for row in found) == ["8.0.0.0/9", "8.8.8.0/24"]  # each once; the stale one not
    save(db, prefixes=[prefix("8.8.8.0/24", 64500)])  # asked again: the row is replaced
    (row,) = load_prefixes(db, ["8.8.8.8"], max_age_days=7)
    assert row.asn == 64500 and db["asn_prefixes"].count == 3


def test_networks_unchanged_move_fetched_at_changed_get_a_new_row(db) -> None:
    save(db, networks=[network("BT", "62.239.237.0", "62.239.237.255", "2026-01-01T00:00:00Z")])
    save(db, networks=[network("BT", "62.239.237.0", "62.239.237.255")])
    assert [(r["name"], r["fetched_at"]) for r in db["rdap_networks"].rows] == [("BT", NOW)]
    save(db, networks=[network("BT-RENAMED", "62.239.237.0", "62.239.237.255")])
    assert sorted(r["name"] for r in db["rdap_networks"].rows) == ["BT", "BT-RENAMED"]
    save(db, networks=[network("WIDE", "62.0.0.0", "62.255.255.255")])
    (row,) = load_networks(db, ["62.239.237.1"], max_age_days=30)
    assert (row.name in ("BT", "BT-RENAMED"), row.abuse_emails) == (True, ("abuse@example.net",))
    (wide,) = load_networks(db, ["62.1.1.1"], max_age_days=30)
    assert wide.name == "WIDE"


def test_saving_inside_the_callers_transaction_leaves_committing_to_it(db) -> None:
    db.execute("BEGIN")
    db.execute("INSERT INTO sources (name, build) VALUES ('x', 'y')")
    save(db, prefixes=[prefix("8.8.8.0/24", 15169)])
    db.conn.rollback()  # the caller changes its mind: the cache rows go with its transaction
    assert db["asn_prefixes"].count == 0
    save(db, prefixes=[prefix("8.8.8.0/24", 15169)])  # outside one: committed at once
    assert not db.conn.in_transaction and db["asn_prefixes"].count == 1


def test_a_read_only_database_is_the_stores_read_only_error(tmp_path) -> None:
    open_store(tmp_path / "m.db").close()
    reader = open_reader(tmp_path / "m.db")
    try:
        assert load_prefixes(reader, ["8.8.8.8"], max_age_days=7) == []
        with pytest.raises(ReadOnlyDatabase, match="read-only"):
            save(reader, prefixes=[prefix("8.8.8.0/24", 15169)])
    finally:
        reader.close()
