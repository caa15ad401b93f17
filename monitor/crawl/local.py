"""Several local worker processes sharing one crawl, each taking whole hosts.

    streams = host_streams(settings, urls, answer, processes=2)
    for observation in revisit_streams(streams): ...

The URLs arrive ordered by host. Each process's stream takes the next whole host when its
feeder asks for more, so a host's URLs all go to one process (per-host politeness and the reuse
of kept-alive connections hold), and a process that is busy with a slow host takes fewer hosts:
the pipe's back-pressure, not a fixed split, balances the load.

Within a stream, a few hosts at a time are interleaved URL by URL (as many as the process's
concurrency over the per-host concurrency): the worker takes requests in the order it reads them,
so a host with thousands of URLs sent in one run would fill the whole downloader while only
``per_host_concurrency`` of them may be in flight. Interleaved, each host has its share of the
requests in flight, and its next URL comes while its connection is still kept alive.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import groupby

from .protocol import Answer, WorkerSettings, encode

URL = tuple[int, str, str]  # (url_id, url, host)


def cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class SharedHosts:
    """Hands out the URLs of whole hosts to several consumers (the streams' feeder threads): the
    next host goes to whichever consumer asks first."""

    def __init__(self, urls: Iterable[URL]) -> None:
        self._hosts = groupby(urls, key=lambda url: url[2])
        self._lock = threading.Lock()

    def take(self, hosts_at_once: int = 1) -> Iterator[URL]:
        """One consumer's share, until no host is left: whole hosts, ``hosts_at_once`` of them
        interleaved URL by URL."""
        active: deque[Iterator[URL]] = deque()
        more = True
        while True:
            while more and len(active) < hosts_at_once:
                host = self._next_host()
                more = host is not None
                if host is not None:
                    active.append(iter(host))
            if not active:
                return
            url = next(active[0], None)
            if url is None:
                active.popleft()
                continue
            yield url
            active.rotate(-1)

    def _next_host(self) -> list[URL] | None:
        with self._lock:  # the source (a store reader) is read by one thread at a time
            try:
                _, urls = next(self._hosts)
                return list(urls)
            except StopIteration:
                return None


def hosts_at_once(settings: WorkerSettings) -> int:
    """Hosts a worker's stream interleaves: enough to keep its requests in flight busy."""
    return max(1, settings.concurrency // settings.per_host_concurrency)


def interleaved(settings: WorkerSettings, urls: Iterable[URL]) -> Iterator[URL]:
    """One worker's URLs (ordered by host), a few hosts at a time interleaved (see the module doc)."""
    return SharedHosts(urls).take(hosts_at_once(settings))


def host_streams(settings: WorkerSettings, urls: Iterable[URL], answer: Callable[[str], Answer | None],
                 processes: int) -> list[Iterator[dict]]:
    """The message streams of ``processes`` workers sharing the URLs (ordered by host) host by
    host; ``settings.concurrency`` is the crawl's total, shared between them."""
    processes = max(1, processes)
    shared = SharedHosts(urls)
    each = replace(settings, concurrency=max(1, -(-settings.concurrency // processes)))
    return [encode(each, shared.take(hosts_at_once(each)), answer) for _ in range(processes)]
