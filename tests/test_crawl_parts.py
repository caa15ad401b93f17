"""The crawl's parts, each on its own and without crawling: the resolver answering from the crawl's
cache, the spider's requests and outcomes on hand-made responses, and the item pipelines."""

from __future__ import annotations

import ipaddress
import json

import pytest
from scrapy.exceptions import CannotResolveHostError, DownloadFailedError, DownloadTimeoutError, StopDownload
from scrapy.http import Request, Response
from scrapy.settings import Settings
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed

from monitor.crawl.pipelines import Observation
from monitor.crawl.pipelines.outcome_stats import OutcomeStatsPipeline, outcomes
from monitor.crawl.pipelines.url_states import UrlStatesPipeline
from monitor.crawl.resolver import HostCache, HostEntry, StoreResolver, is_private
from monitor.intake import add_urls
from monitor.spiders.revisit import RevisitSpider, describe, outcome_for
from monitor.store import history

# Public addresses as data only: nothing here connects anywhere.
PUBLIC = "93.184.216.34"
PUBLIC6 = "2606:2800:220:1:248:1893:25c8:1946"
LOOPBACK = "127.1.1.1"


# -- a store with one crawl's DNS answers and enrichment --------------------------------------


@pytest.fixture
def crawl(db, tmp_path):
    """(database path, crawl id) with hosts resolved and their IPs enriched."""
    add_urls(db, [
        "http://img.alpha.test/1.jpg", "http://img.alpha.test/2.jpg", "http://local.beta.test/x",
        "http://gone.gamma.test/y", "http://mixed.delta.test/z", "http://v6.eps.test/",
    ], lambda rejected: None)
    crawl_id = history.begin_crawl(db, "head", {})
    writers = history.writers(db)
    writers["hosts"].write(crawl_id, [
        ("img.alpha.test", ("ok", None, json.dumps([PUBLIC]))),
        ("local.beta.test", ("ok", None, json.dumps([LOOPBACK]))),
        ("gone.gamma.test", ("nxdomain", None, "[]")),
        ("mixed.delta.test", ("ok", None, json.dumps([LOOPBACK, PUBLIC]))),
        ("v6.eps.test", ("ok", None, json.dumps([PUBLIC6]))),
    ])
    writers["ips"].write(crawl_id, [
        (PUBLIC, ("US", None, 15133, "EDGECAST", None, None, None, None, None, "disabled")),
        (LOOPBACK, ("NL", None, 64501, "Polder", None, None, None, None, None, "disabled")),
    ])
    return str(tmp_path / "monitor.db"), crawl_id


class ThreadPool:
    """Runs 'threaded' work at once, in the caller's thread."""

    def callInThreadWithCallback(self, on_result, func, *args, **kwargs):
        try:
            result = func(*args, **kwargs)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)


class Reactor:
    def __init__(self):
        self.pool = ThreadPool()
        self.installed = None

    def getThreadPool(self):
        return self.pool

    def callFromThread(self, func, *args, **kwargs):
        func(*args, **kwargs)

    def installNameResolver(self, resolver):
        self.installed = resolver


class Receiver:
    def __init__(self):
        self.began = None
        self.addresses = []
        self.complete = False

    def resolutionBegan(self, resolution):
        self.began = resolution

    def addressResolved(self, address):
        self.addresses.append(address)

    def resolutionComplete(self):
        self.complete = True


def resolve(resolver, host, port=8080, types=None):
    receiver = Receiver()
    resolver.resolveHostName(receiver, host, port, types)
    assert receiver.complete and receiver.began.name == host.lower()
    return receiver.addresses


# -- resolver ---------------------------------------------------------------------------------


def test_private_addresses():
    assert all(is_private(ip) for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1",
                                         "169.254.1.1", "224.0.0.1", "240.0.0.1", "0.0.0.0",
                                         "100.64.0.1", "::1", "fe80::1", "fc00::1", "ff02::1",
                                         "::ffff:127.0.0.1", "192.0.2.1"))
    assert not any(is_private(ip) for ip in (PUBLIC, PUBLIC6, "8.8.8.8"))


def test_cache_reads_this_crawls_answers_with_their_location(crawl):
    database, crawl_id = crawl
    hosts = HostCache(database, crawl_id)
    entry = hosts.get("IMG.alpha.test.")
    assert entry == HostEntry("img.alpha.test", "ok", (PUBLIC,), '["US"]', "[15133]")
    assert hosts.get("gone.gamma.test") == HostEntry("gone.gamma.test", "nxdomain", (), None, None)
    assert hosts.get("never.seen.test") is None  # not resolved by this crawl
    assert hosts.get("203.0.113.9").ips == ("203.0.113.9",)  # an IP literal is its own answer
    assert HostCache(database, crawl_id + 1).get("img.alpha.test") is None  # another crawl's
    hosts.close()


def test_cache_is_bounded(crawl):
    hosts = HostCache(*crawl, size=2)
    for host in ("img.alpha.test", "local.beta.test", "gone.gamma.test", "v6.eps.test"):
        hosts.get(host)
    assert len(hosts._entries) == 2
    assert hosts.get("img.alpha.test").ips == (PUBLIC,)  # read again from the store
    hosts.close()


def test_resolver_answers_from_the_cache(crawl):
    reactor = Reactor()
    asked = []
    hosts = HostCache(*crawl, lookup=lambda host: asked.append(host))
    resolver = StoreResolver(reactor, hosts, allow_private=False)
    resolver.install_on_reactor()
    assert reactor.installed is resolver
    assert resolve(resolver, "img.alpha.test") == [IPv4Address("TCP", PUBLIC, 8080)]
    assert resolve(resolver, "v6.eps.test", 443) == [IPv6Address("TCP", PUBLIC6, 443)]
    assert resolve(resolver, "v6.eps.test", 443, types=[IPv4Address]) == []
    assert resolve(resolver, "gone.gamma.test") == []
    assert asked == []  # everything came from the crawl's own answers
    hosts.close()


def test_resolver_never_hands_out_private_addresses_unless_allowed(crawl):
    hosts = HostCache(*crawl)
    refusing = StoreResolver(Reactor(), hosts, allow_private=False)
    assert resolve(refusing, "local.beta.test") == []
    assert resolve(refusing, "mixed.delta.test") == [IPv4Address("TCP", PUBLIC, 8080)]
    assert resolve(refusing, "127.0.0.1") == []
    allowing = StoreResolver(Reactor(), hosts, allow_private=True)
    assert resolve(allowing, "local.beta.test") == [IPv4Address("TCP", LOOPBACK, 8080)]
    assert [a.host for a in resolve(allowing, "mixed.delta.test")] == [LOOPBACK, PUBLIC]
    hosts.close()


def test_resolver_resolves_other_hosts_through_our_dns_once(crawl):
    asked = []

    def lookup(host):
        asked.append(host)
        return {"files.other.test": HostEntry(host, "ok", (LOOPBACK,)),
                "cdn.other.test": HostEntry(host, "ok", (PUBLIC,))}.get(host, HostEntry(host, "nxdomain"))

    hosts = HostCache(*crawl, lookup=lookup)
    resolver = StoreResolver(Reactor(), hosts, allow_private=False)
    assert resolve(resolver, "cdn.other.test") == [IPv4Address("TCP", PUBLIC, 8080)]
    assert resolve(resolver, "cdn.other.test") == [IPv4Address("TCP", PUBLIC, 8080)]
    assert resolve(resolver, "files.other.test") == []  # loopback: refused
    assert resolve(resolver, "nowhere.other.test") == []
    assert asked == ["cdn.other.test", "files.other.test", "nowhere.other.test"]
    # Added to the cache with the location this crawl knows for the addresses
    assert hosts.get("cdn.other.test") == HostEntry("cdn.other.test", "ok", (PUBLIC,), '["US"]', "[15133]")
    assert hosts.get("nowhere.other.test").status == "nxdomain"
    hosts.close()


def test_a_broken_lookup_is_a_failed_resolution_not_a_crash(crawl):
    def lookup(host):
        raise OSError("no sockets left")

    hosts = HostCache(*crawl, lookup=lookup)
    assert resolve(StoreResolver(Reactor(), hosts, allow_private=True), "x.other.test") == []
    assert hosts.get("x.other.test").status == "error"
    hosts.close()


def test_resolver_built_from_crawler_settings_shares_the_spiders_cache(crawl):
    database, crawl_id = crawl

    class Crawler:
        settings = Settings({"MONITOR_DATABASE": database, "MONITOR_CRAWL_ID": crawl_id,
                             "MONITOR_ALLOW_PRIVATE": True, "MONITOR_DNS": None})

    resolver = StoreResolver.from_crawler(Crawler(), Reactor())
    assert resolver.allow_private is True
    assert resolver.hosts is HostCache.shared(Crawler.settings)
    resolver.hosts.close()


# -- spider: requests and outcomes ------------------------------------------------------------


@pytest.fixture
def spider(crawl):
    hosts = HostCache(*crawl)
    yield RevisitSpider(hosts=hosts, database=crawl[0], allow_private=False, max_redirects=3, timeout=2.0)
    hosts.close()


def test_urls_stream_in_id_order_a_page_at_a_time(spider):
    urls = list(spider.urls(page=2))
    assert [u[0] for u in urls] == [1, 2, 3, 4, 5, 6]
    assert urls[0][1:] == ("http://img.alpha.test/1.jpg", "img.alpha.test")
    spider.limit = 3
    assert [u[0] for u in spider.urls(page=2)] == [1, 2, 3]


def test_first_request_is_a_head_to_a_host_that_resolved(spider):
    request = spider.begin(1, "http://img.alpha.test/1.jpg", "img.alpha.test")
    assert isinstance(request, Request)
    assert request.method == "HEAD" and request.url == "http://img.alpha.test/1.jpg"
    assert request.dont_filter and request.meta["dont_redirect"] and request.meta["handle_httpstatus_all"]
    assert request.callback == spider.parse and request.errback == spider.failed
    assert request.meta["monitor"]["countries"] == '["US"]'


def test_no_request_for_unresolved_or_private_hosts(spider):
    gone = spider.begin(4, "http://gone.gamma.test/y", "gone.gamma.test")
    assert gone == Observation(4, "unresolved", detail="nxdomain")
    local = spider.begin(3, "http://local.beta.test/x", "local.beta.test")
    assert local.outcome == "refused-private" and "127.1.1.1" in local.detail
    assert (local.countries, local.asns, local.http_status) == ('["NL"]', "[64501]", None)
    # Some public address: the request goes out (the resolver hands out only that one)
    assert isinstance(spider.begin(5, "http://mixed.delta.test/z", "mixed.delta.test"), Request)
    spider.allow_private = True
    assert isinstance(spider.begin(3, "http://local.beta.test/x", "local.beta.test"), Request)


def respond(request: Request, status: int, ip: str | None = PUBLIC, **headers: str) -> Response:
    return Response(request.url, status=status, headers=headers, request=request,
                    ip_address=ipaddress.ip_address(ip) if ip else None)


def first(spider, url="http://img.alpha.test/1.jpg", url_id=1):
    return spider.begin(url_id, url, "img.alpha.test")


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "online"), (204, "online"), (404, "removed"), (410, "removed"), (403, "http-error"),
    (500, "http-error"), (503, "http-error"), (300, "http-error")])
def test_status_to_outcome(spider, status, outcome):
    assert outcome_for(status) == (outcome if status != 300 else "http-error")
    [observation] = spider.parse(respond(first(spider), status))
    assert observation == Observation(1, outcome, status, "http://img.alpha.test/1.jpg", PUBLIC, [],
                                      '["US"]', "[15133]",
                                      "redirect without a Location" if status == 300 else None)


@pytest.mark.parametrize("refused", [405, 501])
def test_head_refused_gives_one_get_recorded_with_the_heads_address(spider, refused):
    [get] = spider.parse(respond(first(spider), refused))
    assert get.method == "GET" and get.url == "http://img.alpha.test/1.jpg"
    # a GET stopped at its headers has no address of its own: the HEAD's connection's is kept
    [observation] = spider.parse(respond(get, 200, ip=None))
    assert (observation.outcome, observation.http_status, observation.connected_ip) == ("online", 200, PUBLIC)
    [refused_again] = spider.parse(respond(get, refused))  # no second fallback
    assert refused_again.outcome == "http-error"


def test_get_is_stopped_at_its_headers_and_any_body_byte_stops_any_download(spider):
    head = first(spider)
    get = head.replace(method="GET")
    spider.on_headers(headers={}, body_length=10, request=head)  # a HEAD goes on
    with pytest.raises(StopDownload) as stopped:
        spider.on_headers(headers={}, body_length=10, request=get)
    assert stopped.value.fail is False
    for request in (head, get):
        with pytest.raises(StopDownload):
            spider.on_bytes(data=b"x", request=request)


def test_redirects_are_followed_and_recorded(spider):
    [hop] = spider.parse(respond(first(spider), 301, Location="/2.jpg"))
    assert hop.method == "HEAD" and hop.url == "http://img.alpha.test/2.jpg"
    [hop2] = spider.parse(respond(hop, 302, Location="http://v6.eps.test/final"))
    [observation] = spider.parse(respond(hop2, 200, ip=PUBLIC6))
    assert observation.outcome == "online" and observation.final_url == "http://v6.eps.test/final"
    assert observation.redirects == ["http://img.alpha.test/2.jpg", "http://v6.eps.test/final"]
    assert observation.connected_ip == PUBLIC6
    # the location is the URL's own host's; where it ended is in the detail
    assert (observation.countries, observation.asns) == ('["US"]', "[15133]")
    assert observation.detail.startswith(f"final host v6.eps.test: {PUBLIC6}")
    assert json.loads(observation.state()[4]) == observation.redirects


def test_redirect_to_a_private_host_is_not_followed(spider):
    [observation] = spider.parse(respond(first(spider), 301, Location="http://local.beta.test/x"))
    assert isinstance(observation, Observation) and observation.outcome == "refused-private"
    assert observation.redirects == ["http://local.beta.test/x"]
    assert (observation.http_status, observation.final_url) == (301, "http://img.alpha.test/1.jpg")
    [literal] = spider.parse(respond(first(spider), 301, Location="http://10.0.0.8/admin"))
    assert literal.outcome == "refused-private"


def test_redirect_to_a_host_first_seen_goes_to_the_resolver(spider):
    [hop] = spider.parse(respond(first(spider), 301, Location="http://elsewhere.test/"))
    assert isinstance(hop, Request)
    # The resolver found only private addresses for it and handed out none: refused-private
    spider.hosts.add("elsewhere.test", "ok", [LOOPBACK])
    failure = Failure(CannotResolveHostError("no results"))
    failure.request = hop
    [observation] = spider.failed(failure)
    assert observation.outcome == "refused-private" and observation.redirects == ["http://elsewhere.test/"]
    # ... or none at all
    spider.hosts.add("elsewhere.test", "nxdomain", [])
    [observation] = spider.failed(failure)
    assert observation.outcome == "unreachable" and "nxdomain" in observation.detail


def test_redirect_loops_and_too_many_redirects(spider):
    [hop] = spider.parse(respond(first(spider), 301, Location="/a"))
    [loop] = spider.parse(respond(hop, 301, Location="http://img.alpha.test/1.jpg"))
    assert loop.outcome == "redirect-loop"
    assert loop.redirects == ["http://img.alpha.test/a", "http://img.alpha.test/1.jpg"]
    request = first(spider)
    for n in range(3):
        [request] = spider.parse(respond(request, 302, Location=f"/hop{n}"))
    [too_many] = spider.parse(respond(request, 302, Location="/hop3"))
    assert too_many.outcome == "too-many-redirects" and len(too_many.redirects) == 4
    [odd] = spider.parse(respond(first(spider), 301, Location="ftp://img.alpha.test/1.jpg"))
    assert odd.outcome == "http-error" and "not followed" in odd.detail


def test_failures_are_unreachable_named_by_class_only(spider):
    request = first(spider)
    try:
        try:
            raise ResponseFailed([Failure(ConnectionLost("SECRET server bytes"))])
        except ResponseFailed as cause:
            raise DownloadFailedError(str(cause)) from cause
    except DownloadFailedError:
        failure = Failure()
    failure.request = request
    [observation] = spider.failed(failure)
    assert observation == Observation(1, "unreachable", None, "http://img.alpha.test/1.jpg", None, [],
                                      '["US"]', "[15133]", "DownloadFailedError: ResponseFailed(ConnectionLost)")
    assert "SECRET" not in describe(failure)
    timeout = Failure(DownloadTimeoutError("took too long"))
    timeout.request = request
    [observation] = spider.failed(timeout)
    assert observation.detail == "DownloadTimeoutError after 2 s"


# -- pipelines --------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.values = {}

    def inc_value(self, key, count=1):
        self.values[key] = self.values.get(key, 0) + count


def test_outcome_stats_pipeline_counts_outcomes():
    class Crawler:
        stats = Stats()

    pipeline = OutcomeStatsPipeline.from_crawler(Crawler())
    for outcome in ("online", "online", "removed"):
        item = Observation(1, outcome)
        assert pipeline.process_item(item) is item
    assert Crawler.stats.values["monitor/urls"] == 3
    assert outcomes(Crawler.stats.values) == {"online": 2, "removed": 1}


def test_url_states_pipeline_writes_intervals_in_batches(db, tmp_path):
    add_urls(db, ["http://a.test/1", "http://a.test/2", "http://a.test/3"], lambda rejected: None)
    nights = []
    for _ in range(2):  # one crawl runs at a time
        nights.append(history.begin_crawl(db, "head", {}))
        history.finish_crawl(db, nights[-1], "complete", {}, [])

    class Crawler:
        settings = Settings({"MONITOR_DATABASE": str(tmp_path / "monitor.db"), "MONITOR_CRAWL_ID": nights[0]})

    first_night = UrlStatesPipeline.from_crawler(Crawler())
    first_night.batch_size = 2
    first_night.open_spider()
    online = Observation(1, "online", 200, "http://a.test/1", "127.1.1.1", [], '["NL"]', "[64501]")
    moved = Observation(2, "online", 200, "http://b.test/2", "127.2.1.1", ["http://b.test/2"], '["NL"]', "[64501]")
    gone = Observation(3, "removed", 404, "http://a.test/3", "127.1.1.1", [], '["NL"]', "[64501]")
    for item in (online, moved):
        first_night.process_item(item)
    assert first_night.written == 2 and first_night.pending == []  # one batch, written
    first_night.process_item(gone)
    assert db.execute("SELECT COUNT(*) FROM url_states").fetchone()[0] == 2
    first_night.close_spider()
    assert first_night.written == 3

    second_night = UrlStatesPipeline(str(tmp_path / "monitor.db"), nights[1])
    second_night.open_spider()
    second_night.process_item(online)  # unchanged: the interval grows
    second_night.process_item(Observation(2, "unreachable", None, "http://b.test/2", None, ["http://b.test/2"],
                                          '["NL"]', "[64501]", "DownloadTimeoutError after 2 s"))
    second_night.close_spider()
    rows = [tuple(r) for r in db.execute(
        "SELECT url_id, first_crawl, last_crawl, outcome, redirects FROM url_states ORDER BY url_id, first_crawl")]
    assert rows == [
        (1, nights[0], nights[1], "online", None),
        (2, nights[0], nights[0], "online", '["http://b.test/2"]'),
        (2, nights[1], nights[1], "unreachable", '["http://b.test/2"]'),
        (3, nights[0], nights[0], "removed", None),
    ]


def test_invalid_redirect_targets_end_as_outcomes(spider):
    for location in ("http://[::1/x", "http://img.alpha.test:99999/x"):
        [observation] = spider.parse(respond(first(spider), 302, Location=location))
        assert isinstance(observation, Observation) and observation.outcome == "http-error", location
        assert "not followed" in observation.detail


def test_a_bug_in_handling_a_response_still_gives_the_url_a_state(spider, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(spider, "redirect", broken)
    [observation] = spider.parse(respond(first(spider), 301, Location="/x"))
    assert (observation.outcome, observation.detail) == ("error", "internal error: KeyError")
    assert "handling http://img.alpha.test/1.jpg failed" in caplog.text


def test_credentials_in_a_reported_url_are_not_sent_as_part_of_the_host(spider):
    request = spider.begin(1, "http://user:pw@img.alpha.test/1.jpg", "img.alpha.test")
    assert isinstance(request, Request)
    assert request.url == "http://img.alpha.test/1.jpg"
