"""What the simulated web servers answer: routes, misbehaviours and the HTTP/1.1 wire pieces
(request heads parsed, response heads built) that monitor.sim.http serves them with."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

# -- misbehaviours ---------------------------------------------------------------

#: Read the request, then close the connection with a TCP RST (SO_LINGER 0).
RESET = "reset"
#: Read the request and never answer; the connection stays open until the client
#: closes it or the server stops.
HANG = "hang"
#: Send the status line, then one header line every ``WebServer.slow_header_interval``
#: seconds, forever: the header block never ends. Defeats a per-read idle timeout;
#: only a total (per-request) timeout ends it.
SLOW_HEADERS = "slow-headers"
#: A complete, valid response preceded by ``HUGE_HEADERS_BYTES`` of header lines
#: (about 200 lines of about 1 KB each; no single line is over 16 KB).
HUGE_HEADERS = "huge-headers"
#: Not HTTP at all: the route's ``body`` (or, when empty, an SSH banner and some
#: binary bytes) is sent verbatim as the whole reply, then the connection closed.
#: A body that *is* HTTP makes this a way to send any hand-made reply.
GARBAGE = "garbage"

BEHAVIOURS = frozenset({RESET, HANG, SLOW_HEADERS, HUGE_HEADERS, GARBAGE})

HUGE_HEADERS_BYTES = 200_000
_FILLER_LINE_VALUE = "a" * 1_000

_DEFAULT_GARBAGE = b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe\x80 this is not HTTP \x81\x82\r\n"

# Request heads longer than this are answered 431 and the connection closed.
_REQUEST_HEAD_LIMIT = 64 * 1024
# Bodies go out in pieces of this size, each awaited until the kernel took it.
_BODY_PIECE = 64 * 1024
_BACKLOG = 1024

_NO_BODY_STATUSES = frozenset({204, 304})


def _host_key(host: str) -> str:
    """A host as routes are keyed: lowercase, no port, no brackets, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal, maybe with a port
        end = host.find("]")
        host = host[1:end] if end != -1 else host[1:]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".") or host


def _path_key(path: str) -> str:
    if path != "*" and not path.startswith("/"):
        raise ValueError(f"a route's path starts with '/' (or is '*'): {path!r}")
    return path


_Headers = tuple[tuple[str, str | bytes], ...]


def _as_header_pairs(
    headers: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None,
) -> _Headers:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), value) for name, value in items)


@dataclass(frozen=True)
class Route:
    """What to answer.

    ``headers`` is a mapping or a sequence of (name, value) pairs (to repeat a
    name); a value is text (sent UTF-8 encoded, so a raw non-ASCII Location is
    possible) or bytes (sent as is). They are sent after, and replace, the
    defaults of the same name (Server, Date, Content-Type, Content-Length,
    Connection). An explicit Content-Length is sent as given, also on HEAD (a
    HEAD may announce 10 GB); if it disagrees with ``body`` on a GET, the body is
    sent anyway and the connection closed after it. ``Transfer-Encoding:
    chunked`` in ``headers`` makes GET bodies go out chunked, without
    Content-Length.

    ``delay`` (seconds) overrides the server's ``delay`` for this route (0: none).
    ``head_status``: answer HEAD requests with this status instead (e.g. 405 for
    servers that refuse HEAD), with an empty body (Content-Length: 0), none of
    the route's headers, and ``Allow: GET`` for a 405; GET is answered normally.
    ``behaviour``: None or one of ``BEHAVIOURS``, applied after the delay.
    """

    status: int = 200
    headers: _Headers = ()
    body: bytes = b""
    delay: float | None = None
    behaviour: str | None = None
    head_status: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _as_header_pairs(self.headers))
        object.__setattr__(self, "body", bytes(self.body))
        if self.behaviour is not None and self.behaviour not in BEHAVIOURS:
            raise ValueError(
                f"unknown behaviour {self.behaviour!r}; one of {sorted(BEHAVIOURS)} or None"
            )
        for status in (self.status, self.head_status):
            if status is not None and not 100 <= status <= 999:
                raise ValueError(f"a status is three digits: {status!r}")

    def header(self, name: str) -> str | bytes | None:
        """The last value of header ``name`` (any case), or None."""
        found = None
        for key, value in self.headers:
            if key.lower() == name.lower():
                found = value
        return found


_NOT_FOUND = Route(404, headers=(("Content-Type", "text/plain"),), body=b"Not Found\n")


@dataclass(frozen=True)
class Request:
    """One request as the server read it.

    ``address``: the local address it arrived on (e.g. "127.0.0.3").
    ``host``: the route key (Host header lowercased, without port), or ``address``
    when the request had no Host header. ``path``: the request target as sent
    (query included; for an absolute-form target, its path part).
    ``headers``: names lowercased, repeated names joined with ", ".
    ``connection``: a serial number of the TCP connection, equal for requests on
    one kept-alive connection. ``time``: ``time.monotonic()`` at arrival.
    ``body_bytes_written``: body bytes the kernel accepted for this response (see
    ``WebServer.body_bytes_written`` for why this is a weak signal).
    """

    address: str
    host: str
    method: str
    path: str
    headers: dict[str, str]
    version: str = "HTTP/1.1"
    connection: int = 0
    time: float = 0.0
    body_bytes_written: int = 0


@dataclass
class _Record:
    """A log entry, mutable while its response is being written."""

    request: Request
    body_bytes_written: int = 0

    def snapshot(self) -> Request:
        return dataclasses.replace(self.request, body_bytes_written=self.body_bytes_written)


@dataclass
class _Parsed:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    pass


def _parse_head(head: bytes) -> _Parsed:
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        raise _BadRequest(lines[0])
    parsed = _Parsed(method=parts[0].upper(), target=parts[1], version=parts[2])
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(line)
        name = name.lower()
        value = value.strip()
        if name in parsed.headers:
            parsed.headers[name] += ", " + value
        else:
            parsed.headers[name] = value
    return parsed


def _split_target(target: str) -> tuple[str | None, str]:
    """(host from an absolute-form target or None, path with query)."""
    lowered = target[:8].lower()
    if lowered.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        authority, slash, path = rest.partition("/")
        path = slash + path
        if "?" in authority:  # "http://host?q" has no slash before the query
            authority, _, query = authority.partition("?")
            path = "/?" + query
        return authority.rpartition("@")[2], path or "/"
    return None, target


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _encode_value(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _header_line(name: str, value: str | bytes) -> bytes:
    return name.encode("ascii") + b": " + _encode_value(value) + b"\r\n"


def _head_bytes(
    status: int, headers: Iterable[tuple[str, str | bytes]], *, end: bool = True
) -> bytes:
    parts = [f"HTTP/1.1 {status} {_reason(status)}\r\n".encode("ascii")]
    parts.extend(_header_line(name, value) for name, value in headers)
    if end:
        parts.append(b"\r\n")
    return b"".join(parts)


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


class _Date:
    """The Date header, formatted once a second at most."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._text = now, formatdate(now, usegmt=True)
        return self._text


class _Routes:
    """Every route of the simulated web. The test thread writes while the loop reads."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}
        self._lock = threading.Lock()

    def set(self, host: str, path: str, route: Route) -> None:
        with self._lock:
            self._routes[(_host_key(host), _path_key(path))] = route

    def remove_host(self, host: str) -> None:
        key = _host_key(host)
        with self._lock:
            for route_key in [k for k in self._routes if k[0] == key]:
                del self._routes[route_key]

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()

    def find(self, host: str, path: str) -> Route:
        routes = self._routes
        with self._lock:
            for key in ((host, path), (host, "*"), ("*", path), ("*", "*")):
                route = routes.get(key)
                if route is not None:
                    return route
        return _NOT_FOUND
