"""The simulated .mmdb files, read back with maxminddb and geoip2 as the monitor reads them."""

from pathlib import Path

import geoip2.database
import geoip2.errors
import maxminddb
import maxminddb.reader
import pytest

from monitor.sim.mmdb import write_asn_db, write_country_db

EPOCH = 1_700_000_000

COUNTRIES = {
    "127.0.0.0/8": "US",
    "127.0.1.0/24": "NL",  # nested in the /8: the more specific network wins
    "2001:db8::/32": "DE",
    "2001:db8:7::/48": "ZZ",  # a code without a known name
}

ASNS = {
    "127.0.1.0/24": (64500, "Simulated Hosting BV"),
    "2001:db8::/32": (4_200_000_001, "Simulated Cloud GmbH"),  # a 4-byte AS number
}


def metadata(path: Path) -> maxminddb.reader.Metadata:
    with maxminddb.open_database(path) as reader:
        return reader.metadata()


@pytest.mark.parametrize(
    ("flavour", "database_type"),
    [
        ("geolite2", "GeoLite2-Country"),
        ("geoip2-city", "GeoIP2-City"),
        ("dbip", "DBIP-Country-Lite"),
        ("ipinfo", "ipinfo bundle_location_lite.mmdb"),
    ],
)
def test_country_metadata(tmp_path: Path, flavour: str, database_type: str) -> None:
    path = write_country_db(tmp_path / "c.mmdb", COUNTRIES, flavour=flavour, build_epoch=EPOCH)
    meta = metadata(path)
    assert meta.database_type == database_type
    assert meta.build_epoch == EPOCH
    assert meta.ip_version == 6
    assert meta.languages == ["en"]


@pytest.mark.parametrize("flavour", ["geolite2", "dbip"])
def test_country_reads_with_geoip2(tmp_path: Path, flavour: str) -> None:
    path = write_country_db(tmp_path / "c.mmdb", COUNTRIES, flavour=flavour)
    with geoip2.database.Reader(str(path)) as reader:
        nl = reader.country("127.0.1.9")
        assert nl.country.iso_code == "NL"
        assert nl.country.name == "Netherlands"
        assert nl.continent.code == "EU"
        assert str(nl.traits.network) == "127.0.1.0/24"

        assert reader.country("127.200.0.1").country.iso_code == "US"
        assert reader.country("2001:db8:1::1").country.name == "Germany"

        unnamed = reader.country("2001:db8:7::1")
        assert unnamed.country.iso_code == "ZZ"
        assert unnamed.country.name is None

        with pytest.raises(geoip2.errors.AddressNotFoundError):
            reader.country("192.0.2.1")


def test_city_flavour_reads_with_geoip2_city(tmp_path: Path) -> None:
    path = write_country_db(tmp_path / "c.mmdb", COUNTRIES, flavour="geoip2-city")
    with geoip2.database.Reader(str(path)) as reader:
        city = reader.city("127.0.1.9")
        assert city.country.iso_code == "NL"
        assert city.city.name is None
        assert city.location.accuracy_radius == 1000
        assert reader.city("2001:db8::1").country.iso_code == "DE"


def test_ipinfo_flavour_reads_with_maxminddb_only(tmp_path: Path) -> None:
    path = write_country_db(tmp_path / "c.mmdb", COUNTRIES, flavour="ipinfo", asns=ASNS)
    with maxminddb.open_database(path) as reader:
        assert reader.get("127.0.1.9") == {
            "country_code": "NL",
            "country": "Netherlands",
            "continent_code": "EU",
            "continent": "Europe",
            "asn": "AS64500",
            "as_name": "Simulated Hosting BV",
            "as_domain": "",
        }
        assert reader.get("2001:db8::1")["asn"] == "AS4200000001"
        # No AS for this network: IPinfo leaves the AS fields out.
        assert reader.get("127.200.0.1") == {
            "country_code": "US",
            "country": "United States",
            "continent_code": "NA",
            "continent": "North America",
        }
    with geoip2.database.Reader(str(path)) as reader:
        with pytest.raises(TypeError):
            reader.country("127.0.1.9")


def test_as_fields_are_refused_outside_ipinfo(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_country_db(tmp_path / "c.mmdb", COUNTRIES, flavour="geolite2", asns=ASNS)


def test_unknown_flavours_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_country_db(tmp_path / "c.mmdb", COUNTRIES, flavour="ip2location")
    with pytest.raises(ValueError):
        write_asn_db(tmp_path / "a.mmdb", ASNS, flavour="ipinfo")


@pytest.mark.parametrize(
    ("flavour", "database_type"),
    [("geolite2", "GeoLite2-ASN"), ("dbip", "DBIP-ASN-Lite (compat=GeoLite2-ASN)")],
)
def test_asn_reads_with_geoip2(tmp_path: Path, flavour: str, database_type: str) -> None:
    path = write_asn_db(tmp_path / "a.mmdb", ASNS, flavour=flavour, build_epoch=EPOCH)
    meta = metadata(path)
    assert meta.database_type == database_type
    assert meta.build_epoch == EPOCH
    with geoip2.database.Reader(str(path)) as reader:
        v4 = reader.asn("127.0.1.200")
        assert v4.autonomous_system_number == 64500
        assert v4.autonomous_system_organization == "Simulated Hosting BV"
        assert str(v4.network) == "127.0.1.0/24"
        v6 = reader.asn("2001:db8:ffff::1")
        assert v6.autonomous_system_number == 4_200_000_001
        with pytest.raises(geoip2.errors.AddressNotFoundError):
            reader.asn("127.0.2.1")


def test_build_epoch_defaults_to_now(tmp_path: Path) -> None:
    path = write_asn_db(tmp_path / "a.mmdb", ASNS)
    assert metadata(path).build_epoch > EPOCH


def test_pure_python_reader_agrees(tmp_path: Path) -> None:
    # The C extension is lenient in places; the pure Python decoder checks the file too.
    path = write_country_db(tmp_path / "c.mmdb", COUNTRIES, build_epoch=EPOCH)
    with maxminddb.open_database(path, maxminddb.MODE_FILE) as reader:
        assert reader.metadata().build_epoch == EPOCH
        assert reader.get("127.0.1.1")["country"]["iso_code"] == "NL"
        assert reader.get("2001:db8::1")["country"]["iso_code"] == "DE"


def test_nesting_does_not_depend_on_order(tmp_path: Path) -> None:
    specific_first = {"127.0.1.0/24": "NL", "127.0.0.0/8": "US"}
    path = write_country_db(tmp_path / "c.mmdb", specific_first)
    with maxminddb.open_database(path) as reader:
        assert reader.get("127.0.1.1")["country"]["iso_code"] == "NL"
        assert reader.get("127.0.2.1")["country"]["iso_code"] == "US"
