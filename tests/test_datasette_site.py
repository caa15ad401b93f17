"""monitor.report.datasette_site without a server: how cells read, which notices the footer
carries for which databases, where a timeline request for a host or URL is sent, and the
has_hotline SQL function the moves-by-destination query calls."""

from __future__ import annotations

import sqlite3

import pytest

from monitor.report.datasette_site import LICENSORS, attributions, cell, timeline_redirect
from monitor.store.queries import register_functions

TIMELINE = "/monitor/timeline"

DBIP, GEOLITE2, GEOIP2, IPINFO = (licensor.notice for licensor in LICENSORS)


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


@pytest.mark.parametrize("sources, notices", [
    ([("DBIP-Country-Lite", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
      ("DBIP-ASN-Lite (compat=GeoLite2-ASN)", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")],
     [(DBIP, ("DBIP-Country-Lite 2026-03-01", "DBIP-ASN-Lite 2026-02-01 to 2026-03-01"))]),
    ([("GeoLite2-ASN", "2026-03-03T10:00:00Z", "2026-03-03T10:00:00Z"),
      ("GeoLite2-Country", "2026-03-03T10:00:00Z", "2026-03-03T10:00:00Z")],
     [(GEOLITE2, ("GeoLite2-ASN 2026-03-03", "GeoLite2-Country 2026-03-03"))]),
    ([("ipinfo bundle_location_lite.mmdb", "2026-03-04T00:00:00Z", "2026-03-04T00:00:00Z"),
      ("GeoIP2-City", "2026-03-02T00:00:00Z", "2026-03-02T00:00:00Z")],
     [(GEOIP2, ("GeoIP2-City 2026-03-02",)), (IPINFO, ("ipinfo bundle_location_lite.mmdb 2026-03-04",))]),
    ([("team-cymru-dns", "", ""), ("rdap", "arin", "ripencc")], []),  # services ask for no notice
    ([("Example-Country", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")],
     [(None, ("Example-Country 2026-01-01",))]),  # named, though no notice is known for it
    ([], []),
])
def test_the_footer_credits_each_licensor_of_the_recorded_databases(sources, notices):
    assert [(a.notice, a.databases) for a in attributions(sources)] == notices


def test_the_notices_say_what_the_licences_ask():
    assert '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>' in DBIP and "licenses/by/4.0/" in DBIP
    assert GEOLITE2 == ('This product includes GeoLite2 data created by MaxMind, available from '
                        '<a href="https://www.maxmind.com">https://www.maxmind.com</a>.')
    assert '<a href="https://ipinfo.io">IP address data powered by IPinfo</a>' in IPINFO
    assert "licenses/by-sa/4.0/" in IPINFO


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
