"""The attribution each geolocation or ASN database's licence requires, from the builds recorded.

Countries and ASNs come from databases whose licences ask for a credit wherever their data is
shown: DB-IP Lite (CC BY 4.0), MaxMind GeoLite2 (GeoLite2 EULA, CC BY-SA 4.0) and IPinfo Lite
(CC BY-SA 4.0). Which ones were used is recorded with the values (the store's `sources` table,
each crawl's `sources` JSON), so the credit follows the data: a store crawled with DB-IP and later
with GeoLite2 credits both. Crediting a database that gave only some of the values shown is
harmless; leaving one out is a licence breach, so every output takes the whole store's set.

Names are the `.mmdb` files' `database_type` (e.g. "DBIP-Country-Lite", "GeoLite2-ASN",
"ipinfo lite.mmdb"); a name we do not recognise is credited by its own name rather than dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from sqlite_utils import Database

from ..store import report as stored

CC_BY = ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")
CC_BY_SA = ("CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/")
# Sources in the store that are not geolocation or ASN data: nothing to credit.
NOT_GEOLOCATION = frozenset({"networks.csv", "rdap"})


@dataclass(frozen=True)
class Attribution:
    provider: str
    text: str  # plain text, exactly as the licensor asks for it
    link_text: str  # the part of `text` the licensor wants linked
    url: str
    licence: str | None  # None: a paid licence that asks for no credit; we credit the source anyway
    licence_url: str | None
    databases: tuple[str, ...]  # "DBIP-Country-Lite (2026-11-01)": which builds this credit covers

    @property
    def html(self) -> str:
        """The text with the licensor's link (and the licence's) as HTML."""
        text = escape(self.text)
        if not self.url:
            return text
        linked = f'<a href="{escape(self.url)}">{escape(self.link_text)}</a>'
        text = text.replace(escape(self.link_text), linked, 1).replace(f" ({escape(self.url)})", "", 1)
        if self.licence and self.licence_url:
            licence = f'<a href="{escape(self.licence_url)}">{escape(self.licence)}</a>'
            text = text.replace(escape(self.licence), licence, 1)
        return text

    def to_json(self) -> dict:
        return {"provider": self.provider, "text": self.text, "html": self.html, "url": self.url,
                "licence": self.licence, "licence_url": self.licence_url, "databases": list(self.databases)}


# provider -> (text, linked part, url, licence): the wording each licensor asks for.
_DBIP_LITE = ("DB-IP", "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0",
              "IP Geolocation by DB-IP", "https://db-ip.com", CC_BY)
_DBIP = ("DB-IP", "IP Geolocation by DB-IP (https://db-ip.com)", "IP Geolocation by DB-IP", "https://db-ip.com",
         (None, None))
# The wording of the GeoLite2 EULA's attribution clause (MaxMind now also writes "GeoLite Data").
_GEOLITE = ("MaxMind", "This product includes GeoLite2 data created by MaxMind, available from "
            "https://www.maxmind.com, licensed under CC BY-SA 4.0", "https://www.maxmind.com",
            "https://www.maxmind.com", CC_BY_SA)
_GEOIP2 = ("MaxMind", "IP geolocation by MaxMind GeoIP2 (https://www.maxmind.com)", "MaxMind GeoIP2",
           "https://www.maxmind.com", (None, None))
_IPINFO = ("IPinfo", "IP address data powered by IPinfo (https://ipinfo.io), licensed under CC BY-SA 4.0",
           "IPinfo", "https://ipinfo.io", CC_BY_SA)
_CYMRU = ("Team Cymru", "AS numbers from Team Cymru's IP to ASN mapping service (https://www.team-cymru.com)",
          "Team Cymru's IP to ASN mapping service", "https://www.team-cymru.com", (None, None))


def _terms(name: str) -> tuple | None:
    lower = name.lower()
    if name in NOT_GEOLOCATION:
        return None
    if lower.startswith(("dbip", "db-ip")):
        return _DBIP_LITE if "lite" in lower else _DBIP
    if lower.startswith("geolite"):
        return _GEOLITE
    if lower.startswith("geoip"):
        return _GEOIP2
    if lower.startswith("ipinfo"):
        return _IPINFO  # the paid files ask for no credit, but the Lite one does and names alone may not tell
    if lower.startswith("team-cymru"):
        return _CYMRU
    return (name, f"IP data from {name}", name, "", (None, None))


def attributions(sources: Iterable[tuple[str, str]]) -> list[Attribution]:
    """The credits for these (name, build) sources: one per licensor wording, DB-IP first (the
    default databases), each naming the builds it covers."""
    grouped: dict[tuple, list[str]] = {}
    for name, build in sources:
        terms = _terms(name)
        if terms is not None:
            grouped.setdefault(terms, []).append(f"{name} ({build[:10]})" if build else name)
    found = [Attribution(provider, text, link, url, licence, licence_url, tuple(sorted(set(databases))))
             for (provider, text, link, url, (licence, licence_url)), databases in grouped.items()]
    order = ["DB-IP", "MaxMind", "IPinfo", "Team Cymru"]
    return sorted(found, key=lambda a: (order.index(a.provider) if a.provider in order else len(order), a.text))


def for_store(db: Database) -> list[Attribution]:
    """The credits for every geolocation and ASN database recorded in this store."""
    return attributions(stored.geolocation_sources(db))


def plain(found: list[Attribution]) -> str:
    """All credits as one line of plain text (a CSV cell, a terminal line, a chart's footer)."""
    return "; ".join(a.text for a in found)


def line(found: list[Attribution]) -> str:
    """The terminal's last line under a table that shows countries or ASNs ('' if nothing to credit)."""
    return f"Sources: {plain(found)}" if found else ""
