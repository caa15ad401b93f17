"""The crawl's parts, each on its own and without crawling: the worker's hosts and resolver
answering from a batch, the spider reading a batch and its requests and outcomes on hand-made
responses, and the item pipelines. No database: a worker has none."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os

import pytest
from scrapy.exceptions import CannotResolveHostError, DownloadFailedError, DownloadTimeoutError, StopDownload
from scrapy.http import Request, Response
from scrapy.settings import Settings
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed

from monitor.config import DNS
from monitor.crawl.pipelines import Observation
from monitor.crawl.pipelines.observation_lines import ObservationLinesPipeline
from monitor.crawl.pipelines.outcome_stats import OutcomeStatsPipeline, outcomes
from monitor.crawl.protocol import loads
from monitor.crawl.resolver import BatchResolver, HostEntry, Hosts, is_private
from monitor.sim.dns import DNSServer
from monitor.spiders.revisit import RevisitSpider, describe, outcome_for

# Public addresses as data only: nothing here connects anywhere.
PUBLIC = "93.184.216.34"
PUBLIC6 = "2606:2800:220:1:248:1893:25c8:1946"
LOOPBACK = "127.1.1.1"
WORKER = "test-host:4242"

# The batch's answers, as its host lines give them.
ANSWERS = {
    "img.alpha.test": ("ok", [PUBLIC]),
    "local.beta.test": ("ok", [LOOPBACK]),
    "gone.gamma.test": ("nxdomain", []),
    "mixed.delta.test": ("ok", [LOOPBACK, PUBLIC]),
    "v6.eps.test": ("ok", [PUBLIC6]),
}


def announced(**options) -> Hosts:
    hosts = Hosts(**options)
    for host, (status, ips) in ANSWERS.items():
        hosts.announce(host, status, ips)
    return hosts


class Reactor:
    """Only what the resolver may use of a reactor: no thread pool (a lookup runs on the loop)."""

    def __init__(self):
        self.installed = None

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
    """A lookup the batch answers: complete at once, no loop needed."""
    receiver = Receiver()
    resolver.resolveHostName(receiver, host, port, types)
    assert receiver.complete and receiver.began.name == host.lower()
    return receiver.addresses


def asking(resolver, host, port=8080):
    receiver = Receiver()
    resolver.resolveHostName(receiver, host, port)
    return receiver


async def answered(*receivers, turns=200):
    for _ in range(turns):
        if all(r.complete for r in receivers):
            return [r.addresses for r in receivers]
        await asyncio.sleep(0)
    raise AssertionError("the resolution never completed")


# -- the worker's hosts and resolver ----------------------------------------------------------


def test_private_addresses():
    assert all(is_private(ip) for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1",
                                         "169.254.1.1", "224.0.0.1", "240.0.0.1", "0.0.0.0",
                                         "100.64.0.1", "::1", "fe80::1", "fc00::1", "ff02::1",
                                         "::ffff:127.0.0.1", "192.0.2.1"))
    assert not any(is_private(ip) for ip in (PUBLIC, PUBLIC6, "8.8.8.8"))


def test_hosts_hold_the_batchs_answers():
    hosts = announced()
    assert hosts.get("IMG.alpha.test.") == HostEntry("img.alpha.test", "ok", (PUBLIC,))
    assert hosts.get("gone.gamma.test") == HostEntry("gone.gamma.test", "nxdomain", ())
    assert hosts.get("never.seen.test") is None  # not in the batch
    assert hosts.get("203.0.113.9").ips == ("203.0.113.9",)  # an IP literal is its own answer
    # A URL line takes its host's answer from the batch only
    assert hosts.use("img.alpha.test").ips == (PUBLIC,)
    assert hosts.use("203.0.113.9") is None and hosts.use("never.seen.test") is None


def test_a_host_let_go_by_the_window_stays_while_a_url_needs_it():
    hosts = Hosts(window=2)
    a = hosts.announce("a.test", "ok", [PUBLIC])
    hosts.announce("b.test", "ok", [PUBLIC])
    hosts.pin(a)  # a URL of a.test is in flight
    hosts.announce("c.test", "ok", [PUBLIC])
    hosts.announce("d.test", "ok", [PUBLIC])
    assert "a.test" not in hosts.window and "b.test" not in hosts.window
    assert hosts.get("a.test") == a  # still there for the URL's retries and redirects
    assert hosts.get("b.test") is None  # nothing needs it: gone
    assert hosts.use("a.test") is None  # but a new URL of it needs the host line again
    hosts.release("a.test")
    assert hosts.get("a.test") is None and hosts.pins == {}


def test_resolver_answers_from_the_batch():
    reactor = Reactor()
    asked = []

    async def lookup(host):
        asked.append(host)

    hosts = announced(lookup=lookup)
    resolver = BatchResolver(reactor, hosts, allow_private=False)
    resolver.install_on_reactor()
    assert reactor.installed is resolver
    assert resolve(resolver, "img.alpha.test") == [IPv4Address("TCP", PUBLIC, 8080)]
    assert resolve(resolver, "v6.eps.test", 443) == [IPv6Address("TCP", PUBLIC6, 443)]
    assert resolve(resolver, "v6.eps.test", 443, types=[IPv4Address]) == []
    assert resolve(resolver, "gone.gamma.test") == []
    assert asked == []  # everything came from the batch


def test_resolver_never_hands_out_private_addresses_unless_allowed():
    hosts = announced()
    refusing = BatchResolver(Reactor(), hosts, allow_private=False)
    assert resolve(refusing, "local.beta.test") == []
    assert resolve(refusing, "mixed.delta.test") == [IPv4Address("TCP", PUBLIC, 8080)]
    assert resolve(refusing, "127.0.0.1") == []
    allowing = BatchResolver(Reactor(), hosts, allow_private=True)
    assert resolve(allowing, "local.beta.test") == [IPv4Address("TCP", LOOPBACK, 8080)]
    assert [a.host for a in resolve(allowing, "mixed.delta.test")] == [LOOPBACK, PUBLIC]


def test_hosts_not_in_the_batch_are_looked_up_once_on_the_running_loop():
    asked = []

    async def lookup(host):
        asked.append(host)
        await asyncio.sleep(0)  # an answer that takes a while: a second asker waits for it
        return {"files.other.test": HostEntry(host, "ok", (LOOPBACK,)),
                "cdn.other.test": HostEntry(host, "ok", (PUBLIC,))}.get(host, HostEntry(host, "nxdomain"))

    async def scenario():
        hosts = announced(lookup=lookup)
        resolver = BatchResolver(Reactor(), hosts, allow_private=False)
        first, second = asking(resolver, "cdn.other.test"), asking(resolver, "CDN.other.test.")
        assert not first.complete  # in flight
        assert await answered(first, second) == [[IPv4Address("TCP", PUBLIC, 8080)]] * 2
        assert resolve(resolver, "cdn.other.test") == [IPv4Address("TCP", PUBLIC, 8080)]  # kept
        assert await answered(asking(resolver, "files.other.test")) == [[]]  # loopback: refused
        assert await answered(asking(resolver, "nowhere.other.test")) == [[]]
        assert hosts.get("nowhere.other.test").status == "nxdomain"
        return hosts

    hosts = asyncio.run(scenario())
    assert asked == ["cdn.other.test", "files.other.test", "nowhere.other.test"]
    assert hosts.get("cdn.other.test") == HostEntry("cdn.other.test", "ok", (PUBLIC,))


def test_a_broken_lookup_is_a_failed_resolution_not_a_crash():
    async def lookup(host):
        raise OSError("no sockets left")

    async def scenario():
        hosts = announced(lookup=lookup)
        assert await answered(asking(BatchResolver(Reactor(), hosts, allow_private=True), "x.other.test")) == [[]]
        return hosts

    assert asyncio.run(scenario()).get("x.other.test") == HostEntry("x.other.test", "error", (), "OSError")


def test_redirect_targets_go_through_one_long_lived_resolver():
    """Our DNS layer on the loop the lookups run on: one resolver for the worker's whole life."""
    with DNSServer() as server:
        server.set_a("one.other.test", ["192.0.2.10"])
        server.set_a("two.other.test", ["192.0.2.20"])
        server.set_nxdomain("gone.other.test")

        async def scenario():
            hosts = announced(dns=DNS(nameservers=("127.0.0.1",), port=server.port, timeout=1.0))
            resolver = BatchResolver(Reactor(), hosts, allow_private=True)
            one, two = asking(resolver, "one.other.test", 80), asking(resolver, "two.other.test", 80)
            assert await answered(one, two, turns=10_000) == [[IPv4Address("TCP", "192.0.2.10", 80)],
                                                              [IPv4Address("TCP", "192.0.2.20", 80)]]
            opened = hosts._resolver
            assert await answered(asking(resolver, "gone.other.test"), turns=10_000) == [[]]
            assert hosts._resolver is opened and opened is not None  # the same one, still open
            await hosts.close()
            assert hosts._resolver is None
            return hosts

        hosts = asyncio.run(scenario())
        assert hosts.get("gone.other.test").status == "nxdomain"
        asked = [name for name, _ in server.queries]
        assert sorted(set(asked)) == ["gone.other.test", "one.other.test", "two.other.test"]
        assert asked.count("one.other.test") == 2  # A and AAAA, once


def test_resolver_built_from_crawler_settings_shares_the_spiders_hosts():
    class Crawler:
        settings = Settings({"MONITOR_WORKER": WORKER, "MONITOR_ALLOW_PRIVATE": True, "MONITOR_DNS": None,
                             "MONITOR_HOST_WINDOW": 7})

    resolver = BatchResolver.from_crawler(Crawler(), Reactor())
    assert resolver.allow_private is True
    assert resolver.hosts is Hosts.shared(Crawler.settings)
    assert resolver.hosts.window.size == 7
    asyncio.run(resolver.hosts.close())
    assert resolver.hosts is not Hosts.shared(Crawler.settings)  # closed: forgotten
    asyncio.run(Hosts.shared(Crawler.settings).close())


# -- spider: reading the batch ------------------------------------------------------------------


@pytest.fixture
def spider():
    return RevisitSpider(hosts=announced(), allow_private=False, max_redirects=3, timeout=2.0, worker=WORKER)


def read(spider):
    async def collect():
        return [item async for item in spider.start()]

    return asyncio.run(collect())


def host_line(host):
    status, ips = ANSWERS[host]
    return {"host": host, "status": status, "ips": ips, "detail": None}


def test_the_batch_is_read_line_by_line_hosts_before_their_urls():
    lines = [{"settings": {}}, host_line("img.alpha.test"),
             {"url": "http://img.alpha.test/1.jpg", "id": 1, "host": "img.alpha.test"},
             json.dumps(host_line("gone.gamma.test")),  # as text, as a pipe gives it
             b'{"url": "http://gone.gamma.test/y", "id": 4, "host": "gone.gamma.test"}\n',
             {"url": "http://late.test/z", "id": 9, "host": "late.test"},  # never announced
             {"end": 3}]
    spider = RevisitSpider(hosts=Hosts(), lines=lines, worker=WORKER)
    request, gone, late = read(spider)
    assert isinstance(request, Request) and request.url == "http://img.alpha.test/1.jpg"
    assert gone == Observation(4, "unresolved", detail="nxdomain", host="gone.gamma.test", worker=WORKER)
    assert late == Observation(9, "unresolved", detail="not resolved by this crawl", host="late.test",
                               worker=WORKER)
    assert (spider.read, spider.input_error) == (3, None)


@pytest.mark.parametrize(("lines", "error"), [
    ([{"url": "http://a.test/", "id": 1, "host": "a.test"}], "ended without its end line"),
    ([{"url": "http://a.test/", "id": 1, "host": "a.test"}, {"end": 2}], "counts 2 URLs, 1 came"),
    ([{"url": "http://a.test/", "id": "one", "host": "a.test"}, {"end": 1}], "ValueError"),
    (["{not json", {"end": 0}], "not a JSON line"),
    ([{"what": 1}, {"end": 0}], "unknown message"),
])
def test_a_batch_that_cannot_be_read_says_so(lines, error):
    spider = RevisitSpider(hosts=Hosts(), lines=lines, worker=WORKER)
    read(spider)
    assert error in spider.input_error


# -- spider: requests and outcomes ------------------------------------------------------------


def test_first_request_is_a_head_to_a_host_that_resolved(spider):
    request = spider.begin(1, "http://img.alpha.test/1.jpg", "img.alpha.test")
    assert isinstance(request, Request)
    assert request.method == "HEAD" and request.url == "http://img.alpha.test/1.jpg"
    assert request.dont_filter and request.meta["dont_redirect"] and request.meta["handle_httpstatus_all"]
    assert request.callback == spider.parse and request.errback == spider.failed
    assert request.meta["monitor"]["host"] == "img.alpha.test"
    assert spider.hosts.pins["img.alpha.test"][1] == 1  # held until the URL is observed


def test_no_request_for_unresolved_or_private_hosts(spider):
    gone = spider.begin(4, "http://gone.gamma.test/y", "gone.gamma.test")
    assert gone == Observation(4, "unresolved", detail="nxdomain", host="gone.gamma.test", worker=WORKER)
    local = spider.begin(3, "http://local.beta.test/x", "local.beta.test")
    assert local.outcome == "refused-private" and "127.1.1.1" in local.detail
    assert (local.host, local.http_status, local.connected_ip) == ("local.beta.test", None, None)
    # Some public address: the request goes out (the resolver hands out only that one)
    assert isinstance(spider.begin(5, "http://mixed.delta.test/z", "mixed.delta.test"), Request)
    spider.allow_private = True
    assert isinstance(spider.begin(3, "http://local.beta.test/x", "local.beta.test"), Request)
    assert "gone.gamma.test" not in spider.hosts.pins


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
                                      "redirect without a Location" if status == 300 else None,
                                      host="img.alpha.test", worker=WORKER)
    assert spider.hosts.pins == {}  # observed: the host is no longer held for it


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
    # no location from a worker: where it ended, for the coordinator to locate
    assert (observation.host, observation.final_host, observation.final_ips) == (
        "img.alpha.test", "v6.eps.test", [PUBLIC6])
    assert observation.detail is None
    # a redirect that stays on the URL's host names no final host
    [hop] = spider.parse(respond(first(spider), 301, Location="/2.jpg"))
    [same] = spider.parse(respond(hop, 200))
    assert same.final_host is None and same.final_ips is None


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
    spider.hosts._remember(HostEntry("elsewhere.test", "ok", (LOOPBACK,)))
    failure = Failure(CannotResolveHostError("no results"))
    failure.request = hop
    [observation] = spider.failed(failure)
    assert observation.outcome == "refused-private" and observation.redirects == ["http://elsewhere.test/"]
    # ... or none at all
    spider.hosts._remember(HostEntry("elsewhere.test", "nxdomain"))
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
                                      "DownloadFailedError: ResponseFailed(ConnectionLost)",
                                      host="img.alpha.test", worker=WORKER)
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


def test_observation_lines_pipeline_hands_each_observation_over_as_a_line():
    read_end, write_end = os.pipe()

    class Crawler:
        settings = Settings({"MONITOR_OUTPUT_FD": write_end})

    pipeline = ObservationLinesPipeline.from_crawler(Crawler())
    pipeline.open_spider()
    sent = [Observation(1, "online", 200, "http://a.test/1", "127.1.1.1", host="a.test", worker=WORKER),
            Observation(2, "online", 200, "http://b.test/2", "127.2.1.1", ["http://b.test/2"], host="a.test",
                        final_host="b.test", final_ips=["127.2.1.1"], worker=WORKER)]
    for item in sent:
        assert pipeline.process_item(item) is item
    pipeline.close_spider()
    os.close(write_end)  # the pipeline wrote through a copy of it, now closed: the pipe ends here
    with os.fdopen(read_end, "rb") as received:
        lines = received.read().splitlines()
    assert [Observation.from_json(loads(line)["observation"]) for line in lines] == sent
    assert pipeline.sent == 2
    assert set(sent[0].to_json()) == {f.name for f in dataclasses.fields(Observation)}  # none left behind


def test_observation_lines_pipeline_without_an_output_keeps_nothing():
    class Crawler:
        settings = Settings({})

    pipeline = ObservationLinesPipeline.from_crawler(Crawler())
    pipeline.open_spider()
    item = Observation(1, "online")
    assert pipeline.process_item(item) is item
    pipeline.close_spider()
