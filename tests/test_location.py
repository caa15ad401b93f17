"""One path from addresses to a location (monitor.resolve.location.locate), and the crawl's uses of
it (monitor.crawl.locations.Places): a URL's own host, a redirect target, a hoster."""

from __future__ import annotations

import pytest

from monitor.crawl.locations import Places
from monitor.resolve.dns import DnsAnswer
from monitor.resolve.enrich import IpInfo
from monitor.resolve.geo import Source
from monitor.resolve.location import Location, locate

COUNTRY = Source("GeoLite2-Country", "2026-11-01T00:00:00Z", "/data/country.mmdb")
ASN = Source("GeoLite2-ASN", "2026-11-01T00:00:00Z", "/data/asn.mmdb")

INFOS = {
    "192.0.2.1": IpInfo("192.0.2.1", "NL", 64501, "Polder Hosting B.V.", sources={"country": COUNTRY, "asn": ASN}),
    "192.0.2.2": IpInfo("192.0.2.2", "DE", 64511, "Rhein Server GmbH", sources={"country": COUNTRY}),
    "198.51.100.1": IpInfo("198.51.100.1", "US", 13335, "CLOUDFLARENET", cdn="Cloudflare"),
    "198.51.100.2": IpInfo("198.51.100.2", "NL", 13335, "CLOUDFLARENET", cdn="Cloudflare"),
    "203.0.113.9": IpInfo("203.0.113.9"),  # enriched, nothing known
}


def test_a_location_is_sorted_sets_over_the_enriched_addresses():
    location = locate(["192.0.2.2", "192.0.2.1", "192.0.2.2", "203.0.113.50"], INFOS)
    assert location == Location(
        ips=("192.0.2.1", "192.0.2.2", "203.0.113.50"),  # every address, enriched or not
        countries=("DE", "NL"), asns=(64501, 64511), as_orgs=("Polder Hosting B.V.", "Rhein Server GmbH"),
        cdn=False, sources=(ASN, COUNTRY))
    assert location.resolved


def test_behind_a_cdn_only_when_every_enriched_address_is_an_edge():
    assert locate(["198.51.100.1", "198.51.100.2"], INFOS).cdn is True
    assert locate(["198.51.100.1", "192.0.2.1"], INFOS).cdn is False  # an origin shows through
    assert locate(["198.51.100.1", "203.0.113.50"], INFOS).cdn is True  # not enriched: says nothing
    assert locate(["203.0.113.50"], INFOS).cdn is False  # nothing known, nothing to mark
    assert locate(["203.0.113.9"], INFOS) == Location(ips=("203.0.113.9",))


def test_no_addresses_no_location():
    assert locate([], INFOS) == Location() and not Location().resolved


@pytest.fixture
def places():
    answers = {"img.alpha.test": DnsAnswer("img.alpha.test", "ok", (), ("192.0.2.2", "192.0.2.1")),
               "gone.beta.test": DnsAnswer("gone.beta.test", "nxdomain", (), ())}
    return Places(answers, INFOS)


def test_a_urls_location_is_its_own_hosts(places):
    assert places.url_columns("img.alpha.test") == ('["DE", "NL"]', "[64501, 64511]")
    assert places.url_columns("gone.beta.test") == (None, None)
    assert places.url_columns("never.resolved.test") == (None, None)
    assert places.url_columns(None) == (None, None)


def test_a_redirect_target_is_located_by_the_crawls_enrichment_else_the_mmdb_files(places):
    assert places.final_host_detail("cdn.other.test", ["198.51.100.1"]) == (
        'final host cdn.other.test: 198.51.100.1; countries ["US"]; asns [13335]')
    assert places.final_host_detail("far.other.test", ["192.0.2.200"]) == (
        "final host far.other.test: 192.0.2.200; countries []; asns []")  # nothing to ask
    assert places.final_host_detail("lost.other.test", None) == "final host lost.other.test"

    asked = []

    class Offline:  # an Enricher over .mmdb files only
        def enrich(self, ip):
            asked.append(ip)
            return IpInfo(ip, "CA", 64561, "Maple Metal Hosting")

    places.other = Offline()
    for _ in range(2):
        assert places.final_host_detail("far.other.test", ["192.0.2.200", "192.0.2.1"]) == (
            'final host far.other.test: 192.0.2.200, 192.0.2.1; countries ["CA", "NL"]; asns [64501, 64561]')
    assert asked == ["192.0.2.200"]  # once; the crawl's own enrichment is used where it has one


def test_hoster_states_from_the_addresses_of_their_hosts(places):
    states = dict(places.hoster_states({1: {"192.0.2.1", "192.0.2.2"}, 2: set(),
                                        3: {"198.51.100.1", "198.51.100.2"}}))
    assert states[1] == ("located", '["DE", "NL"]', "[64501, 64511]",
                         '["Polder Hosting B.V.", "Rhein Server GmbH"]', '["192.0.2.1", "192.0.2.2"]', 0)
    assert states[2] == ("unresolved", None, None, None, None, 0)
    assert states[3][0] == "located" and states[3][-1] == 1  # behind a CDN
