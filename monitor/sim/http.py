"""Web servers for the simulated world: the hosts whose URLs the monitor revisits.

One ``WebServer`` listens on several loopback addresses (127.0.0.2, 127.0.0.3, ...)
at one port number, since a crawler resolves a host name to one of these
addresses (through ``monitor.sim.dns``) and connects to the port in the URL. What
it answers is decided by the Host header and the request target, not by the
address, so one server plays every hoster of a test; the request log records the
address each request arrived on.

A ``Route`` says what to answer: a status, headers and body, an optional delay,
and optionally a misbehaviour (see ``BEHAVIOURS``). Routes are looked up by
(host, path) in this order, the first found answering:

    (host, path)  ->  (host, "*")  ->  ("*", path)  ->  ("*", "*")  ->  404

``host`` is the Host header lowercased, without port and trailing dot (or the
local address when a request has no Host header); ``path`` is the request target
exactly as sent, query included (``"/a?b=1"``): no decoding or normalisation, so
percent-encoding must match what the client sends.

It runs its own asyncio event loop in a background thread (one ``start_server``
per address) so that a benchmark can push thousands of requests a second through
it, and so that a per-response delay (``asyncio.sleep``) or a hanging connection
never holds up the requests behind it. HTTP/1.1 keep-alive is supported and
``Connection: close`` (from the client, or in a route's headers) honoured.

    with WebServer(addresses=("127.0.0.2", "127.0.0.3")) as web:
        web.set_route("img.alpha.test", "/a.jpg", body=b"...", head_status=405)
        web.redirect("img.alpha.test", "/old", "http://files.beta.test/new")
        web.set_route("files.beta.test", "*", behaviour=HANG)
        ...  # crawl web.url("img.alpha.test", "/a.jpg") etc.
        [(r.address, r.host, r.method, r.path) for r in web.requests]

What Scrapy 2.19 (Twisted's HTTP/1.1 client) makes of the misbehaviours, as seen
once by hand: "reset" fails with ConnectionLost, "garbage" with a ParseError,
"hang" and "slow-headers" with DownloadTimeoutError after DOWNLOAD_TIMEOUT, and
"huge-headers" is accepted (a 200 with all its headers). Scrapy's proxy middleware
honours the ``http_proxy`` environment variables, loopback included.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import logging
import socket
import struct
import time
from collections.abc import Iterable, Mapping

from .loop import LoopServer, RequestLog
# Routes and wire pieces live in .routes; the public names are re-exported here, where tests and
# the demo import them, and the package-internal ones are shared with it.
from .routes import (  # noqa: F401
    BEHAVIOURS,
    GARBAGE,
    HANG,
    HUGE_HEADERS,
    HUGE_HEADERS_BYTES,
    RESET,
    Request,
    Route,
    SLOW_HEADERS,
    _BACKLOG,
    _BODY_PIECE,
    _BadRequest,
    _DEFAULT_GARBAGE,
    _Date,
    _FILLER_LINE_VALUE,
    _NO_BODY_STATUSES,
    _Parsed,
    _REQUEST_HEAD_LIMIT,
    _Record,
    _Routes,
    _as_header_pairs,
    _encode_value,
    _head_bytes,
    _header_line,
    _host_key,
    _parse_head,
    _reason,
    _split_target,
    _text,
    _tokens,
)

__all__ = [
    "BEHAVIOURS",
    "GARBAGE",
    "HANG",
    "HUGE_HEADERS",
    "HUGE_HEADERS_BYTES",
    "RESET",
    "SLOW_HEADERS",
    "Request",
    "Route",
    "WebServer",
]

logger = logging.getLogger(__name__)

def _bind_all(addresses: tuple[str, ...], port: int) -> list[socket.socket]:
    """Listening sockets on every address, all at one port.

    With port 0 the kernel picks a free port on the first address, which may be
    taken on another; then try again with a new one.
    """
    for _ in range(50):
        sockets: list[socket.socket] = []
        try:
            chosen = port
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sockets.append(sock)
                # Lets a stopped server start again on its port despite TIME_WAIT;
                # on Linux it does not allow two listeners on one address and port.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, chosen))
                chosen = sock.getsockname()[1]
                sock.listen(_BACKLOG)
                sock.setblocking(False)
        except OSError as error:
            for sock in sockets:
                sock.close()
            if port or error.errno != errno.EADDRINUSE:
                raise
            continue
        return sockets
    raise OSError(errno.EADDRINUSE, f"found no port free on all of {', '.join(addresses)}")


class WebServer(LoopServer):
    """HTTP/1.1 servers on each of ``addresses`` (loopback only), all at ``port``.

    ``port=0`` picks a free port, kept across ``stop()`` and ``start()`` so that
    URLs stay valid from one simulated night to the next. Use as a context
    manager, or call ``start()`` and ``stop()``; stopping closes every connection,
    hanging ones included. Routes, ``delay`` and ``slow_header_interval`` may be
    changed from any thread while it runs.

    ``delay`` (seconds) postpones every response whose route has no delay of its
    own, without holding up other requests.
    """

    def __init__(
        self,
        addresses: str | Iterable[str] = ("127.0.0.1",),
        port: int = 0,
        *,
        delay: float = 0.0,
        slow_header_interval: float = 1.0,
    ) -> None:
        self.addresses: tuple[str, ...] = (
            (addresses,) if isinstance(addresses, str) else tuple(addresses)
        )
        if not self.addresses:
            raise ValueError("a WebServer needs at least one address")
        for address in self.addresses:
            if not ipaddress.ip_address(address).is_loopback:
                raise ValueError(f"the simulated web stays on loopback addresses: {address}")
        if len(set(self.addresses)) != len(self.addresses):
            raise ValueError(f"an address is listed twice: {self.addresses}")
        self.port = port
        self.delay = delay
        self.slow_header_interval = slow_header_interval
        self._routes = _Routes()
        self._log: RequestLog[_Record] = RequestLog()
        self._errors: list[BaseException] = []
        self._date = _Date()
        self._connection_ids = itertools.count(1)
        self._servers: list[asyncio.Server] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.WriteTransport] = set()
        self._closing = False

    # -- routes ---------------------------------------------------------------

    def set_route(
        self,
        host: str,
        path: str,
        status: int | Route = 200,
        *,
        location: str | None = None,
        headers: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None = None,
        body: bytes | None = None,
        delay: float | None = None,
        behaviour: str | None = None,
        head_status: int | None = None,
    ) -> Route:
        """Answer ``path`` (``"*"``: any path without its own route) of ``host``
        (``"*"``: any host) so. ``status`` may also be a ready ``Route``, and then
        no other option is allowed. ``location`` adds a Location header."""
        if isinstance(status, Route):
            if any(x is not None for x in (location, headers, body, delay, behaviour, head_status)):
                raise TypeError("set_route with a Route takes no other options")
            route = status
        else:
            pairs = _as_header_pairs(headers)
            if location is not None:
                pairs = (("Location", location), *pairs)
            route = Route(
                status=status,
                headers=pairs,
                body=b"" if body is None else body,
                delay=delay,
                behaviour=behaviour,
                head_status=head_status,
            )
        self._routes.set(host, path, route)
        return route

    def redirect(self, host: str, path: str, to_url: str, status: int = 301) -> Route:
        """Redirect ``path`` of ``host`` to ``to_url`` (sent verbatim; may be relative)."""
        return self.set_route(host, path, status, location=to_url)

    def set_default(self, host: str, status: int | Route = 404, **options: object) -> Route:
        """What ``host`` answers for paths without a route of their own (its "*"
        route); ``host="*"`` sets the answer for unknown hosts too. Options as
        for ``set_route``."""
        return self.set_route(host, "*", status, **options)  # type: ignore[arg-type]

    def remove_host(self, host: str) -> None:
        """Forget every route of ``host``: it falls through to the "*" routes."""
        self._routes.remove_host(host)

    def clear(self) -> None:
        """Forget every route: everything is 404 again. The log is kept."""
        self._routes.clear()

    def url(self, host: str, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}{path}"

    # -- request log ----------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request read, in order of arrival (copies: they do not change)."""
        with self._log.changed:
            return [record.snapshot() for record in self._log.entries()]

    @property
    def request_count(self) -> int:
        return len(self._log)

    @property
    def body_bytes_written(self) -> int:
        """Body bytes the kernel accepted for the responses in the log.

        A weak signal: it counts what the server's socket took, not what the
        client read. On loopback the send and receive buffers swallow hundreds of
        KB to several MB before a write blocks, so a client that stops reading
        (or closes) right after the headers still shows a small body as fully
        written. Only a body far larger than those buffers (say 32 MB) can tell
        a client that stopped early from one that read everything.
        """
        with self._log.changed:
            return sum(record.body_bytes_written for record in self._log.entries())

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until the log holds at least ``count`` requests; False on timeout."""
        return self._log.wait_for(count, timeout)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions raised while serving (a bug in this module)."""
        with self._log.changed:
            return list(self._errors)

    # -- lifecycle ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._runner is not None

    def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the web server is already running")
        sockets = _bind_all(self.addresses, self.port)
        self.port = sockets[0].getsockname()[1]
        self._closing = False

        def close_all() -> None:
            assert self._runner is not None
            self._runner.call(self._close())
            for sock in sockets:
                sock.close()

        self._start_loop(f"sim-http-{self.port}", lambda: self._open(sockets), close_all)

    async def _open(self, sockets: list[socket.socket]) -> None:
        for sock in sockets:
            server = await asyncio.start_server(
                self._serve, sock=sock, backlog=_BACKLOG, limit=_REQUEST_HEAD_LIMIT
            )
            self._servers.append(server)

    async def _close(self) -> None:
        self._closing = True
        for server in self._servers:
            server.close()
        # Connections being accepted right now take a few iterations to reach _serve.
        for _ in range(3):
            await asyncio.sleep(0)
        # Python 3.11's Server.close() leaves accepted connections open: end them.
        # A connection accepted just now may only register itself while we wait.
        while self._handlers or self._transports:
            for task in list(self._handlers):
                task.cancel()
            for transport in list(self._transports):
                transport.abort()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            # Transports close their sockets in a callback of the next iteration.
            await asyncio.sleep(0)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        await asyncio.sleep(0)

    # -- serving --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        transport = writer.transport
        if self._closing:
            transport.abort()
            return
        self._handlers.add(task)
        self._transports.add(transport)
        # With no write buffer allowed, drain() returns only once the kernel took
        # every byte, which is what body_bytes_written counts. Small responses
        # still go out in one send() without waiting.
        transport.set_write_buffer_limits(high=0)
        try:
            await self._converse(reader, writer, next(self._connection_ids))
            writer.close()
            await writer.wait_closed()
        except (OSError, EOFError):
            pass  # the client went away: nothing to do
        except asyncio.CancelledError:
            # Only stop() cancels. End normally: asyncio's streams log a handler
            # task that ends cancelled as an error (Python 3.11.7+).
            pass
        except Exception as error:  # a bug here; keep serving the others
            logger.exception("sim web server failed on a request")
            with self._log.changed:
                self._errors.append(error)
        finally:
            transport.abort()  # nothing if closed already
            self._handlers.discard(task)
            self._transports.discard(transport)

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: int
    ) -> None:
        """Answer the requests of one connection until either side closes it."""
        address = writer.get_extra_info("sockname")[0]
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # closed between requests (or mid-request)
            except asyncio.LimitOverrunError:
                await self._simple(writer, 431)
                return
            head = head.lstrip(b"\r\n")
            if not head:
                continue
            try:
                parsed = _parse_head(head)
            except _BadRequest:
                await self._simple(writer, 400)
                return
            if "transfer-encoding" in parsed.headers:
                await self._simple(writer, 501)  # a crawler sends no request bodies
                return
            length = parsed.headers.get("content-length", "0")
            if not length.isdigit():
                await self._simple(writer, 400)
                return
            if int(length):
                await reader.readexactly(int(length))

            target_host, path = _split_target(parsed.target)
            raw_host = target_host or parsed.headers.get("host", "")
            host = _host_key(raw_host) if raw_host else address
            record = _Record(
                Request(
                    address=address,
                    host=host,
                    method=parsed.method,
                    path=path,
                    headers=parsed.headers,
                    version=parsed.version,
                    connection=connection,
                    time=time.monotonic(),
                )
            )
            self._log.append(record)

            route = self._routes.find(host, path)
            keep_alive = self._keep_alive(parsed, route)
            delay = self.delay if route.delay is None else route.delay
            if delay > 0:
                await asyncio.sleep(delay)
            behaviour = route.behaviour
            if behaviour == RESET:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if behaviour == HANG:
                while await reader.read(65536):
                    pass  # discard whatever else comes, until the client hangs up
                return
            if behaviour == GARBAGE:
                writer.write(route.body or _DEFAULT_GARBAGE)
                await writer.drain()
                return
            if behaviour == SLOW_HEADERS:
                await self._trickle(writer, route)
                return
            keep_alive = await self._respond(writer, record, parsed.method, route, keep_alive)
            if not keep_alive:
                return

    @staticmethod
    def _keep_alive(parsed: _Parsed, route: Route) -> bool:
        tokens = _tokens(parsed.headers.get("connection", ""))
        if parsed.version == "HTTP/1.0":
            keep = "keep-alive" in tokens
        else:
            keep = "close" not in tokens
        if "close" in _tokens(_text(route.header("connection"))):
            keep = False
        return keep

    def _base_headers(self, keep_alive: bool, version: str) -> list[tuple[str, str | bytes]]:
        headers: list[tuple[str, str | bytes]] = [
            ("Server", "monitor-sim"),
            ("Date", self._date()),
        ]
        if not keep_alive:
            headers.append(("Connection", "close"))
        elif version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        return headers

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        record: _Record,
        method: str,
        route: Route,
        keep_alive: bool,
    ) -> bool:
        """Write one whole response; whether the connection stays open after it."""
        is_head = method == "HEAD"
        version = record.request.version
        if is_head and route.head_status is not None:
            status = route.head_status
            headers = self._base_headers(keep_alive, version)
            if status == 405:
                headers.append(("Allow", "GET"))
            headers.append(("Content-Length", "0"))
            writer.write(_head_bytes(status, headers))
            await writer.drain()
            return keep_alive

        status = route.status
        body = b"" if status in _NO_BODY_STATUSES or status < 200 else route.body
        own = {name.lower() for name, _ in route.headers}
        chunked = "chunked" in _tokens(_text(route.header("transfer-encoding")))
        explicit_length = route.header("content-length")
        if explicit_length is not None and not is_head:
            if _encode_value(explicit_length).strip() != str(len(body)).encode():
                keep_alive = False  # the framing is broken: end it there
        headers = [
            (name, value)
            for name, value in self._base_headers(keep_alive, version)
            if name.lower() not in own
        ]
        if body and "content-type" not in own:
            headers.append(("Content-Type", "text/html; charset=utf-8"))
        if not chunked and "content-length" not in own and status not in (204,) and status >= 200:
            headers.append(("Content-Length", str(len(body))))
        if route.behaviour == HUGE_HEADERS:
            headers.extend(_filler_headers(HUGE_HEADERS_BYTES))
        headers.extend(route.headers)
        head = _head_bytes(status, headers)

        if is_head or not body:
            if chunked and not is_head and status >= 200 and status not in _NO_BODY_STATUSES:
                head += b"0\r\n\r\n"
            await self._write_pieces(writer, record, [(head, 0)])
            return keep_alive
        pieces: list[tuple[bytes, int]] = [(head, 0)]
        for start in range(0, len(body), _BODY_PIECE):
            piece = body[start : start + _BODY_PIECE]
            if chunked:
                pieces.append((b"%x\r\n" % len(piece) + piece + b"\r\n", len(piece)))
            else:
                pieces.append((piece, len(piece)))
        if chunked:
            pieces.append((b"0\r\n\r\n", 0))
        # The head goes out with the first piece: one send() for a small response.
        first, first_count = pieces[1]
        pieces[:2] = [(head + first, first_count)]
        await self._write_pieces(writer, record, pieces)
        return keep_alive

    async def _write_pieces(
        self, writer: asyncio.StreamWriter, record: _Record, pieces: list[tuple[bytes, int]]
    ) -> None:
        """Write each piece and wait until the kernel took it, counting body bytes.

        A piece's body bytes are counted before it is handed to the kernel (a
        client could otherwise read them all and look at the log before the
        count caught up), and what the kernel did not take at once is taken
        back until it does. So the count may run ahead by one piece during a
        write() call, and is exact once the response is done or abandoned.
        """
        for data, body_count in pieces:
            self._count_body(record, body_count)
            writer.write(data)
            unsent = min(body_count, writer.transport.get_write_buffer_size())
            self._count_body(record, -unsent)
            await writer.drain()
            self._count_body(record, unsent)

    def _count_body(self, record: _Record, count: int) -> None:
        if count:
            with self._log.changed:
                record.body_bytes_written += count

    async def _trickle(self, writer: asyncio.StreamWriter, route: Route) -> None:
        """The status line, then a header line now and then, never the blank line."""
        writer.write(_head_bytes(route.status, [], end=False))
        await writer.drain()
        lines = (_header_line(name, value) for name, value in route.headers)
        filler = (f"X-Slow-{i}: {i}\r\n".encode() for i in itertools.count())
        for line in itertools.chain(lines, filler):
            await asyncio.sleep(self.slow_header_interval)
            if writer.is_closing():
                return
            writer.write(line)
            await writer.drain()

    async def _simple(self, writer: asyncio.StreamWriter, status: int) -> None:
        body = f"{status} {_reason(status)}\n".encode()
        headers = [
            *self._base_headers(False, "HTTP/1.1"),
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
        ]
        writer.write(_head_bytes(status, headers) + body)
        await writer.drain()


def _filler_headers(total: int) -> list[tuple[str, str]]:
    line = len(_FILLER_LINE_VALUE) + len("X-Filler-0000: \r\n")
    return [(f"X-Filler-{i:04d}", _FILLER_LINE_VALUE) for i in range(total // line + 1)]
