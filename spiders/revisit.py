"""The nightly revisit: one HEAD request per reported URL of a batch, never a body.

    monitor.spiders.revisit.RevisitSpider  (installed under `monitor`; run by monitor.crawl.scrapy_run)

- ``start()`` reads the batch (``monitor.crawl.protocol``: host lines and URL lines) as it goes,
  taking the next line only when the engine has room for another request, so memory stays flat
  however long the batch is. The spider imports nothing from ``monitor.store``: a worker opens no
  database.
- Before any request, the URL's own host is looked up in the batch's answers (``Hosts``): a host
  that did not resolve gives ``unresolved`` and one whose addresses are all private (with
  ``crawl.allow_private_addresses`` false) gives ``refused-private``; neither sends anything.
- The request is a HEAD. Where HEAD is refused (405, 501), one GET, stopped when its headers
  arrive (``StopDownload`` raised from the ``headers_received`` signal): no body byte is read.
  Should one arrive anyway, the ``bytes_received`` handler stops the download too (and
  ``DOWNLOAD_MAXSIZE`` is 1 byte). Nothing here looks at ``response.body``.
- Redirects are followed here, not by Scrapy's middleware, so that the chain is recorded and each
  target's host is checked before it is contacted. Up to ``REDIRECT_MAX_TIMES`` hops; a target seen
  before is a ``redirect-loop``, one hop too many ``too-many-redirects``; a target host with only
  private addresses is not followed (``refused-private``).
- Outcomes: ``online`` (2xx, after any redirects), ``removed`` (404, 410), ``http-error`` (other
  statuses), ``unreachable`` (connection refused, reset, timeout, TLS error, not HTTP; ``detail``
  names the error classes, never a message that could quote what the server sent), plus the
  three above, and ``error`` should handling a response ever fail (a bug; logged). Observations
  carry no location (a worker has no .mmdb files): a redirect that ended on another host names
  that host and its addresses, and the coordinator locates them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urljoin, urlparse

import scrapy
from scrapy import signals
from scrapy.exceptions import CannotResolveHostError, DownloadTimeoutError, StopDownload
from scrapy.http import Request, Response
from twisted.internet.error import DNSLookupError
from twisted.python.failure import Failure
from w3lib.url import safe_url_string

from monitor.crawl.protocol import Observation, ProtocolError, loads, unresolved_outcome
from monitor.crawl.resolver import HostEntry, Hosts
from monitor.crawl.settings import MAX_REDIRECTS

HEAD_REFUSED = frozenset({405, 501})


def outcome_for(status: int) -> str:
    if 200 <= status < 300:
        return "online"
    if status in (404, 410):
        return "removed"
    return "http-error"


def _name(error: object) -> str:
    """A class name that says what it is: OpenSSL's TLS failures are all called "Error"."""
    cls = type(error)
    if cls.__name__ in ("Error", "Exception"):
        return f"{cls.__module__}.{cls.__name__}"
    return cls.__name__


def describe(failure: Failure | BaseException) -> str:
    """The error as class names only ("DownloadFailedError: ResponseFailed(ConnectionLost)"):
    messages are left out because some quote what the server sent (a parse error quotes the
    line it could not parse)."""
    error = failure.value if isinstance(failure, Failure) else failure

    def with_reasons(e: BaseException) -> str:
        reasons = getattr(e, "reasons", None)  # ResponseFailed and friends wrap failures
        if not reasons:
            return _name(e)
        return _name(e) + "(" + ", ".join(_name(r.value if isinstance(r, Failure) else r)
                                          for r in reasons) + ")"

    names = [with_reasons(error)]
    cause = error.__cause__ or error.__context__
    if cause is not None and type(cause) is not type(error):
        names.append(with_reasons(cause))
    return ": ".join(names)


class RevisitSpider(scrapy.Spider):
    name = "revisit"

    def __init__(self, *args: Any, hosts: Hosts | None = None,
                 lines: Iterable[str | bytes | dict] | AsyncIterable[str | bytes | dict] = (),
                 allow_private: bool = False, max_redirects: int = MAX_REDIRECTS,
                 timeout: float | None = None, worker: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hosts = hosts if hosts is not None else Hosts()
        self.lines = lines
        self.allow_private = allow_private
        self.max_redirects = max_redirects
        self.timeout = timeout
        self.worker = worker
        self.read = 0  # URL lines taken from the batch
        self.input_error: str | None = None  # why the batch could not be read to its end

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> RevisitSpider:
        """``lines`` (the batch after its settings line) comes from ``crawler.crawl(lines=...)``."""
        settings = crawler.settings
        kwargs.update(
            hosts=Hosts.shared(settings),
            allow_private=settings.getbool("MONITOR_ALLOW_PRIVATE"),
            max_redirects=settings.getint("REDIRECT_MAX_TIMES", MAX_REDIRECTS),
            timeout=settings.getfloat("DOWNLOAD_TIMEOUT"),
            worker=settings.get("MONITOR_WORKER"),
        )
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_headers, signal=signals.headers_received)
        crawler.signals.connect(spider.on_bytes, signal=signals.bytes_received)
        return spider

    # -- never a body ---------------------------------------------------------------------------

    def on_headers(self, headers: Any, body_length: int, request: Request, spider: Any = None) -> None:
        """A GET (HEAD refused) ends here: status and headers are all we take."""
        if request.method != "HEAD":
            raise StopDownload(fail=False)

    def on_bytes(self, data: bytes, request: Request, spider: Any = None) -> None:
        """Body bytes: should never come; if they do, stop at once (nothing is kept)."""
        raise StopDownload(fail=False)

    # -- the batch -------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request | Observation]:
        ended = False
        async for line in _lines(self.lines):
            try:
                message = loads(line) if isinstance(line, str | bytes) else line
                if "url" in message:
                    if ended:
                        raise ProtocolError("a URL after the end line")
                    url_id, url, host = int(message["id"]), message["url"], message["host"]
                    if not isinstance(url, str) or not isinstance(host, str):
                        raise ProtocolError("a URL line needs text url and host")
                    self.read += 1
                elif "host" in message:
                    self.hosts.announce(message["host"], str(message["status"]), list(message["ips"] or ()),
                                        message.get("detail"))
                    continue
                elif "end" in message:
                    if int(message["end"]) != self.read:
                        raise ProtocolError(f"the end line counts {message['end']} URLs, {self.read} came")
                    ended = True
                    continue
                elif "settings" in message:  # the runner's; a batch handed over whole may hold it
                    continue
                else:
                    raise ProtocolError(f"unknown message {sorted(message)}")
            except (ProtocolError, KeyError, TypeError, ValueError) as error:
                self.input_error = f"after {self.read} URL lines: {type(error).__name__}: {error}"
                self.logger.error("the batch cannot be read: %s", self.input_error)
                return
            item = self.begin(url_id, url, host)
            if isinstance(item, Request):
                await self.room()
            yield item
        if not ended:
            self.input_error = "the batch ended without its end line (cut short)"
            self.logger.error("the batch cannot be read: %s", self.input_error)

    async def room(self) -> None:
        """Wait until the engine can take another request. Scrapy keeps reading start() into its
        scheduler (memory) while the downloader is busy; waiting here keeps the URLs in the batch
        (a pipe: in the coordinator's store) until there is room, so memory does not grow with
        their number."""
        crawler = getattr(self, "crawler", None)
        engine = getattr(crawler, "engine", None)
        while engine is not None and engine.needs_backout() and engine.running:
            await crawler.signals.wait_for(signals.scheduler_empty)

    def begin(self, url_id: int, url: str, host: str) -> Request | Observation:
        """The first request for a URL, or its observation when its host may not be contacted."""
        entry = self.hosts.use(host)
        meta = {"url_id": url_id, "host": host, "origin": url, "redirects": []}
        if entry is None:
            return self.observe(meta, "unresolved", None, None, None, detail="not resolved by this crawl")
        if not entry.resolved:
            return self.observe(meta, unresolved_outcome(entry.status), None, None, None,
                                detail=entry.detail or entry.status)
        if not entry.allowed_ips(self.allow_private):
            return self.observe(meta, "refused-private", None, None, None, detail=_private_detail(entry))
        try:
            request = self.request(url, {**meta, "pinned": True})
        except ValueError as error:  # one bad line must not end start() for all the others
            return self.internal_error(meta, url, error)
        self.hosts.pin(entry)  # released by the URL's observation (observe)
        return request

    def request(self, url: str, meta: dict, method: str = "HEAD") -> Request:
        # A user name or password in a reported URL is part of its identity, not of the host
        # (Twisted would take user@host for a host name): the request goes without it.
        parts = urlparse(url)
        if "@" in parts.netloc:
            url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        return Request(url, method=method, callback=self.parse, errback=self.failed,
                       dont_filter=True,
                       meta={"monitor": meta, "dont_redirect": True, "handle_httpstatus_all": True})

    # -- responses -------------------------------------------------------------------------------

    def parse(self, response: Response) -> Iterator[Request | Observation]:
        try:
            yield from self._parse(response)
        except Exception as error:  # a bug must not cost a URL its state
            yield self.internal_error(response.meta["monitor"], response.url, error)

    def _parse(self, response: Response) -> Iterator[Request | Observation]:
        meta = dict(response.meta["monitor"])
        method = response.request.method if response.request is not None else "HEAD"
        ip = str(response.ip_address) if response.ip_address is not None else None
        if ip is None and method != "HEAD":
            # A GET stopped at its headers carries no address; it went over the connection
            # its HEAD used (kept alive, same host and port), whose address we have.
            ip = meta.get("head_ip")
        status = response.status
        if method == "HEAD" and status in HEAD_REFUSED:
            yield self.request(response.url, {**meta, "head_ip": ip}, method="GET")
            return
        location = response.headers.get(b"Location")
        if 300 <= status < 400 and location:
            yield self.redirect(response.url, status, ip, location, meta)
            return
        detail = None
        if 300 <= status < 400:
            detail = "redirect without a Location"
        yield self.observe(meta, outcome_for(status), status, response.url, ip, detail=detail,
                           final=None if detail else self.final_host(meta, response.url))

    def redirect(self, url: str, status: int, ip: str | None, location: bytes,
                 meta: dict) -> Request | Observation:
        try:
            target = urljoin(url, safe_url_string(location))
            parsed = urlparse(target)
            parsed.port  # noqa: B018 -- raises ValueError for a port out of range
        except ValueError:
            return self.observe(meta, "http-error", status, url, ip,
                                detail="redirect to an invalid URL not followed")
        seen = [meta["origin"], *meta["redirects"]]
        meta = {**meta, "redirects": [*meta["redirects"], target]}
        meta.pop("head_ip", None)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return self.observe(meta, "http-error", status, url, ip,
                                detail="redirect to a URL that is not http(s) not followed")
        if target in seen:
            return self.observe(meta, "redirect-loop", status, url, ip)
        if len(meta["redirects"]) > self.max_redirects:
            return self.observe(meta, "too-many-redirects", status, url, ip,
                                detail=f"more than {self.max_redirects} redirects")
        entry = self.hosts.get(parsed.hostname)
        if entry is not None:  # a host this worker knows; others are checked by the resolver
            refused = self.refused_target(meta, entry, status, url, ip)
            if refused is not None:
                return refused
        return self.request(target, meta)

    def refused_target(self, meta: dict, entry: HostEntry, status: int | None, url: str | None,
                       ip: str | None) -> Observation | None:
        """The observation when a redirect target's host may not be contacted, else None."""
        if not entry.resolved:
            return self.observe(meta, "unreachable", status, url, ip,
                                detail=f"redirect target {entry.host} did not resolve: {entry.status}")
        if not entry.allowed_ips(self.allow_private):
            return self.observe(meta, "refused-private", status, url, ip,
                                detail=f"redirect not followed: {_private_detail(entry)}")
        return None

    def failed(self, failure: Failure) -> Iterator[Observation]:
        request: Request = failure.request  # type: ignore[attr-defined]
        try:
            yield from self._failed(failure, request)
        except Exception as error:  # a bug must not cost a URL its state
            yield self.internal_error(request.meta["monitor"], request.url, error)

    def _failed(self, failure: Failure, request: Request) -> Iterator[Observation]:
        meta = request.meta["monitor"]
        host = urlparse(request.url).hostname or ""
        if failure.check(CannotResolveHostError, DNSLookupError):
            # Our resolver found no address it may connect to (it resolved the host first).
            entry = self.hosts.get(host)
            if entry is not None:
                if not meta["redirects"] and not entry.resolved:
                    yield self.observe(meta, unresolved_outcome(entry.status), None, None, None, detail=entry.status)
                    return
                refused = self.refused_target(meta, entry, None, request.url, None)
                if refused is not None:
                    refused.http_status = None
                    yield refused
                    return
        detail = describe(failure)
        if failure.check(DownloadTimeoutError) and self.timeout:
            detail += f" after {self.timeout:g} s"
        yield self.observe(meta, "unreachable", None, request.url, None, detail=detail)

    async def closed(self, reason: str) -> None:
        await self.hosts.close()

    # -- observations ----------------------------------------------------------------------------

    def final_host(self, meta: dict, url: str) -> tuple[str, list[str] | None] | None:
        """Where a redirect ended, when on another host: that host and its addresses (None when
        this worker no longer holds them)."""
        host = urlparse(url).hostname or ""
        if not meta["redirects"] or host == urlparse(meta["origin"]).hostname:
            return None
        entry = self.hosts.get(host)
        return host, list(entry.ips) if entry is not None else None

    def internal_error(self, meta: dict, url: str, error: Exception) -> Observation:
        # The traceback names our code only; no response content is in it.
        self.logger.error("handling %s failed", url, exc_info=error)
        return self.observe(meta, "error", None, url, None, detail=f"internal error: {_name(error)}")

    def observe(self, meta: dict, outcome: str, status: int | None, url: str | None,
                ip: str | None, detail: str | None = None,
                final: tuple[str, list[str] | None] | None = None) -> Observation:
        """The URL's one observation; its host is no longer needed by it."""
        if meta.get("pinned"):
            self.hosts.release(meta["host"])
        return Observation(meta["url_id"], outcome, http_status=status, final_url=url, connected_ip=ip,
                           redirects=list(meta["redirects"]), detail=detail, host=meta["host"],
                           final_host=final[0] if final else None, final_ips=final[1] if final else None,
                           worker=self.worker)


def _private_detail(entry: HostEntry) -> str:
    return (f"{entry.host} resolves only to private addresses ({', '.join(entry.ips)}); "
            "crawl.allow_private_addresses is false")


async def _lines(lines: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    """The batch's lines, whether a pipe read as it comes or a list in memory."""
    if isinstance(lines, AsyncIterable):
        async for line in lines:
            yield line
    else:
        for line in lines:
            yield line
