"""The attribution the geolocation databases' licences require, from the builds recorded, on
every listing that shows a country or ASN."""

from __future__ import annotations

import csv
import io
import json

import pytest
from scripted import DBIP, MD, NL, script

from monitor.report.attribution import attributions, for_store

DBIP_TEXT = "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0"
GEOLITE_TEXT = ("This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com, "
                "licensed under CC BY-SA 4.0")
IPINFO_TEXT = "IP address data powered by IPinfo (https://ipinfo.io), licensed under CC BY-SA 4.0"


@pytest.mark.parametrize("names, texts", [
    (["DBIP-Country-Lite", "DBIP-ASN-Lite (compat=GeoLite2-ASN)"], [DBIP_TEXT]),  # one credit for both files
    (["GeoLite2-Country", "GeoLite2-ASN"], [GEOLITE_TEXT]),
    (["ipinfo lite.mmdb"], [IPINFO_TEXT]),
    (["GeoLite2-ASN", "DBIP-Country-Lite"], [DBIP_TEXT, GEOLITE_TEXT]),  # a store that changed database
    (["networks.csv", "rdap"], []),  # not geolocation: nothing to credit
])
def test_each_database_gets_its_licences_words(names, texts):
    assert [a.text for a in attributions((n, "2026-11-01T00:00:00Z") for n in names)] == texts


def test_html_links_the_licensor_and_the_licence_and_names_the_builds():
    (dbip,) = attributions([("DBIP-Country-Lite", "2026-11-01T03:00:00Z")])
    assert dbip.html == ('<a href="https://db-ip.com">IP Geolocation by DB-IP</a>, licensed under '
                         '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>')
    assert dbip.databases == ("DBIP-Country-Lite (2026-11-01)",)
    (geolite,) = attributions([("GeoLite2-City", "")])
    assert '<a href="https://www.maxmind.com">https://www.maxmind.com</a>' in geolite.html
    assert '<a href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA 4.0</a>' in geolite.html


def test_a_database_we_do_not_know_is_credited_by_its_name_not_dropped():
    (other,) = attributions([("Acme-GeoIP<2>", "")])
    assert other.text == "IP data from Acme-GeoIP<2>"
    assert other.html == "IP data from Acme-GeoIP&lt;2&gt;"  # escaped, and no empty link


def test_the_store_credits_what_its_crawls_recorded(db):
    assert for_store(db) == []
    script(db, {"alpha.test": [NL, MD, MD]}, sources=DBIP)
    assert [a.text for a in for_store(db)] == [DBIP_TEXT]
    # A value's own source (ip_states -> sources) counts even where no crawl listed it.
    source = db.execute("INSERT INTO sources (name, build) VALUES ('GeoLite2-ASN', '2026-01-01')").lastrowid
    db.execute("INSERT INTO ip_states (ip, first_crawl, last_crawl, asn, asn_source) "
               "VALUES ('127.1.1.1', 1, 1, 64501, ?)", [source])
    db.conn.commit()
    assert [a.text for a in for_store(db)] == [DBIP_TEXT, GEOLITE_TEXT]


@pytest.fixture
def located(run, tmp_path):
    from monitor.store import open_store

    store = open_store(tmp_path / "monitor.db")
    script(store, {"alpha.test": [NL, MD, MD]}, sources=DBIP)
    # What the crawl saw for the URL itself, which `stats` counts.
    store.execute("INSERT INTO url_states (url_id, first_crawl, last_crawl, outcome, countries, asns) "
                  "VALUES (1, 1, 3, 'online', '[\"MD\"]', '[64521]')")
    store.conn.commit()
    store.close()
    assert run("refresh").exit_code == 0
    return run


@pytest.mark.parametrize("args", [["moves"], ["hosters"], ["stats", "--by", "country"], ["stats", "--by", "asn"],
                                  ["timeline", "alpha.test"]])
def test_tables_end_with_the_attribution(located, args):
    out = located(*args).stdout.rstrip("\n").splitlines()
    assert out[-1] == f"Sources: {DBIP_TEXT}"
    assert out[-2] == ""


@pytest.mark.parametrize("args", [["moves"], ["hosters"], ["stats", "--by", "country"], ["timeline", "alpha.test"]])
def test_csv_carries_it_in_a_column_every_reader_takes(located, args):
    rows = list(csv.DictReader(io.StringIO(located(*args, "--format", "csv").stdout)))
    assert rows and all(row["attribution"] == DBIP_TEXT for row in rows)


def test_list_shaped_json_keeps_its_shape_and_each_row_carries_the_credit(located):
    moves = json.loads(located("moves", "--format", "json").stdout)
    assert isinstance(moves, list) and moves[0]["kind"] == "left-home"
    assert moves[0]["attribution"] == DBIP_TEXT
    hosters = json.loads(located("hosters", "--format", "json").stdout)
    assert hosters[0]["attribution"] == DBIP_TEXT


def test_object_json_gets_an_attribution_list(located):
    shown = json.loads(located("timeline", "alpha.test", "--format", "json").stdout)
    assert [a["text"] for a in shown["attribution"]] == [DBIP_TEXT]
    assert shown["attribution"][0]["licence_url"] == "https://creativecommons.org/licenses/by/4.0/"


def test_listings_that_show_no_place_carry_no_credit(located):
    assert "Sources:" not in located("stats").stdout  # totals
    assert "attribution" not in located("stats", "--by", "month", "--format", "csv").stdout.splitlines()[0]
    assert "Sources:" not in located("moves", "--kind", "came-home").stdout  # (none)

