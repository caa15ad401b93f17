"""Scrapy settings for a crawl worker, built from its batch's settings in one place (and one
tested function); the worker never reads the config file (``WorkerSettings.from_config`` does,
on the coordinator's side).

Every choice here serves the rule that the crawl never fetches content: it asks whether a URL is
still served and from where, with HEAD requests, and reads no response body.
"""

from __future__ import annotations

import logging
from typing import Any

from .protocol import WorkerSettings

# Redirect hops followed per URL (the spider follows them itself, to record the chain and to
# check each target's addresses before connecting).
MAX_REDIRECTS = 5

# The reactor Scrapy installs in the crawl's process. asyncio: Scrapy's default since 2.13, the
# one its coroutine APIs (`async def start()`, AsyncCrawlerProcess) are built on, and the crawl
# runs in a child process of its own, so no other reactor can already be installed there.
REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

RESOLVER = "monitor.crawl.resolver.BatchResolver"

HANDLER = "monitor.crawl.connections.CappedHandler"

UNUSED_DOWNLOADER_MW = ("offsite.OffsiteMiddleware", "httpauth.HttpAuthMiddleware")
UNUSED_SPIDER_MW = ("httperror.HttpErrorMiddleware", "depth.DepthMiddleware",
                    "metacopy.MetaCopyDetectionMiddleware")

ITEM_PIPELINES = {
    "monitor.crawl.pipelines.outcome_stats.OutcomeStatsPipeline": 100,
    "monitor.crawl.pipelines.observation_lines.ObservationLinesPipeline": 800,
}


def scrapy_settings(crawl: WorkerSettings, *, worker: str, output_fd: int | None = None,
                    log_level: int | str = logging.INFO) -> dict[str, Any]:
    """The settings of a worker named ``worker`` revisiting a batch with settings ``crawl``, its
    observations written as JSON lines to file descriptor ``output_fd`` (None: kept nowhere)."""
    return {
        "BOT_NAME": "monitor",
        # -- politeness: crawl.* ----------------------------------------------------------------
        "CONCURRENT_REQUESTS": crawl.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.per_host_concurrency,  # "domain": the host name
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "RETRY_ENABLED": crawl.retries > 0,
        "RETRY_TIMES": crawl.retries,
        # A URL that stays unreachable is an outcome, not an error of the crawl: the give-up
        # message (which quotes the failure) stays out of the log at the usual levels.
        "RETRY_GIVE_UP_LOG_LEVEL": "DEBUG",
        "USER_AGENT": crawl.user_agent,
        # -- no content, ever --------------------------------------------------------------------
        # robots.txt is not obeyed: fetching it would itself be a GET of content from every host,
        # and a revisit asks only whether a reported URL is still served (a HEAD, no body); the
        # hotline's legal mandate, not robots.txt, decides which URLs are revisited.
        "ROBOTSTXT_OBEY": False,
        # HEAD responses have no body; a GET (only where HEAD is refused) is stopped when its
        # headers arrive. Should a body ever start to flow anyway, 1 byte cancels the download.
        # (A HEAD's Content-Length is the entity's, not a body: Twisted gives HEAD responses
        # length 0, so this limit never fails a HEAD.)
        "DOWNLOAD_MAXSIZE": 1,
        "DOWNLOAD_WARNSIZE": 0,
        "HTTPCACHE_ENABLED": False,
        "COMPRESSION_ENABLED": False,
        "METAREFRESH_ENABLED": False,  # meta refresh lives in a body we never read
        "REDIRECT_ENABLED": False,  # the spider follows redirects itself, up to:
        "REDIRECT_MAX_TIMES": MAX_REDIRECTS,
        "COOKIES_ENABLED": False,
        # No Referer: a redirect target (often another host) learns nothing of the reported URL.
        "REFERER_ENABLED": False,
        # Non-2xx responses are outcomes (removed, http-error), handed to the spider.
        "HTTPERROR_ALLOW_ALL": True,
        # Only HTTP(S): no file:, data:, ftp: or s3: download, whatever a redirect says. HTTP(S)
        # connections are kept alive (a worker's URLs come host by host), their idle ones capped.
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER,
                              "file": None, "data": None, "ftp": None, "s3": None},
        "MONITOR_IDLE_CONNECTIONS": crawl.concurrency,
        "DEFAULT_REQUEST_HEADERS": {"Accept": "*/*"},
        # Every reported URL gets a state: none is dropped for its length (default 2083).
        "URLLENGTH_LIMIT": 0,
        # -- where we connect: the crawl's own DNS answers ------------------------------------
        "TWISTED_REACTOR": REACTOR,
        "TWISTED_DNS_RESOLVER": RESOLVER,
        "DNSCACHE_ENABLED": False,  # BatchResolver is the cache
        # No proxy, ever: HttpProxyMiddleware follows $http_proxy even for loopback, and a proxy
        # would connect somewhere else than the addresses we record.
        "HTTPPROXY_ENABLED": False,
        # -- no remote access into the crawling process --------------------------------------
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        # -- memory stays flat with the number of URLs ---------------------------------------
        # Every request is distinct by construction (one per reported URL and hop); a
        # fingerprint set would grow with the URLs.
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        # Each response gives one item or one request: one worker per response, not Scrapy's
        # 100 (asyncio tasks made and awaited for every response, a third of the CPU time).
        "CONCURRENT_ITEMS": 1,
        # Scrapy re-reads a generator callback's source for each response (its cache misses on
        # bound methods) to warn about `return value`; the spider's callbacks have tests instead.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        "LOG_LEVEL": logging.getLevelName(log_level) if isinstance(log_level, int) else log_level,
        "LOGSTATS_INTERVAL": 60.0,
        "ITEM_PIPELINES": dict(ITEM_PIPELINES),
        # -- CPU per request: what a revisit never uses is not called for each of a million -------
        # (allowed_domains, HTTP auth, depth, meta-copy checks; non-2xx responses reach the spider
        # by HTTPERROR_ALLOW_ALL anyway; per-request byte counts that serialise every request).
        "DOWNLOADER_STATS": False,
        "DOWNLOADER_MIDDLEWARES": {f"scrapy.downloadermiddlewares.{name}": None for name in UNUSED_DOWNLOADER_MW},
        "SPIDER_MIDDLEWARES": {f"scrapy.spidermiddlewares.{name}": None for name in UNUSED_SPIDER_MW},
        # -- the worker, for the spider, the resolver and the pipelines -----------------------
        "MONITOR_WORKER": worker,
        "MONITOR_ALLOW_PRIVATE": crawl.allow_private,
        "MONITOR_DNS": dict(crawl.dns) if crawl.dns else None,
        "MONITOR_HOST_WINDOW": crawl.host_window,
        "MONITOR_OUTPUT_FD": output_fd,
    }
