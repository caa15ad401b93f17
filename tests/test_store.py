import sqlite3

import pytest
from sqlite_utils import Database

from monitor.errors import StoreError
from monitor.store import open_store, utcnow
from monitor.store.migrations import migrations


def test_new_database_gets_the_whole_schema_in_wal_mode(tmp_path):
    db = open_store(tmp_path / "sub" / "monitor.db")
    assert {"urls", "hosters", "crawls", "url_states", "host_states", "ip_states", "hoster_states",
            "rdap_networks", "sources", "workers"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {i.name for i in db["urls"].indexes} >= {"urls_hoster", "urls_reported_at"}
    assert migrations.pending(db) == []
    db.close()


def test_an_old_database_is_upgraded_in_place_keeping_its_data(tmp_path):
    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="m002_history")  # as the first release left it
    old.execute("INSERT INTO hosters (name, first_added) VALUES ('example.com', '2025-01-01T00:00:00Z')")
    old.execute(
        "INSERT INTO urls (url, host, hoster_id, added_at) VALUES ('http://example.com/', 'example.com', 1, 'x')"
    )
    old.conn.commit()
    assert "crawls" not in old.table_names()
    old.close()

    db = open_store(path)
    assert "crawls" in db.table_names()
    assert db.execute("SELECT url FROM urls").fetchall() == [("http://example.com/",)]
    assert [m.name for m in migrations.applied(db)] == [
        "m001_intake", "m002_history", "m003_resolution_caches", "m004_moves", "m005_views", "m006_rdap_network_lookup",
        "m007_retired_at", "m008_url_state_workers", "m009_whatwg_urls", "m010_takedowns",
        "m011_urls_by_host"]
    db.close()


def test_reopening_applies_nothing_twice(tmp_path):
    first = open_store(tmp_path / "m.db")
    applied = first["_sqlite_migrations"].count
    first.close()
    db = open_store(tmp_path / "m.db")
    assert applied >= 3
    assert db["_sqlite_migrations"].count == applied
    db.close()


def test_a_newer_database_is_refused(tmp_path):
    path = tmp_path / "newer.db"
    open_store(path).close()
    newer = Database(path)
    newer["_sqlite_migrations"].insert({"migration_set": "monitor", "name": "m099_future", "applied_at": "x"})
    newer.close()
    with pytest.raises(StoreError, match=r"newer.db \(config key `database`\): this database was written by a newer version of monitor"):
        open_store(path)


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are notes, not SQLite\n" * 100)
    with pytest.raises(StoreError, match="notes.db .*: not a monitor database or damaged"):
        open_store(path)


def test_read_only_commands_do_not_create_a_database(tmp_path):
    with pytest.raises(StoreError, match="no database yet"):
        open_store(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()


def test_urls_are_unique_in_the_schema_itself(db):
    db.execute("INSERT INTO hosters (name, first_added) VALUES ('a.com', 'x')")
    db.execute("INSERT INTO urls (url, host, hoster_id, added_at) VALUES ('http://a.com/', 'a.com', 1, 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO urls (url, host, hoster_id, added_at) VALUES ('http://a.com/', 'a.com', 1, 'y')")


def test_upgrade_dates_urls_retired_before_retired_at_existed(tmp_path):
    path = tmp_path / "m006.db"
    old = Database(path)
    migrations.apply(old, stop_before="m007_retired_at")
    old.execute("INSERT INTO hosters (name, first_added) VALUES ('a.com', 'x')")
    old.execute("INSERT INTO urls (url, host, hoster_id, added_at) VALUES ('http://a.com/1', 'a.com', 1, 'x')")
    old.execute("INSERT INTO urls (url, host, hoster_id, added_at, active) VALUES ('http://a.com/2', 'a.com', 1, 'x', 0)")
    old.conn.commit()
    old.close()
    before = utcnow()
    db = open_store(path)
    rows = dict(db.execute("SELECT url, retired_at FROM urls"))
    assert rows["http://a.com/1"] is None
    assert before <= rows["http://a.com/2"] <= utcnow()  # the upgrade: the latest it can have been
    db.close()


def test_active_and_retired_at_cannot_disagree(db):
    db.execute("INSERT INTO hosters (name, first_added) VALUES ('a.com', 'x')")
    db.execute("INSERT INTO urls (url, host, hoster_id, added_at) VALUES ('http://a.com/', 'a.com', 1, 'x')")
    for sql in ("UPDATE urls SET active = 0",  # retired without a date
                "UPDATE urls SET retired_at = '2026-12-01T00:00:00Z'"):  # a date while still active
        with pytest.raises(sqlite3.IntegrityError, match="active must be 0 exactly when retired_at is set"):
            db.execute(sql)
    db.execute("UPDATE urls SET active = 0, retired_at = '2026-12-01T00:00:00Z'")  # both together: fine
    assert db.execute("SELECT active, retired_at FROM urls").fetchall() == [(0, "2026-12-01T00:00:00Z")]
    with pytest.raises(sqlite3.IntegrityError, match="active must be 0"):
        db.execute("UPDATE urls SET active = 1")  # back, but still dated


def test_every_schema_step_is_registered_in_order():
    """A step written without its @migrations() decorator would never run (a merge once did that)."""
    import importlib

    module = importlib.import_module("monitor.store.migrations")  # the package's `migrations` is the set
    steps = sorted(name for name in vars(module) if name.startswith("m0"))
    assert [m.name for m in migrations._migrations] == steps
