"""An RDAP network object (the registry's JSON) read into an RdapNetwork, through ipwhois's parser.

ipwhois parses what it is given: ``RDAP(net).lookup(response=raw, bootstrap=True,
root_ent_check=False, depth=0, retry_count=0)`` fetches nothing more. Abuse e-mails come from
the entities with the role "abuse": for root-level entities as ipwhois parsed their vCard
(``objects[handle]['contact']['email']``); an abuse entity nested inside another (ARIN puts it
under the registrant organisation) is not parsed by ipwhois at depth 0 - depth 1 would fetch it
again from the real registry - so its vCard's ``email`` entries are read from the response,
which carries them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from ipwhois.rdap import RDAP as IpwhoisRDAP

from ..ips import Address

__all__ = ["RdapNetwork", "parse_network", "rate_limit_notice", "registry_of"]

# The whois server an RDAP network names (port43) tells its registry after a redirect.
_PORT43 = {
    "whois.arin.net": "arin",
    "whois.ripe.net": "ripencc",
    "whois.apnic.net": "apnic",
    "whois.lacnic.net": "lacnic",
    "whois.afrinic.net": "afrinic",
}


@dataclass(frozen=True, slots=True)
class RdapNetwork:
    """A registry's network object. ``cidr``: one or more prefixes, ", "-separated (a network
    may be a range that no single prefix covers). ``country`` is None where the registry gives
    none (ARIN networks)."""

    registry: str | None
    handle: str | None
    name: str | None
    cidr: str | None
    start_address: str | None
    end_address: str | None
    country: str | None
    abuse_emails: tuple[str, ...] = ()


def parse_network(net: Any, raw: dict[str, Any], registry: str) -> RdapNetwork:
    """``raw`` as an RdapNetwork of ``registry``; ipwhois's exceptions, KeyError, TypeError or
    ValueError for JSON that is not a network object."""
    parsed = IpwhoisRDAP(net).lookup(response=raw, bootstrap=True, root_ent_check=False, depth=0, retry_count=0)
    found = parsed["network"]
    start = address_of(found.get("start_address"))
    end = address_of(found.get("end_address"))
    if start is None or end is None or start.version != end.version or int(start) > int(end):
        raise ValueError("no valid startAddress/endAddress")
    country = found.get("country")
    return RdapNetwork(
        registry=registry,
        handle=found.get("handle") or None,
        name=found.get("name") or None,
        cidr=found.get("cidr") or None,
        start_address=str(start),
        end_address=str(end),
        country=country.upper() if isinstance(country, str) and country else None,
        abuse_emails=_abuse_emails(raw, parsed.get("objects") or {}),
    )


def registry_of(raw: dict[str, Any], final_url: str, asked: str, servers: dict[str, str]) -> str:
    """Whose network this is. ARIN's server redirects to the registry holding the address, so
    the server asked may not be the answer's. The network's own whois server (port43) says it
    best; else the configured server the final URL belongs to; else the one asked."""
    port43 = raw.get("port43")
    if isinstance(port43, str) and port43.strip().lower() in _PORT43:
        return _PORT43[port43.strip().lower()]
    if not final_url.startswith(servers[asked].rstrip("/") + "/"):
        matches = [
            (len(base), registry) for registry, base in servers.items() if final_url.startswith(base.rstrip("/") + "/")
        ]
        if matches:
            return max(matches)[1]
    return asked


def rate_limit_notice(data: dict[str, Any]) -> bool:
    """Some registries answer 200 with a "Rate Limit Notice" instead of a 429."""
    notices = data.get("notices")
    if not isinstance(notices, list):
        return False
    return any(isinstance(n, dict) and n.get("title") == "Rate Limit Notice" for n in notices)


def address_of(text: Any) -> Address | None:
    """An address as a registry writes it ("192.0.2.0", "2001:db8::/32"), or None."""
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_address(text.strip().split("/")[0])
    except ValueError:
        return None


def _abuse_emails(raw: dict[str, Any], objects: dict[str, Any]) -> tuple[str, ...]:
    """The e-mail addresses of the entities with the role "abuse", at any depth, once each."""
    emails: list[str] = []

    def visit(entities: Any, root: bool) -> None:
        if not isinstance(entities, list):
            return
        for entity in entities:
            if not isinstance(entity, dict):
                continue
            roles = entity.get("roles") or []
            if isinstance(roles, list) and "abuse" in [str(role).lower() for role in roles]:
                parsed = objects.get(entity.get("handle")) if root else None
                contact = parsed.get("contact") if isinstance(parsed, dict) else None
                if isinstance(contact, dict):
                    emails.extend(e.get("value") for e in contact.get("email") or [] if isinstance(e, dict))
                else:
                    emails.extend(_vcard_emails(entity))
            visit(entity.get("entities"), False)

    visit(raw.get("entities"), True)
    seen: set[str] = set()
    unique = []
    for email in emails:
        if isinstance(email, str) and email.strip() and email.strip().lower() not in seen:
            seen.add(email.strip().lower())
            unique.append(email.strip())
    return tuple(unique)


def _vcard_emails(entity: dict[str, Any]) -> list[str]:
    """The email properties of an entity's jCard (RFC 7095): ["email", {params}, "text", value]."""
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return []
    return [
        prop[3]
        for prop in card[1]
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email" and isinstance(prop[3], str)
    ]
