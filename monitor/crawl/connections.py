"""Kept-alive connections, capped: Scrapy's HTTP/1.1 download handler with a connection pool that
holds at most ``MONITOR_IDLE_CONNECTIONS`` idle connections over all hosts.

A worker's URLs come host by host, so a connection kept alive is reused for the host's next URLs
(measured: head mode 363 -> 537 URLs/s at 20,000 URLs). Twisted's pool caps idle connections per
host only: once a host is done its connections stay open until their timeout, and over tens of
thousands of hosts they would exhaust file descriptors on both ends (at 200,000 URLs the simulated
web server ran out). Here the oldest idle connection is closed once the cap is reached, whatever
the servers answer (one that ignores ``Connection: close`` or never closes included).
"""

from __future__ import annotations

import resource
from typing import Any

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from twisted.web.client import HTTPConnectionPool

# Seconds an idle connection is kept: a host's next URL follows within moments when it follows at
# all, and many servers close idle connections after 5 to 15 seconds anyway.
IDLE_TIMEOUT = 10

# Descriptors a worker needs besides its connections: the interpreter's own, pipes, DNS sockets.
SPARE_FILES = 64


def files_needed(concurrency: int) -> int:
    """Open files a worker may hold: a connection per request in flight, as many idle ones (the
    pool's cap), and some to spare."""
    return 2 * concurrency + SPARE_FILES


def raise_open_file_limit(needed: int) -> tuple[int, int]:
    """Raise this process's open-file limit (soft, up to the hard one) to at least ``needed`` where
    it is lower; (the limit now, the hard limit). Lowering it is never done."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


class CappedPool(HTTPConnectionPool):
    """An HTTPConnectionPool that holds at most ``max_idle`` idle connections in all."""

    cachedConnectionTimeout = IDLE_TIMEOUT

    def __init__(self, reactor: Any, max_idle: int) -> None:
        super().__init__(reactor, persistent=True)
        self.max_idle = max_idle

    def _putConnection(self, key: Any, connection: Any) -> None:
        connection.monitor_pool_key = key  # what _removeConnection needs to find it again
        super()._putConnection(key, connection)
        # Twisted's _timeouts holds exactly the idle connections, in the order they went idle.
        while len(self._timeouts) > self.max_idle:
            oldest = next(iter(self._timeouts))
            self._timeouts[oldest].cancel()
            self._removeConnection(oldest.monitor_pool_key, oldest)


class CappedHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler over a CappedPool."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        from twisted.internet import reactor

        factory = self._pool._factory
        self._pool = CappedPool(reactor, crawler.settings.getint("MONITOR_IDLE_CONNECTIONS", 64))
        self._pool.maxPersistentPerHost = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self._pool._factory = factory
