"""Readers of the country and ASN databases (.mmdb) behind each IP.

Supported databases, all read through one code path (maxminddb and plain dict access; geoip2's
typed readers refuse every database type that is not MaxMind's):

* country: MaxMind GeoIP2/GeoLite2 Country, City and Enterprise, DB-IP Country/City (Lite),
  IPinfo Lite;
* ASN: MaxMind GeoLite2/GeoIP2 ASN (and GeoIP2 ISP), DB-IP ASN (Lite), IPinfo Lite.

DB-IP's records have MaxMind's shape (``country.iso_code``, ``autonomous_system_number``);
IPinfo's are flat (``country_code``, ``asn`` as an ``"AS1234"`` string, ``as_name``).

Every problem with a database file (missing, unreadable, corrupt, of the wrong type) raises
:class:`monitor.errors.DatabaseFileError` naming the file, whether it shows when the file is
opened or only at a lookup: some corrupt files open fine and fail on the first record read.

    with open_country_db("GeoLite2-Country.mmdb") as db:
        db.lookup("81.2.69.160").country        # 'GB'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from ipaddress import IPv6Address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Self

import maxminddb
from maxminddb import InvalidDatabaseError

from monitor.errors import DatabaseFileError

__all__ = [
    "AsnAnswer",
    "AsnDB",
    "CountryAnswer",
    "CountryDB",
    "Source",
    "open_asn_db",
    "open_country_db",
]


@dataclass(frozen=True, slots=True)
class Source:
    """The database an answer came from."""

    name: str  # metadata database_type, e.g. "GeoLite2-Country", "DBIP-ASN-Lite"
    build: str  # metadata build_epoch as an ISO 8601 UTC date-time, e.g. "2026-02-04T22:49:29Z"
    path: str


@dataclass(frozen=True, slots=True)
class CountryAnswer:
    country: str | None  # ISO 3166-1 alpha-2 code; None if the database has none for the IP
    source: Source
    # True if the database had no `country` for the IP and the code is its registered_country.
    registered_only: bool = False


@dataclass(frozen=True, slots=True)
class AsnAnswer:
    asn: int | None
    org: str | None
    prefix: str | None  # the network the database record covers, as CIDR, e.g. "1.0.0.0/24"
    source: Source


def _is_country_type(db_type: str) -> bool:
    t = db_type.lower()
    return t.startswith("ipinfo") or "country" in t or "city" in t or "enterprise" in t


def _is_asn_type(db_type: str) -> bool:
    t = db_type.lower()
    return t.startswith("ipinfo") or "asn" in t or t == "geoip2-isp"


_KINDS = {
    # kind: (label, with its article, config key, what is supported, type check)
    "country": (
        "country",
        "a country",
        "geoip.country_db",
        "GeoIP2/GeoLite2 Country or City, DB-IP Country/City Lite or IPinfo Lite",
        _is_country_type,
    ),
    "asn": (
        "ASN",
        "an ASN",
        "geoip.asn_db",
        "GeoLite2/GeoIP2 ASN, DB-IP ASN Lite or IPinfo Lite",
        _is_asn_type,
    ),
}


class _MmdbDB:
    """An open .mmdb file: metadata checks, errors, closing. Subclasses add lookup()."""

    _kind = ""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        label, a_label, config_key, supported, type_ok = _KINDS[self._kind]
        self._hint = f"run `monitor update-databases` or set {config_key} in config.yaml"
        self._closed = False
        where = f"The {label} database {self.path}"
        if os.path.isdir(self.path):
            raise DatabaseFileError(f"{where} is a directory, not a .mmdb file; {self._hint}")
        try:
            reader = maxminddb.open_database(self.path, maxminddb.MODE_AUTO)
        except FileNotFoundError:
            raise DatabaseFileError(f"{where} does not exist; {self._hint}") from None
        except PermissionError:
            raise DatabaseFileError(
                f"{where} cannot be read (permission denied); make it readable, or {self._hint}"
            ) from None
        except OSError as e:
            raise DatabaseFileError(
                f"{where} cannot be read ({e.strerror or e}); {self._hint}"
            ) from None
        except (InvalidDatabaseError, ValueError) as e:
            # ValueError: an empty file cannot be mapped.
            raise DatabaseFileError(
                f"{where} is not a valid .mmdb file or is corrupt; download it again: "
                f"{self._hint} (maxminddb: {e})"
            ) from None
        try:
            meta = reader.metadata()
            db_type = meta.database_type
            if not type_ok(db_type):
                raise DatabaseFileError(
                    f"{where} is a {db_type!r} database, not {a_label} database "
                    f"(supported: {supported}); {self._hint}"
                )
            self.source = Source(
                name=db_type,
                build=datetime.fromtimestamp(meta.build_epoch, timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                path=self.path,
            )
            self._ipv4_only = meta.ip_version == 4
        except BaseException:
            reader.close()
            raise
        self._reader = reader
        # IPinfo's records are flat; MaxMind's and DB-IP's are nested.
        self._flat = db_type.lower().startswith("ipinfo")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.source.name} {self.path!r} {state}>"

    # Error paths, kept out of the lookups themselves.

    def _record(self, ip: str) -> tuple[dict | None, int | None]:
        """The record holding ip and its prefix length; (None, None) where there is none."""
        try:
            return self._reader.get_with_prefix_len(ip)
        except InvalidDatabaseError as e:
            raise self._corrupt(ip, e) from None
        except ValueError as e:
            self._lookup_value_error(ip, e)
            return None, None

    def _corrupt(self, ip: str, error: Exception) -> DatabaseFileError:
        return DatabaseFileError(
            f"The {_KINDS[self._kind][0]} database {self.path} is corrupt: looking up {ip} "
            f"failed ({error}); download it again: {self._hint}"
        )

    def _lookup_value_error(self, ip: str, error: ValueError) -> None:
        """maxminddb raised ValueError for an address that is valid: return if it is simply not
        in the database, raise otherwise."""
        if self._closed:
            raise ValueError(f"{self!r}: lookup after close()") from None
        if self._ipv4_only and ":" in ip:
            return  # an IPv6 address in an IPv4-only database
        raise self._corrupt(ip, error) from None


def _invalid_ip(ip: object) -> ValueError:
    return ValueError(f"not an IP address: {ip!r}")


_V4_MAPPED = bytes(10) + b"\xff\xff"


def _parse(ip: str) -> tuple[str, bytes]:
    """`ip` checked strictly, and its packed form (maxminddb's C extension alone would take
    "1.2.3" for 1.2.0.3). An IPv4-mapped address (::ffff:192.0.2.1) becomes the IPv4 address it
    stands for: MaxMind's databases alias ::ffff:0:0/96 to their IPv4 records, other writers
    may not."""
    try:
        if ":" not in ip:
            return ip, inet_pton(AF_INET, ip)
        packed = inet_pton(AF_INET6, ip)
    except (OSError, ValueError):
        raise _invalid_ip(ip) from None
    if packed[:12] == _V4_MAPPED:
        packed = packed[12:]
        return inet_ntop(AF_INET, packed), packed
    return ip, packed


class CountryDB(_MmdbDB):
    """A country database; lookup() gives the ISO code of the country behind an IP."""

    _kind = "country"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._none = CountryAnswer(None, self.source)
        # Answers are few (one per country), so each is made once and shared.
        self._answers: dict[str, CountryAnswer] = {}
        self._registered: dict[str, CountryAnswer] = {}

    def lookup(self, ip: str) -> CountryAnswer:
        """The country of `ip` (an IPv4 or IPv6 address as a string).

        An address the database has no country for gives ``country=None``; a string that is not
        an IP address raises ValueError; a corrupt database raises DatabaseFileError.
        """
        ip = _parse(ip)[0]
        record, _ = self._record(ip)
        if not record:
            return self._none
        if self._flat:
            code = record.get("country_code")
            registered_only = False
        else:
            country = record.get("country")
            code = country.get("iso_code") if country else None
            registered_only = not code
            if registered_only:
                # Anycast, satellite and other ranges with no known location have no `country`
                # but may still have the country the block is registered in: better than nothing,
                # and flagged so that the caller can tell.
                registered = record.get("registered_country")
                code = registered.get("iso_code") if registered else None
        if not code:
            return self._none
        answers = self._registered if registered_only else self._answers
        answer = answers.get(code)
        if answer is None:
            answer = answers[code] = CountryAnswer(code, self.source, registered_only)
        return answer


class AsnDB(_MmdbDB):
    """An ASN database; lookup() gives the autonomous system behind an IP and its prefix."""

    _kind = "asn"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._none = AsnAnswer(None, None, None, self.source)

    def lookup(self, ip: str) -> AsnAnswer:
        """The AS number, organisation and announced prefix of `ip` (a string).

        An address the database has no AS for gives None fields; a string that is not an IP
        address raises ValueError; a corrupt database raises DatabaseFileError.
        """
        ip, packed = _parse(ip)
        record, prefix_len = self._record(ip)
        if not record:
            return self._none
        if self._flat:
            asn = _parse_asn(record.get("asn"))
            org = record.get("as_name")
        else:
            asn = record.get("autonomous_system_number")
            org = record.get("autonomous_system_organization")
        if asn is None and not org:
            return self._none
        # The network address: the IP with its host bits cleared. maxminddb gives an IPv4
        # address's prefix length relative to IPv4 even in an IPv6 database.
        host_bits = len(packed) * 8 - prefix_len
        network = (int.from_bytes(packed, "big") >> host_bits) << host_bits
        if len(packed) == 4:
            prefix = f"{inet_ntop(AF_INET, network.to_bytes(4, 'big'))}/{prefix_len}"
        else:
            prefix = f"{IPv6Address(network)}/{prefix_len}"  # the same text as ipaddress gives
        return AsnAnswer(asn, org or None, prefix, self.source)


def _parse_asn(value: object) -> int | None:
    """IPinfo's "AS1234" (or a bare number) as an int; None if empty or not a number."""
    if isinstance(value, int):
        return value
    if not value or not isinstance(value, str):
        return None
    digits = value[2:] if value[:2] in ("AS", "as") else value
    return int(digits) if digits.isascii() and digits.isdigit() else None


def open_country_db(path: str | os.PathLike[str]) -> CountryDB:
    """Open a country database; raises DatabaseFileError naming the file if it is missing,
    unreadable, corrupt or not a country database."""
    return CountryDB(path)


def open_asn_db(path: str | os.PathLike[str]) -> AsnDB:
    """Open an ASN database; raises DatabaseFileError naming the file if it is missing,
    unreadable, corrupt or not an ASN database."""
    return AsnDB(path)
