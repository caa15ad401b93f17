"""Real .mmdb files for the simulated world, in the shapes the vendors ship.

The simulated world lives on loopback: its hosters sit in 127.x networks (IPv6
networks from 2001:db8::/32 where a test needs them), and these builders map
such networks to countries and autonomous systems the way MaxMind GeoLite2 and
GeoIP2, DB-IP Lite and IPinfo Lite files do, so that the monitor reads them with
the same code as the real downloads.

Every file is an IPv6 tree with IPv4 networks at ::a.b.c.d/96, as the vendors'
mixed files are, so one file answers for both families. Where networks nest, the
more specific one wins, whatever the order of the mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPNetwork, IPSet

__all__ = ["COUNTRY_FLAVOURS", "ASN_FLAVOURS", "write_country_db", "write_asn_db"]

COUNTRY_FLAVOURS = {
    "geolite2": "GeoLite2-Country",
    "geoip2-city": "GeoIP2-City",
    "dbip": "DBIP-Country-Lite",
    "ipinfo": "ipinfo bundle_location_lite.mmdb",
}
ASN_FLAVOURS = {
    "geolite2": "GeoLite2-ASN",
    # DB-IP's "compat" suffix is what lets geoip2's Reader.asn() accept the file.
    "dbip": "DBIP-ASN-Lite (compat=GeoLite2-ASN)",
}

_CONTINENTS = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}

# Country code -> (English name, continent code), for the names and continents the
# records carry. Codes missing here still get a record, with just the code in it.
_COUNTRIES = {
    "AU": ("Australia", "OC"),
    "BR": ("Brazil", "SA"),
    "CA": ("Canada", "NA"),
    "CH": ("Switzerland", "EU"),
    "CN": ("China", "AS"),
    "DE": ("Germany", "EU"),
    "ES": ("Spain", "EU"),
    "FI": ("Finland", "EU"),
    "FR": ("France", "EU"),
    "GB": ("United Kingdom", "EU"),
    "HK": ("Hong Kong", "AS"),
    "IE": ("Ireland", "EU"),
    "IN": ("India", "AS"),
    "IT": ("Italy", "EU"),
    "JP": ("Japan", "AS"),
    "KR": ("South Korea", "AS"),
    "LU": ("Luxembourg", "EU"),
    "NL": ("Netherlands", "EU"),
    "PA": ("Panama", "NA"),
    "PL": ("Poland", "EU"),
    "RU": ("Russia", "EU"),
    "SC": ("Seychelles", "AF"),
    "SE": ("Sweden", "EU"),
    "SG": ("Singapore", "AS"),
    "UA": ("Ukraine", "EU"),
    "US": ("United States", "NA"),
    "ZA": ("South Africa", "AF"),
}

_DESCRIPTION = "Simulated world test database"


class _Writer(MMDBWriter):
    """MMDBWriter with a chosen build_epoch.

    MMDBWriter (0.2.x) stamps ``build_epoch`` with the current time and offers no
    option for it; it builds the metadata in ``_build_meta``, which is the one hook
    overridden here. The metadata is encoded after that, so the file stays valid.
    """

    def __init__(self, database_type: str, build_epoch: int | None) -> None:
        super().__init__(
            ip_version=6,
            ipv4_compatible=True,
            database_type=database_type,
            languages=["en"],
            description=_DESCRIPTION,
        )
        self._build_epoch = build_epoch

    def _build_meta(self) -> dict[str, Any]:
        meta = super()._build_meta()
        if self._build_epoch is not None:
            meta["build_epoch"] = self._build_epoch
        return meta


def _write(
    path: str | os.PathLike[str],
    database_type: str,
    records: Mapping[str, Any],
    build_epoch: int | None,
) -> Path:
    writer = _Writer(database_type, build_epoch)
    entries = [(IPNetwork(cidr), record) for cidr, record in records.items()]
    # MMDBWriter lets a later network overwrite an earlier supernet's subtree, so
    # insert from least to most specific, counting IPv4 as the ::/96 it becomes.
    entries.sort(key=lambda entry: entry[0].prefixlen + (96 if entry[0].version == 4 else 0))
    for network, record in entries:
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(os.fspath(path))
    return Path(path)


def _country(code: str) -> dict[str, Any]:
    record: dict[str, Any] = {"iso_code": code}
    if code in _COUNTRIES:
        record["names"] = {"en": _COUNTRIES[code][0]}
    return record


def _maxmind_country_record(code: str) -> dict[str, Any]:
    """A record shaped like GeoLite2-Country's, which DB-IP's Lite files copy."""
    record: dict[str, Any] = {"country": _country(code), "registered_country": _country(code)}
    if code in _COUNTRIES:
        continent = _COUNTRIES[code][1]
        record["continent"] = {"code": continent, "names": {"en": _CONTINENTS[continent]}}
    return record


def _city_record(code: str) -> dict[str, Any]:
    # A GeoIP2-City record for an address located only to its country: no city,
    # and a location as coarse as MaxMind gives those.
    return {**_maxmind_country_record(code), "location": {"accuracy_radius": 1000}}


def _ipinfo_record(code: str, asn: tuple[int, str] | None) -> dict[str, Any]:
    """An IPinfo Lite record: flat, country and AS in one, the ASN as "AS<n>"."""
    record: dict[str, Any] = {"country_code": code}
    if code in _COUNTRIES:
        name, continent = _COUNTRIES[code]
        record |= {"country": name, "continent_code": continent, "continent": _CONTINENTS[continent]}
    if asn is not None:
        # IPinfo leaves the AS fields out for unannounced space. The simulated AS
        # have no web domains, and as_domain is empty for those.
        record |= {"asn": f"AS{asn[0]}", "as_name": asn[1], "as_domain": ""}
    return record


def write_country_db(
    path: str | os.PathLike[str],
    networks: Mapping[str, str],
    *,
    flavour: str = "geolite2",
    build_epoch: int | None = None,
    asns: Mapping[str, tuple[int, str]] | None = None,
) -> Path:
    """Write a country database mapping CIDRs (IPv4 and IPv6) to ISO country codes.

    ``flavour`` is one of ``COUNTRY_FLAVOURS``: "geolite2" and "dbip" read with
    geoip2's ``Reader.country()``, "geoip2-city" with ``Reader.city()``, and
    "ipinfo" (IPinfo Lite, country and ASN in one file) with maxminddb only, as
    geoip2 refuses it. ``asns`` gives the ipinfo records their AS, by the same
    CIDRs, as (number, organisation); the other flavours have no AS fields.
    ``build_epoch`` (Unix seconds) goes into the metadata; None means now.
    """
    try:
        database_type = COUNTRY_FLAVOURS[flavour]
    except KeyError:
        raise ValueError(
            f"unknown country flavour {flavour!r}, not one of {list(COUNTRY_FLAVOURS)}"
        ) from None
    if asns and flavour != "ipinfo":
        raise ValueError(f"only the ipinfo flavour carries AS fields, not {flavour!r}")
    records: dict[str, dict[str, Any]] = {}
    for cidr, code in networks.items():
        if flavour == "ipinfo":
            records[cidr] = _ipinfo_record(code, (asns or {}).get(cidr))
        elif flavour == "geoip2-city":
            records[cidr] = _city_record(code)
        else:
            records[cidr] = _maxmind_country_record(code)
    return _write(path, database_type, records, build_epoch)


def write_asn_db(
    path: str | os.PathLike[str],
    networks: Mapping[str, tuple[int, str]],
    *,
    flavour: str = "geolite2",
    build_epoch: int | None = None,
) -> Path:
    """Write an ASN database mapping CIDRs to (AS number, AS organisation).

    Both flavours of ``ASN_FLAVOURS`` hold GeoLite2-ASN's two fields and read
    with geoip2's ``Reader.asn()``.
    """
    try:
        database_type = ASN_FLAVOURS[flavour]
    except KeyError:
        raise ValueError(
            f"unknown ASN flavour {flavour!r}, not one of {list(ASN_FLAVOURS)}"
        ) from None
    records = {
        cidr: {
            # uint32, as MaxMind stores it; MMDBWriter would pick uint16 for small numbers.
            "autonomous_system_number": MmdbU32(number),
            "autonomous_system_organization": organisation,
        }
        for cidr, (number, organisation) in networks.items()
    }
    return _write(path, database_type, records, build_epoch)
