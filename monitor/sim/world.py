"""A small simulated internet on loopback: networks in countries, a DNS server, .mmdb files, and a
config that points monitor at them. Shared by end-to-end tests, `monitor demo` and benchmarks.

Every network is a 127.x.y.0/24 block with a country and an AS, so hosts can "move abroad" by
getting an address in another block between two crawls, while all traffic stays on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .dns import DNSServer
from .mmdb import write_asn_db, write_country_db


@dataclass(frozen=True)
class Network:
    cidr: str  # a 127.x.y.0/24 block
    country: str
    asn: int
    org: str

    def address(self, n: int = 1) -> str:
        return self.cidr.rsplit(".", 1)[0] + f".{n}"


# Documentation-range ASNs (RFC 5398) except where the ASN is the point (13335: an edge network).
NETWORKS = {
    "nl": Network("127.1.1.0/24", "NL", 64501, "Polder Hosting B.V."),
    "nl2": Network("127.1.2.0/24", "NL", 64502, "Dijk Datacenter"),
    "de": Network("127.2.1.0/24", "DE", 64511, "Rhein Server GmbH"),
    "md": Network("127.3.1.0/24", "MD", 64521, "Nistru Hosting SRL"),
    "ru": Network("127.4.1.0/24", "RU", 64531, "Volga Host LLC"),
    "sc": Network("127.5.1.0/24", "SC", 64541, "Offshore Racks Ltd"),
    "us": Network("127.6.1.0/24", "US", 64551, "Prairie Cloud Inc"),
    "cdn": Network("127.7.1.0/24", "US", 13335, "CLOUDFLARENET"),
    "ca": Network("127.8.1.0/24", "CA", 64561, "Maple Metal Hosting"),
}


class World:
    """Start it, point a config at it, change DNS between nights."""

    def __init__(self, folder: Path, *, networks: dict[str, Network] | None = None, dns_delay: float = 0.0):
        self.folder = Path(folder)
        self.networks = networks or NETWORKS
        self.dns = DNSServer(delay=dns_delay)
        self.country_db = self.folder / "world-country.mmdb"
        self.asn_db = self.folder / "world-asn.mmdb"

    def start(self) -> World:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_country_db(self.country_db, {n.cidr: n.country for n in self.networks.values()})
        write_asn_db(self.asn_db, {n.cidr: (n.asn, n.org) for n in self.networks.values()})
        self.dns.start()
        return self

    def stop(self) -> None:
        self.dns.stop()

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def place(self, host: str, *where: str, n: int = 1) -> None:
        """Point host at address n of each named network (several: a round-robin set)."""
        self.dns.set_a(host, [self.networks[name].address(n) for name in where])

    def config_text(self, database: Path, **crawl: object) -> str:
        """A config for this world: its DNS server, its databases; no Team Cymru or RDAP (they
        know no 127.x address); private addresses allowed, since every address here is loopback.
        ``crawl`` adds keys of the crawl section (paths become text)."""
        config = {
            "database": str(database),
            "home_country": "NL",
            "dns": {"nameservers": ["127.0.0.1"], "port": self.dns.port, "timeout": 1.0},
            "geoip": {"country_db": str(self.country_db), "asn_db": str(self.asn_db)},
            "asn": {"cymru_dns": False},
            "rdap": {"enabled": False},
            "crawl": {"allow_private_addresses": True, **{key: _plain(value) for key, value in crawl.items()}},
        }
        return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)

    def write_config(self, path: Path, database: Path, **crawl: object) -> Path:
        path.write_text(self.config_text(database, **crawl), encoding="utf-8")
        return path


def _plain(value: object) -> object:
    """A value YAML can hold as it is; anything else (a Path) as its text."""
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)
