"""monitor.report.datasette_site without a server: how cells read, which credits the footer
carries for which databases (monitor.report.attribution's, kept until the store changes), where a
timeline request for a host or URL is sent, and the has_hotline SQL function the
moves-by-destination query calls."""

from __future__ import annotations

import json
import sqlite3

import pytest
from scripted import DBIP, MD, NL, script

from monitor.report.attribution import for_store
from monitor.report.datasette_site import cell, credits, timeline_redirect
from monitor.store import open_store
from monitor.store.history import source_id
from monitor.store.queries import register_functions

TIMELINE = "/monitor/timeline"


@pytest.mark.parametrize("value, column, table, shown", [
    ('["NL"]', "countries", None, "NL Netherlands"),
    ('["DE", "MD"]', "to_countries", "moves", "DE Germany<br>MD Moldova"),
    ("NL", "country", "ip_states", "NL Netherlands"),
    ("CD", "registry_country", "asn_prefixes", "CD Congo, The Democratic Republic of the"),
    ("unknown", "country", None, None),  # a row label, not a code: left alone
    ("XX", "country", None, None),  # not a country the list knows
    ("[64501, 64502]", "asns", None, "64501<br>64502"),
    ('["127.1.1.1"]', "ips", None, "127.1.1.1"),
    ('["Amazon.com, Inc.", "<b>"]', "as_orgs", None, "Amazon.com, Inc.<br>&lt;b&gt;"),  # escaped, one a line
    ("[]", "countries", None, '<span class="none">none</span>'),
    ('[{"name": "DBIP-Country-Lite"}]', "sources", "crawls", None),  # objects stay JSON
    ('{"head": 3}', "counts", "crawls", None),
    ("[not json", "detail", "url_states", None),
    (1, "cdn", None, "yes"),
    (0, "cdn", "hoster_states", "no"),
    ("Cloudflare", "cdn", "ip_states", None),  # ip_states.cdn names the operator
    (1, "active", "urls", "yes"),
    (0, "destination_has_hotline", "moves", "no"),
    (None, "destination_has_hotline", "moves", "unknown"),
    (64501, "asn", "ip_states", None),
    (None, "countries", None, None),
    ("2026-03-04T02:00:00Z", "confirmed_at", None,
     '<time datetime="2026-03-04T02:00:00Z"><span>2026-03-04</span> <span>02:00:00 UTC</span></time>'),
    ("2026-03-04", "month", None, None),
])
def test_cells_read_as_an_analyst_reads_them(value, column, table, shown):
    assert cell(value, column, table, TIMELINE) == shown


@pytest.mark.parametrize("value, column, table, href", [
    ("alpha.test", "hoster", None, "/monitor/timeline?hoster=alpha.test"),
    ("2001:db8::5", "hoster", None, "/monitor/timeline?hoster=2001%3Adb8%3A%3A5"),
    ("beta.test", "name", "hosters", "/monitor/timeline?hoster=beta.test"),
    ("img.beta.test", "host", "urls", "/monitor/timeline?hoster=img.beta.test"),
])
def test_hosters_and_hosts_link_to_the_timeline(value, column, table, href):
    assert cell(value, column, table, TIMELINE) == f'<a href="{href}">{value}</a>'


def test_a_hoster_name_is_escaped_in_its_link():
    assert cell('a"b<c', "hoster", None, TIMELINE) == '<a href="/monitor/timeline?hoster=a%22b%3Cc">a&#34;b&lt;c</a>'


@pytest.mark.parametrize("value", ["http://img.alpha.test/1.jpg", " HTTPS://x.test/a?b=1"])
def test_reported_urls_are_text_never_links(value):
    # Datasette would link any http(s) value; these point at abuse material.
    assert cell(value, "url", "urls", TIMELINE) == value.replace("&", "&amp;")


def test_a_name_column_elsewhere_is_not_a_hoster():
    assert cell("ExampleNet", "name", "rdap_networks", TIMELINE) is None


GEOLITE2 = [{"name": "GeoLite2-Country", "build": "2026-03-03T10:00:00Z"},
            {"name": "GeoLite2-ASN", "build": "2026-03-03T10:00:00Z"}]


def test_the_footer_credits_are_the_stores_own_and_follow_its_new_databases(tmp_path):
    db = open_store(tmp_path / "monitor.db")
    assert credits(db.conn, "a") == []
    script(db, {"alpha.test": [NL, MD, MD]}, sources=DBIP)
    shown = credits(db.conn, "a")
    # One place for each licensor's words: what the CLI, the report and the charts credit.
    assert shown == for_store(db) and [a.provider for a in shown] == ["DB-IP"]
    assert shown[0].databases == ("DBIP-ASN-Lite (compat=GeoLite2-ASN) (2026-02-01)", "DBIP-Country-Lite (2026-02-01)")
    # A later crawl with GeoLite2: the footer credits both, at once (the mark moved on).
    crawl = db.execute("INSERT INTO crawls (started_at, finished_at, status, mode, sources) VALUES "
                       "('2026-03-04T02:00:00Z', '2026-03-04T02:30:00Z', 'complete', 'head', ?)",
                       [json.dumps(GEOLITE2)]).lastrowid
    db.conn.commit()
    assert [a.provider for a in credits(db.conn, "a")] == ["DB-IP", "MaxMind"]
    # So does an IP state placed by a database no crawl listed.
    source = source_id(db, "ipinfo lite.mmdb", "2026-03-05")
    db.execute("INSERT INTO ip_states (ip, first_crawl, last_crawl, country, country_source) "
               "VALUES ('127.3.1.9', ?, ?, 'MD', ?)", [crawl, crawl, source])
    db.conn.commit()
    assert [a.provider for a in credits(db.conn, "a")] == ["DB-IP", "MaxMind", "IPinfo"] == \
        [a.provider for a in for_store(db)]
    assert [a.provider for a in credits(db.conn, "b")] == ["DB-IP", "MaxMind", "IPinfo"]  # kept per database
    db.close()


@pytest.mark.parametrize("path, query, location", [
    ("/monitor/timeline", b"hoster=img.alpha.test", "/monitor/timeline?hoster=alpha.test"),
    ("/monitor/timeline.json", b"hoster=http%3A%2F%2FIMG.alpha.test%2F1.jpg&_shape=array",
     "/monitor/timeline.json?hoster=alpha.test&_shape=array"),
    ("/monitor/timeline", b"hoster=%5B2001%3Adb8%3A%3A0005%5D", "/monitor/timeline?hoster=2001%3Adb8%3A%3A5"),
    ("/monitor/timeline", b"hoster=x.delta.blogspot.com", "/monitor/timeline?hoster=delta.blogspot.com"),
    ("/monitor/timeline", b"hoster=alpha.test", None),  # already the hoster's name
    ("/monitor/timeline", b"hoster=", None),  # the empty form
    ("/monitor/timeline", b"hoster=not+a+host%21", None),  # nothing to normalise: finds nothing
    ("/monitor/moves_since", b"hoster=img.alpha.test", None),  # other queries are left alone
    ("/other/timeline", b"hoster=img.alpha.test", None),  # not a database served
])
def test_a_timeline_for_a_host_or_url_is_sent_to_the_hoster(path, query, location):
    assert timeline_redirect(path, query, ["monitor"]) == location


@pytest.mark.parametrize("country, on, answer", [
    ("DE", "2026-03-04T02:00:00Z", 1),
    ("CA", "2026-03-04", 0),  # left INHOPE in 2020 (data/hotlines.csv)
    ("ZZ", "2026-03-04", None),
    ("behind a CDN", "2026-03-04", None),
    ("DE", None, None),
    ("DE", "not a date", None),
])
def test_has_hotline_in_sql(country, on, answer):
    conn = sqlite3.connect(":memory:")
    register_functions(conn)
    assert conn.execute("SELECT has_hotline(?, ?)", [country, on]).fetchone()[0] == answer
