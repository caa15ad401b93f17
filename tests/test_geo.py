"""Tests of monitor.resolve.geo, the readers of the country and ASN databases (.mmdb).

MaxMind's test databases (tests/data/maxmind/, from MaxMind-DB, MIT or Apache-2.0 licensed, the
licences beside them) are checked against the JSON sources they were built from: the expected
answers are read from the JSON at test time, never typed in here. DB-IP and IPinfo databases, and
the cases MaxMind's data has none of, are built with mmdb_writer in the tests themselves.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from monitor.errors import DatabaseFileError
from monitor.resolve.geo import (
    AsnAnswer,
    AsnDB,
    CountryAnswer,
    CountryDB,
    Source,
    open_asn_db,
    open_country_db,
)

DATA = Path(__file__).parent / "data" / "maxmind"
COUNTRY_DBS = ["GeoIP2-Country-Test", "GeoLite2-Country-Test"]
ASN_DB = "GeoLite2-ASN-Test"
BROKEN_DOUBLE = DATA / "GeoIP2-City-Test-Broken-Double-Format.mmdb"
BAD_NODE_COUNT = DATA / "GeoIP2-City-Test-Invalid-Node-Count.mmdb"
FIXTURE_EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# -- cases read from MaxMind's JSON sources ------------------------------------------------------


def _networks(name: str) -> list[tuple[str, dict]]:
    """(network, record) for each entry of a test database's JSON source."""
    entries = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return [(network, record) for entry in entries for network, record in entry.items()]


def _ends(network: str) -> tuple[str, str]:
    """The first and the last address of a network from the JSON (some, like
    "::74.209.24.0/116", are written with host bits set)."""
    net = ipaddress.ip_network(network, strict=False)
    return str(net.network_address), str(net.broadcast_address)


def _expected_country(record: dict) -> tuple[str | None, bool]:
    code = record.get("country", {}).get("iso_code")
    if code:
        return code, False
    registered = record.get("registered_country", {}).get("iso_code")
    return registered, registered is not None


COUNTRY_CASES = [
    pytest.param(name, network, *_expected_country(record), id=f"{name}:{network}")
    for name in COUNTRY_DBS
    for network, record in _networks(name)
]
ASN_CASES = [
    pytest.param(
        network,
        record.get("autonomous_system_number"),
        record.get("autonomous_system_organization"),
        id=network,
    )
    for network, record in _networks(ASN_DB)
]


def test_the_json_cases_cover_enough():
    for cases in (COUNTRY_CASES, ASN_CASES):
        networks = [case.values[-3] for case in cases]
        assert sum(":" in n for n in networks) >= 12, "IPv6 networks"
        assert sum(":" not in n for n in networks) >= 12, "IPv4 networks"
    assert any(case.values[2] is None for case in COUNTRY_CASES), "a network with no country"


@pytest.fixture(scope="module")
def country_dbs():
    dbs = {name: open_country_db(DATA / f"{name}.mmdb") for name in COUNTRY_DBS}
    yield dbs
    for db in dbs.values():
        db.close()


@pytest.fixture(scope="module")
def asn_db():
    with open_asn_db(DATA / f"{ASN_DB}.mmdb") as db:
        yield db


@pytest.mark.parametrize("name, network, country, registered_only", COUNTRY_CASES)
def test_country_matches_the_json_source(country_dbs, name, network, country, registered_only):
    db = country_dbs[name]
    for ip in _ends(network):
        answer = db.lookup(ip)
        assert (answer.country, answer.registered_only) == (country, registered_only), ip
        assert answer.source is db.source


@pytest.mark.parametrize("network, asn, org", ASN_CASES)
def test_asn_matches_the_json_source(asn_db, network, asn, org):
    json_net = ipaddress.ip_network(network, strict=False)
    for ip in _ends(network):
        answer = asn_db.lookup(ip)
        assert (answer.asn, answer.org) == (asn, org), ip
        # The database merges neighbouring networks with the same data, so the prefix is the
        # JSON's network or one that holds it; either way a proper CIDR holding the address.
        prefix = ipaddress.ip_network(answer.prefix)  # strict: no host bits set
        assert ipaddress.ip_address(ip) in prefix
        if prefix.version == json_net.version:
            assert prefix.supernet_of(json_net), (answer.prefix, network)


def test_asn_prefix_of_an_unmerged_network(asn_db):
    answer = asn_db.lookup("1.0.0.77")
    assert answer == AsnAnswer(15169, "Google Inc.", "1.0.0.0/24", asn_db.source)
    assert asn_db.lookup("::ffff:1.0.0.77") == answer  # IPv4-mapped: the IPv4 address
    assert asn_db.lookup("0:0:0:0:0:FFFF:100:4d") == answer
    assert asn_db.lookup("2600:1400:1::1").prefix == "2600:1400::/27"


# -- metadata ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opener, file, db_type",
    [
        (open_country_db, "GeoIP2-Country-Test.mmdb", "GeoIP2-Country"),
        (open_country_db, "GeoLite2-Country-Test.mmdb", "GeoLite2-Country"),
        (open_asn_db, "GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN"),
    ],
)
def test_source_is_the_metadata(opener, file, db_type):
    import maxminddb

    with maxminddb.open_database(str(DATA / file)) as raw:
        epoch = raw.metadata().build_epoch
    with opener(DATA / file) as db:
        assert db.source.name == db_type
        assert ISO_UTC.fullmatch(db.source.build)
        built = datetime.strptime(db.source.build, "%Y-%m-%dT%H:%M:%SZ")
        assert built.replace(tzinfo=timezone.utc).timestamp() == epoch
        assert db.source.path == str(DATA / file)


def test_build_date_is_utc(tmp_path):
    path = write_mmdb(tmp_path / "c.mmdb", "GeoLite2-Country", {"1.2.3.0/24": _mm_country("FR")})
    with open_country_db(path) as db:
        assert db.source == Source("GeoLite2-Country", "2023-11-14T22:13:20Z", str(path))


# -- not found, invalid addresses, closing -------------------------------------------------------


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "::1", "fd00::1", "::ffff:10.0.0.1"])
def test_address_not_in_the_database(country_dbs, asn_db, ip):
    for db in country_dbs.values():
        assert db.lookup(ip) == CountryAnswer(None, db.source)
    assert asn_db.lookup(ip) == AsnAnswer(None, None, None, asn_db.source)


def test_record_without_any_country(country_dbs):
    # In the JSON, 2a02:d500::/29 has a continent but neither country nor registered_country.
    record = dict(_networks("GeoLite2-Country-Test"))["2a02:d500::/29"]
    assert record and "country" not in record and "registered_country" not in record
    assert country_dbs["GeoLite2-Country-Test"].lookup("2a02:d500::1").country is None


@pytest.mark.parametrize(
    "ip",
    ["", "x", "1.2.3", "1", "256.1.1.1", "01.2.3.4", "1.2.3.4/24", " 1.2.3.4", "1.2.3.4\x00",
     "0x7f.0.0.1", "fe80::1%eth0", "1::2::3", "2001:db8::g"],
)
def test_invalid_ip_is_a_value_error(country_dbs, asn_db, ip):
    for db in [*country_dbs.values(), asn_db]:
        with pytest.raises(ValueError, match="not an IP address"):
            db.lookup(ip)


def test_context_manager_closes():
    with open_country_db(DATA / "GeoLite2-Country-Test.mmdb") as db:
        assert isinstance(db, CountryDB)
    with pytest.raises(ValueError, match="close"):
        db.lookup("81.2.69.160")
    db.close()  # twice is fine


def test_answers_are_frozen(country_dbs, asn_db):
    answer = country_dbs["GeoLite2-Country-Test"].lookup("81.2.69.160")
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.country = "FR"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        asn_db.lookup("1.0.0.1").asn = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.source.name = "x"  # type: ignore[misc]


# -- broken, wrong and missing files -------------------------------------------------------------


def _assert_clear(error: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(error.value)
    assert str(path) in message
    assert "monitor update-databases" in message
    for word in words:
        assert word in message


def test_invalid_node_count_fails_at_open():
    for opener, key in ((open_country_db, "geoip.country_db"), (open_asn_db, "geoip.asn_db")):
        with pytest.raises(DatabaseFileError) as error:
            opener(BAD_NODE_COUNT)
        _assert_clear(error, BAD_NODE_COUNT, "corrupt", key)


def test_broken_double_format_fails_at_lookup():
    # Its search tree is sound, so it opens; the data section is not, so reading a record fails.
    with open_country_db(BROKEN_DOUBLE) as db:
        assert db.source.name == "GeoIP2-City"
        assert db.lookup("10.0.0.1").country is None  # no record to read
        for ip in ("81.2.69.160", "2001:218::1"):
            with pytest.raises(DatabaseFileError) as error:
                db.lookup(ip)
            _assert_clear(error, BROKEN_DOUBLE, "corrupt", ip, "geoip.country_db")


@pytest.mark.parametrize(
    "opener, file, says",
    [
        (open_country_db, "GeoLite2-ASN-Test.mmdb", "'GeoLite2-ASN' database, not a country"),
        (open_asn_db, "GeoLite2-Country-Test.mmdb", "'GeoLite2-Country' database, not an ASN"),
        (open_asn_db, "GeoIP2-City-Test-Broken-Double-Format.mmdb", "not an ASN"),
    ],
)
def test_wrong_type(opener, file, says):
    with pytest.raises(DatabaseFileError) as error:
        opener(DATA / file)
    _assert_clear(error, DATA / file, says)


def test_missing_file(tmp_path):
    path = tmp_path / "GeoLite2-Country.mmdb"
    with pytest.raises(DatabaseFileError) as error:
        open_country_db(path)
    _assert_clear(error, path, "does not exist", "geoip.country_db")
    with pytest.raises(DatabaseFileError) as error:
        open_asn_db(str(path))
    _assert_clear(error, path, "does not exist", "geoip.asn_db")


@pytest.mark.parametrize("content", [b"", b"not a database\n" * 100, bytes(range(256)) * 64])
def test_not_an_mmdb_file(tmp_path, content):
    path = tmp_path / "x.mmdb"
    path.write_bytes(content)
    with pytest.raises(DatabaseFileError) as error:
        open_country_db(path)
    _assert_clear(error, path, "not a valid .mmdb file")


def test_a_directory(tmp_path):
    path = tmp_path / "GeoLite2-ASN.mmdb"
    path.mkdir()
    with pytest.raises(DatabaseFileError) as error:
        open_asn_db(path)
    _assert_clear(error, path, "is a directory")


# -- other flavours, built with mmdb_writer ------------------------------------------------------


def write_mmdb(path: Path, database_type: str, networks: dict[str, dict], *, ip_version: int = 6):
    """A small .mmdb with the given records, its build date fixed at FIXTURE_EPOCH."""

    class Writer(MMDBWriter):
        def _build_meta(self):  # mmdb_writer stamps the current time; fix it
            return {**super()._build_meta(), "build_epoch": FIXTURE_EPOCH}

    writer = Writer(
        ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type=database_type
    )
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def _mm_country(code: str | None, registered: str | None = None, city: bool = False) -> dict:
    """A record of MaxMind's (and DB-IP's) shape."""
    record: dict = {"continent": {"code": "EU", "names": {"en": "Europe"}}}
    if code:
        record["country"] = {"iso_code": code, "names": {"en": code}}
    if registered:
        record["registered_country"] = {"iso_code": registered, "names": {"en": registered}}
    if city:
        record["city"] = {"names": {"en": "Somewhere"}}
        record["location"] = {"latitude": 48.5, "longitude": 2.25, "time_zone": "Europe/Paris"}
    return record


def _ipinfo(code: str, asn: str | None = None, name: str | None = None) -> dict:
    record = {"country": "Country " + code, "country_code": code,
              "continent": "Europe", "continent_code": "EU"}
    if asn:
        record.update(asn=asn, as_name=name, as_domain="example.net")
    return record


@pytest.mark.parametrize(
    "db_type, city",
    [("GeoLite2-City", True), ("GeoIP2-City", True), ("GeoIP2-Enterprise", True),
     ("DBIP-Country-Lite", False), ("DBIP-City-Lite", True)],
)
def test_country_flavours_of_maxmind_shape(tmp_path, db_type, city):
    path = write_mmdb(tmp_path / "c.mmdb", db_type, {
        "192.0.2.0/24": _mm_country("FR", "DE", city=city),
        "198.51.100.0/24": _mm_country(None, "US", city=city),  # e.g. an anycast range
        "203.0.113.0/24": _mm_country(None, city=city),
        "2001:db8:1::/48": _mm_country("NL", city=city),
    })
    with open_country_db(path) as db:
        assert db.source == Source(db_type, "2023-11-14T22:13:20Z", str(path))
        assert db.lookup("192.0.2.7") == CountryAnswer("FR", db.source)
        assert db.lookup("198.51.100.7") == CountryAnswer("US", db.source, registered_only=True)
        assert db.lookup("203.0.113.7") == CountryAnswer(None, db.source)
        assert db.lookup("2001:db8:1:2::3") == CountryAnswer("NL", db.source)
        assert db.lookup("2001:db8:2::1") == CountryAnswer(None, db.source)
        assert db.lookup("::ffff:192.0.2.9").country == "FR"


def test_dbip_asn(tmp_path):
    path = write_mmdb(tmp_path / "a.mmdb", "DBIP-ASN-Lite", {
        "192.0.2.0/25": {"autonomous_system_number": 64500,
                         "autonomous_system_organization": "Example Hosting"},
        "2001:db8:40::/42": {"autonomous_system_number": 4200000001,
                             "autonomous_system_organization": "Example v6"},
        "198.51.100.0/24": {"autonomous_system_number": 64501},
    })
    with open_asn_db(path) as db:
        assert db.source.name == "DBIP-ASN-Lite"
        assert db.lookup("192.0.2.100") == AsnAnswer(64500, "Example Hosting", "192.0.2.0/25",
                                                     db.source)
        assert db.lookup("192.0.2.200") == AsnAnswer(None, None, None, db.source)
        assert db.lookup("2001:db8:7f:1::1") == AsnAnswer(4200000001, "Example v6",
                                                          "2001:db8:40::/42", db.source)
        assert db.lookup("198.51.100.1") == AsnAnswer(64501, None, "198.51.100.0/24", db.source)


@pytest.mark.parametrize("db_type", ["ipinfo lite.mmdb", "ipinfo bundle_location_lite.mmdb"])
def test_ipinfo_lite_serves_country_and_asn(tmp_path, db_type):
    path = write_mmdb(tmp_path / "ipinfo_lite.mmdb", db_type, {
        "81.2.69.0/24": _ipinfo("GB", "AS20712", "Andrews & Arnold Ltd"),
        "89.160.20.0/24": _ipinfo("SE"),  # no AS known
        "2001:db8:1::/48": _ipinfo("DE", "AS64496", "Example Networks"),
    })
    with open_country_db(path) as countries, open_asn_db(path) as asns:
        source = countries.source
        assert source == asns.source == Source(db_type, "2023-11-14T22:13:20Z", str(path))
        assert countries.lookup("81.2.69.160") == CountryAnswer("GB", source)
        assert countries.lookup("89.160.20.1") == CountryAnswer("SE", source)
        assert countries.lookup("2001:db8:1::9") == CountryAnswer("DE", source)
        assert countries.lookup("8.8.8.8") == CountryAnswer(None, source)
        assert asns.lookup("81.2.69.160") == AsnAnswer(20712, "Andrews & Arnold Ltd",
                                                       "81.2.69.0/24", source)
        assert asns.lookup("89.160.20.1") == AsnAnswer(None, None, None, source)
        assert asns.lookup("2001:db8:1::9") == AsnAnswer(64496, "Example Networks",
                                                         "2001:db8:1::/48", source)
        assert asns.lookup("8.8.8.8") == AsnAnswer(None, None, None, source)


def test_ipv4_only_database(tmp_path):
    path = write_mmdb(tmp_path / "v4.mmdb", "GeoLite2-Country",
                      {"192.0.2.0/24": _mm_country("FR")}, ip_version=4)
    with open_country_db(path) as db:
        assert db.lookup("192.0.2.1").country == "FR"
        assert db.lookup("2001:db8::1") == CountryAnswer(None, db.source)
        with pytest.raises(ValueError, match="not an IP address"):
            db.lookup("2001:db8::x")


@pytest.mark.parametrize("db_type", ["GeoIP2-Anonymous-IP", "GeoIP2-Domain", "GeoIP2-ISP"])
def test_other_maxmind_types_are_not_country_databases(tmp_path, db_type):
    path = write_mmdb(tmp_path / "o.mmdb", db_type, {"192.0.2.0/24": {"is_anonymous": True}})
    with pytest.raises(DatabaseFileError) as error:
        open_country_db(path)
    _assert_clear(error, path, repr(db_type))


def test_readers_are_the_classes():
    with open_country_db(DATA / "GeoIP2-Country-Test.mmdb") as c, \
            open_asn_db(DATA / "GeoLite2-ASN-Test.mmdb") as a:
        assert isinstance(c, CountryDB) and isinstance(a, AsnDB)
        assert "GeoLite2-ASN" in repr(a)


def test_unreadable_file(tmp_path, monkeypatch):
    # Tests run as root here, where chmod 000 does not stop reading: make the open fail instead.
    import maxminddb

    path = tmp_path / "GeoLite2-Country.mmdb"
    path.write_bytes(b"")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(maxminddb, "open_database", refuse)
    with pytest.raises(DatabaseFileError) as error:
        open_country_db(path)
    _assert_clear(error, path, "permission denied")
