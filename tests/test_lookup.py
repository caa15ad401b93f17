"""`monitor lookup` end to end: a loopback DNS server (hosts and Team Cymru's zone), MaxMind's test
databases or simulated ones, and a loopback RDAP server serving ipwhois's recorded answers."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import monitor.data
from monitor.cli import cli
from monitor.config import DNS, Config, GeoIP, load_file
from monitor.errors import DatabaseFileError
from monitor.resolve import enrich
from monitor.sim.cymru import publish_origin
from monitor.sim.dns import DNSServer
from monitor.sim.mmdb import write_asn_db
from monitor.sim.rdap import RDAPServer, load_recorded
from monitor.store import open_reader, open_store

DATA = Path(__file__).parent / "data"
MAXMIND = DATA / "maxmind"
RECORDED = load_recorded(DATA / "ipwhois" / "rdap.json")
RIPE_IP = "62.239.237.1"  # BT, recorded from RIPE NCC
RIPE_RAW = RECORDED[RIPE_IP]


@pytest.fixture
def world(tmp_path):
    with DNSServer() as dns, RDAPServer(RECORDED) as rdap:
        dns.set_a("img.alpha.test", ["81.2.69.160"])        # GB in MaxMind's test data
        dns.set_aaaa("img.alpha.test", ["2001:218::1"])     # JP in MaxMind's test data
        dns.set_cname("www.alpha.test", "cdn.alpha.test")
        dns.set_cname("cdn.alpha.test", "img.alpha.test")
        dns.set_a("edge.beta.test", ["127.0.0.9"])
        dns.set_nxdomain("gone.gamma.test")
        publish_origin(dns, RIPE_IP, asn=2856, prefix="62.239.0.0/16", country="GB", registry="ripencc",
                       as_name="BT-UK-AS BTnet UK Regional network, GB")
        config = tmp_path / "config.yaml"
        servers = "\n".join(f"    {r}: {rdap.base_url}" for r in ("arin", "ripencc", "apnic", "lacnic", "afrinic"))
        config.write_text(
            f"database: monitor.db\n"
            f"dns:\n  nameservers: [127.0.0.1]\n  port: {dns.port}\n  timeout: 1\n"
            f"geoip:\n  country_db: {MAXMIND / 'GeoLite2-Country-Test.mmdb'}\n"
            f"  asn_db: {MAXMIND / 'GeoLite2-ASN-Test.mmdb'}\n"
            f"rdap:\n  servers:\n{servers}\n  rate_limits: {{ripencc: 6000, arin: 6000}}\n"
        )
        yield dns, rdap, config


def lookup(config: Path, query: str, fmt: str = "json"):
    return CliRunner().invoke(cli, ["--config", str(config), "lookup", query, "--format", fmt])


def test_a_host_through_a_cname_chain_with_maxmind_test_databases(world):
    dns, rdap, config = world
    result = lookup(config, "WWW.Alpha.test")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["query"] == "WWW.Alpha.test"
    assert shown["dns"] == {"status": "ok", "cname_chain": ["cdn.alpha.test", "img.alpha.test"], "detail": None}
    by_ip = {a["ip"]: a for a in shown["addresses"]}
    assert set(by_ip) == {"81.2.69.160", "2001:218::1"}
    assert by_ip["81.2.69.160"]["country"] == "GB"
    assert by_ip["2001:218::1"]["country"] == "JP"
    assert by_ip["81.2.69.160"]["sources"]["country"]["name"] == "GeoLite2-Country"
    assert by_ip["81.2.69.160"]["sources"]["country"]["build"].startswith("20")
    assert by_ip["81.2.69.160"]["cdn"] is False
    # Not in Cymru's zone here, nor among the recorded RDAP answers: recorded states, not errors.
    assert by_ip["81.2.69.160"]["registry_country"] is None
    assert by_ip["81.2.69.160"]["rdap"] is None
    assert by_ip["81.2.69.160"]["rdap_status"] == "not-found"
    assert set(by_ip["81.2.69.160"]["sources"]) == {"country"}  # no ASN, RDAP network or edge known


def test_a_public_address_through_cymru_and_rdap(world):
    dns, rdap, config = world
    result = lookup(config, RIPE_IP)
    assert result.exit_code == 0, result.output
    (address,) = json.loads(result.stdout)["addresses"]
    assert (address["asn"], address["prefix"], address["registry_country"]) == (2856, "62.239.0.0/16", "GB")
    assert address["as_org"] == "BT-UK-AS BTnet UK Regional network, GB"
    assert address["sources"]["asn"]["name"] == "team-cymru-dns"
    assert address["sources"]["rdap"] == {"name": "rdap", "build": "ripencc"}
    raw = RIPE_RAW
    assert address["rdap"]["handle"] == raw["handle"]
    assert address["rdap"]["name"] == raw["name"]
    assert address["rdap"]["country"] == raw["country"]
    assert dns.query_count > 0 and rdap.request_count == 1


def test_the_second_lookup_asks_no_server(world):
    dns, rdap, config = world
    assert lookup(config, RIPE_IP).exit_code == 0
    dns.reset_log()
    rdap.reset_log()
    again = lookup(config, RIPE_IP)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["addresses"][0]["rdap"]["handle"] == RIPE_RAW["handle"]
    assert rdap.request_count == 0
    assert dns.query_count == 0  # an IP literal needs no DNS; Cymru comes from the prefix cache


def test_an_address_in_an_edge_network_is_marked(world, tmp_path):
    dns, rdap, config = world
    asn_db = write_asn_db(tmp_path / "asn.mmdb", {"127.0.0.0/24": (13335, "CLOUDFLARENET")})
    config.write_text(config.read_text().replace(str(MAXMIND / "GeoLite2-ASN-Test.mmdb"), str(asn_db)))
    (address,) = json.loads(lookup(config, "edge.beta.test").stdout)["addresses"]
    assert (address["asn"], address["cdn"], address["cdn_operator"]) == (13335, True, "Cloudflare")
    assert address["sources"]["cdn"]["name"] == "networks.csv"
    # its build is the date data/SOURCES.md gives for the shipped table
    assert address["sources"]["cdn"]["build"] in (Path(monitor.data.__file__).parent / "SOURCES.md").read_text()
    assert "rdap" not in address["sources"]
    assert address["rdap_status"] == "not-applicable"  # loopback: no registry is asked
    assert rdap.request_count == 0


def test_a_failed_resolution_is_a_state(world):
    dns, rdap, config = world
    shown = json.loads(lookup(config, "gone.gamma.test").stdout)
    assert shown["dns"]["status"] == "nxdomain"
    assert shown["addresses"] == []


def test_the_table_format(world):
    result = lookup(world[2], "www.alpha.test", "table")
    assert result.exit_code == 0
    assert "DNS ok via cdn.alpha.test -> img.alpha.test" in result.stdout
    assert "81.2.69.160" in result.stdout and "GB" in result.stdout


def test_a_missing_database_names_the_key_and_the_file(world, tmp_path):
    dns, rdap, config = world
    config.write_text(config.read_text().replace(str(MAXMIND / "GeoLite2-Country-Test.mmdb"), "nope.mmdb"))
    result = lookup(config, "www.alpha.test")
    assert result.exit_code == 1
    assert "geoip.country_db" in result.stderr and "nope.mmdb" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_a_broken_database_is_one_clear_error(world):
    dns, rdap, config = world
    broken = MAXMIND / "GeoIP2-City-Test-Invalid-Node-Count.mmdb"
    config.write_text(config.read_text().replace(str(MAXMIND / "GeoLite2-Country-Test.mmdb"), str(broken)))
    result = lookup(config, "www.alpha.test")
    assert result.exit_code == 1
    assert broken.name in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_not_a_host(world):
    result = lookup(world[2], "exa mple")
    assert result.exit_code == 1
    assert "not a host name, IP address or URL" in result.stderr


# -- the enricher's resources -------------------------------------------------------------------


def _enricher_config():
    return Config(
        geoip=GeoIP(country_db=MAXMIND / "GeoLite2-Country-Test.mmdb", asn_db=MAXMIND / "GeoLite2-ASN-Test.mmdb"),
        dns=DNS(nameservers=("127.0.0.1",), port=9, timeout=0.1),
    )


@pytest.fixture
def opened(monkeypatch):
    """Every reader and client the enricher opens, in order."""
    parts: list = []

    def recording(make):
        def wrapper(*args, **kwargs):
            parts.append(make(*args, **kwargs))
            return parts[-1]
        return wrapper

    for name in ("open_country_db", "open_asn_db", "CymruClient", "RdapClient"):
        monkeypatch.setattr(enrich, name, recording(getattr(enrich, name)))
    return parts


def _all_closed(parts) -> bool:
    return all((part.closed if hasattr(part, "closed") else part._closed) for part in parts)


def test_the_enricher_closes_everything_it_opened(db, opened):
    enricher = enrich.Enricher(_enricher_config(), db)
    assert len(opened) == 4 and not any(_all_closed([part]) for part in opened)
    enricher.close()
    assert _all_closed(opened)
    enricher.close()  # a second close does nothing


def test_a_part_failing_closes_the_parts_opened_before_it(db, opened, monkeypatch):
    def broken_networks():
        raise DatabaseFileError("networks.csv: line 2: not an ASN")

    monkeypatch.setattr(enrich, "load_networks", broken_networks)
    with pytest.raises(DatabaseFileError, match="networks.csv"):
        enrich.Enricher(_enricher_config(), db)
    assert len(opened) == 4 and _all_closed(opened)


# -- the enricher and the store's caches ------------------------------------------------------


def _enricher(config: Path, db) -> enrich.Enricher:
    return enrich.Enricher(load_file(config), db)


def test_the_enricher_writes_cache_rows_from_the_callers_thread_only(world, db):
    dns, rdap, config = world
    writers: list[tuple[str, str]] = []
    db.conn.set_trace_callback(lambda sql: writers.append((threading.current_thread().name, sql))
                               if sql.lstrip().upper().startswith(("INSERT", "UPDATE")) else None)
    with _enricher(config, db) as enricher:
        (info,) = enricher.enrich_many([RIPE_IP])
    db.conn.set_trace_callback(None)
    assert info.rdap.network.handle == RIPE_RAW["handle"] and info.prefix == "62.239.0.0/16"
    assert {thread for thread, _ in writers} == {threading.current_thread().name}
    assert any("asn_prefixes" in sql for _, sql in writers) and any("rdap_networks" in sql for _, sql in writers)
    assert (db["asn_prefixes"].count, db["rdap_networks"].count) == (1, 1)


def test_a_read_only_database_does_not_break_lookups(world, tmp_path, caplog):
    dns, rdap, config = world
    path = tmp_path / "cache.db"
    writer = open_store(path)
    with _enricher(config, writer) as enricher:  # fills the caches with RIPE_IP's prefix and network
        list(enricher.enrich_many([RIPE_IP]))
    writer.close()
    rdap.reset_log()
    publish_origin(dns, "74.125.225.229", asn=15169, prefix="74.125.225.0/24", country="US", registry="arin",
                   as_name="GOOGLE - Google LLC, US")
    reader = open_reader(path)
    try:
        with caplog.at_level("WARNING", logger="monitor.resolve.enrich"), _enricher(config, reader) as enricher:
            cached, fresh = enricher.enrich_many([RIPE_IP, "74.125.225.229"])
            again = enricher.enrich("2001:4860:4860::8888")
    finally:
        reader.close()
    assert cached.rdap.network.handle == RIPE_RAW["handle"]  # read from the read-only cache
    assert rdap.requests == ["/ip/74.125.225.229", "/ip/2001:4860:4860::8888"]  # not RIPE_IP's again
    assert (fresh.asn, fresh.rdap.status, again.rdap.status) == (15169, "ok", "ok")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "read-only" in warnings[0]  # said once, not once per batch


def test_a_locked_store_keeps_the_rows_for_the_end(world, db, caplog):
    dns, rdap, config = world
    db.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(db.conn.execute("PRAGMA database_list").fetchone()[2])
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    with caplog.at_level("WARNING", logger="monitor.resolve.enrich"), _enricher(config, db) as enricher:
        (info,) = enricher.enrich_many([RIPE_IP])
        assert info.rdap.status == "ok"  # the lookup went on
        assert (db["asn_prefixes"].count, db["rdap_networks"].count) == (0, 0)
        other.rollback()  # released before the enricher closes
    other.close()
    assert (db["asn_prefixes"].count, db["rdap_networks"].count) == (1, 1)  # written at close
    assert "trying again at the end" in caplog.text


def test_without_a_database_there_is_no_cache(world):
    dns, rdap, config = world
    with _enricher(config, None) as enricher:
        assert enricher.enrich(RIPE_IP).rdap.status == "ok"
    with _enricher(config, None) as enricher:
        assert enricher.enrich(RIPE_IP).rdap.status == "ok"
    assert rdap.request_count == 2
