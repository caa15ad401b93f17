"""Enrichment speed from .mmdb files: IPs/s through Enricher (country, ASN, CDN marking).

    python benchmarks/enrich_ips.py [--ips 200000] [--networks 5000]

Builds a country and an ASN database with mmdb-writer (random /24 networks over several
countries and ASNs), then enriches random addresses from those networks, each once, as a crawl
does. Team Cymru and RDAP are off: they are network services behind per-prefix caches.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import tempfile
import time
from pathlib import Path

from monitor.config import ASN, RDAP, Config, GeoIP
from monitor.resolve.enrich import Enricher
from monitor.sim.mmdb import write_asn_db, write_country_db

COUNTRIES = ["NL", "DE", "MD", "RU", "US", "SC", "PA", "HK", "GB", "FR"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ips", type=int, default=200_000)
    parser.add_argument("--networks", type=int, default=5_000)
    args = parser.parse_args()
    rng = random.Random(7)
    networks = sorted({f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
                       for _ in range(args.networks)})
    with tempfile.TemporaryDirectory() as tmp:
        country_db = write_country_db(Path(tmp) / "c.mmdb", {n: rng.choice(COUNTRIES) for n in networks})
        asn_db = write_asn_db(Path(tmp) / "a.mmdb",
                              {n: (a := rng.choice([13335, 64500, 64501, 64502, 9009]), f"AS{a}") for n in networks})
        ips = list({str(ipaddress.ip_network(rng.choice(networks))[rng.randrange(1, 255)]) for _ in range(args.ips)})
        config = Config(geoip=GeoIP(country_db=country_db, asn_db=asn_db), asn=ASN(cymru_dns=False),
                        rdap=RDAP(enabled=False))
        with Enricher(config) as enricher:
            started = time.perf_counter()
            located = sum(1 for info in enricher.enrich_many(ips) if info.country)
            elapsed = time.perf_counter() - started
    print(f"enriched {len(ips):,} IPs ({located:,} located) in {elapsed:.2f} s: {len(ips) / elapsed:,.0f} IPs/s")


if __name__ == "__main__":
    main()
