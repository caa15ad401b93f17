"""`monitor lookup`: what a crawl would record for one host or IP."""

from __future__ import annotations

from sqlite_utils import Database

from ..config import Config
from ..errors import InputError
from ..urls import InvalidURL, canonical_host, hoster_of, normalise
from .dns import resolve_hosts
from .enrich import Enricher


def lookup(config: Config, query: str, db: Database | None = None) -> dict:
    """Resolution and enrichment of a host, IP or URL, as the design's `lookup` JSON."""
    try:
        host = normalise(query).host if "://" in query else canonical_host(query.strip().strip("[]"))
    except InvalidURL as error:
        raise InputError(f"{query}: not a host name, IP address or URL ({error})") from None
    (answer,) = resolve_hosts([host], config.dns)
    with Enricher(config, db) as enricher:
        addresses = [info.to_json() for info in enricher.enrich_many(answer.ips)]
    return {
        "query": query,
        "host": host,
        "hoster": hoster_of(host),
        "dns": {"status": answer.status, "cname_chain": list(answer.cname_chain), "detail": answer.detail},
        "addresses": addresses,
    }


def lookup_rows(result: dict) -> list[dict]:
    """The addresses of a lookup flattened into table rows."""
    rows = []
    for address in result["addresses"]:
        rdap = address["rdap"] or {}
        rows.append({
            "ip": address["ip"],
            "country": address["country"],
            "asn": address["asn"],
            "as_org": address["as_org"],
            "registry_country": address["registry_country"],
            "prefix": address["prefix"],
            "cdn": address["cdn_operator"] or "",
            "rdap_network": " ".join(filter(None, [rdap.get("name"), rdap.get("cidr")])) or address["rdap_status"],
            "abuse": rdap.get("abuse_emails", []),
            "sources": sorted({f"{s['name']} {s['build'] or ''}".strip() for s in address["sources"].values()}),
        })
    return rows
