"""What goes into a crawl worker and what comes out: JSON lines, one message a line.

A worker is a pure function of its batch: it opens no database and reads no config file, so the
same batch can be revisited by a local child process or, later, on another machine with only this
package installed. In, in this order:

    {"settings": {...}}                                        WorkerSettings, first and once
    {"host": "a.test", "status": "ok", "ips": ["192.0.2.1"], "detail": null}
    {"url": "http://a.test/1.jpg", "id": 17, "host": "a.test"}
    ...
    {"end": 5000}                                              the number of URL lines sent

A host line comes before the first URL line that needs it. The worker keeps the last
``host_window`` hosts announced or used (least recently used out first, plus any host a URL in
flight still needs); the sender keeps a mirror of that window (``Window``, the same class on both
sides, fed the same lines) and announces a host again once its mirror has let it go. A URL whose
host was never announced was not resolved by this crawl (a URL added mid-crawl): ``unresolved``.

Out: ``{"observation": {...}}`` per URL (``Observation``), then one ``{"result": {...}}`` line
with the worker's own counts. Observations carry no location: the worker has no .mmdb files; the
coordinator locates the URL's host and, for a redirect that ended on another host, the addresses
the observation names (``final_host``, ``final_ips``).
"""

from __future__ import annotations

import json
import os
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config import Config

# Hosts a worker keeps from the input; the sender's mirror must use the same number (it is sent
# in the settings). 2,048 entries of a few addresses each: well under a megabyte.
HOST_WINDOW = 2_048


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


def host_key(host: str | bytes) -> str:
    """A host as both ends key it: lower-case, no trailing dot (the store already keeps hosts so)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host.strip().lower().rstrip(".")


def worker_name() -> str:
    """The default name of a worker: where it runs and which process it is."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs besides its hosts and URLs: the crawl.* values, the DNS settings
    (for redirect targets on hosts the batch does not answer for), and its name."""

    concurrency: int = 64
    per_host_concurrency: int = 2
    timeout: float = 20.0
    retries: int = 1
    user_agent: str = "monitor"
    allow_private: bool = False
    dns: dict[str, Any] = field(default_factory=dict)  # monitor.config.DNS, as JSON
    worker: str | None = None  # None: the worker names itself (worker_name())
    host_window: int = HOST_WINDOW

    @classmethod
    def from_config(cls, config: Config, *, worker: str | None = None,
                    host_window: int = HOST_WINDOW) -> WorkerSettings:
        crawl = config.crawl
        return cls(concurrency=crawl.concurrency, per_host_concurrency=crawl.per_host_concurrency,
                   timeout=crawl.timeout, retries=crawl.retries, user_agent=crawl.user_agent,
                   allow_private=crawl.allow_private_addresses, dns=config.dns.model_dump(mode="json"),
                   worker=worker, host_window=host_window)

    @classmethod
    def from_json(cls, data: object) -> WorkerSettings:
        if not isinstance(data, dict):
            raise ProtocolError("settings: expected an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:  # a newer coordinator: better to say so than to ignore a setting
            raise ProtocolError(f"settings: unknown keys {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Observation:
    """What a worker saw for one reported URL. No field can hold a response body."""

    url_id: int
    outcome: str  # online, removed, http-error, unreachable, unresolved, refused-private, ...
    http_status: int | None = None
    final_url: str | None = None  # where the last request went (after redirects)
    connected_ip: str | None = None  # the address the last response came from
    redirects: list[str] = field(default_factory=list)  # every redirect target, in order
    detail: str | None = None  # the error, in words
    host: str | None = None  # the URL's own host, as the batch named it
    final_host: str | None = None  # a redirect that ended on another host: that host,
    final_ips: list[str] | None = None  # and its addresses (None: the worker did not know them)
    worker: str | None = None  # the worker that made the observation

    def to_json(self) -> dict:
        # By hand: dataclasses.asdict deep-copies field by field, a cost paid for every URL.
        return {"url_id": self.url_id, "outcome": self.outcome, "http_status": self.http_status,
                "final_url": self.final_url, "connected_ip": self.connected_ip,
                "redirects": list(self.redirects), "detail": self.detail, "host": self.host,
                "final_host": self.final_host, "final_ips": self.final_ips, "worker": self.worker}

    @classmethod
    def from_json(cls, data: dict) -> Observation:
        return cls(**data)


class Answer(Protocol):
    """A host's DNS answer as the sender has it (monitor.resolve.dns.DnsAnswer fits)."""

    status: str
    ips: tuple[str, ...]
    detail: str | None


class Window:
    """The hosts a worker holds, least recently used first; the sender keeps a mirror.

    Both ends call ``put`` for a host line and ``touch`` for a URL line, in line order, so both
    hold the same hosts in the same order."""

    def __init__(self, size: int = HOST_WINDOW) -> None:
        if size < 1:
            raise ValueError("a host window holds at least one host")
        self.size = size
        self.entries: OrderedDict[str, Any] = OrderedDict()

    def touch(self, host: str) -> bool:
        """A URL line for host: True if the window holds it (now the most recently used)."""
        if host in self.entries:
            self.entries.move_to_end(host)
            return True
        return False

    def put(self, host: str, value: Any = None) -> list[tuple[str, Any]]:
        """A host line: hold host (most recently used); returns the entries let go."""
        self.entries[host] = value
        self.entries.move_to_end(host)
        evicted = []
        while len(self.entries) > self.size:
            evicted.append(self.entries.popitem(last=False))
        return evicted

    def get(self, host: str) -> Any:
        """The value held for host, without changing the order (only lines may change it)."""
        return self.entries.get(host)

    def __contains__(self, host: object) -> bool:
        return host in self.entries

    def __len__(self) -> int:
        return len(self.entries)


def encode(settings: WorkerSettings, urls: Iterable[tuple[int, str, str]],
           answer: Callable[[str], Answer | None]) -> Iterator[dict]:
    """The messages of one batch: settings, then each URL (url_id, url, host) preceded by its
    host's answer where the worker's window does not hold it, then the end.

    ``answer(host)`` gives the crawl's DNS answer for a host, None for a host it did not resolve
    (its URLs are then unresolved, said by the worker)."""
    yield {"settings": settings.to_json()}
    window = Window(settings.host_window)
    sent = 0
    for url_id, url, host in urls:
        if not window.touch(host_key(host)):
            found = answer(host)
            if found is not None:
                window.put(host_key(host))
                yield {"host": host, "status": found.status, "ips": list(found.ips), "detail": found.detail}
        yield {"url": url, "id": url_id, "host": host}
        sent += 1
    yield {"end": sent}


def dumps(message: dict) -> str:
    """One message as one line (JSON never holds a raw newline)."""
    return json.dumps(message, separators=(",", ":")) + "\n"


def loads(line: str | bytes) -> dict:
    """One line as a message; ProtocolError for anything else."""
    try:
        # Bytes decoded here: json.loads would guess their encoding anew for every line.
        message = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
    except ValueError as error:
        raise ProtocolError(f"not a JSON line: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    return message


# DNS answers that say a name is gone; every other failure (timeout, SERVFAIL, REFUSED, a network
# error) says nothing about the hoster: no evidence is not evidence of absence.
GONE = frozenset({"nxdomain", "no-answer", "cname-loop"})


def said_nothing(status: str | None) -> bool:
    """Whether a lookup ended without evidence either way (not ok, not gone)."""
    return status != "ok" and status not in GONE


def unresolved_outcome(status: str | None) -> str:
    """The outcome of a URL whose host did not resolve: `unresolved` when DNS said it is gone,
    `unknown` when it could not tell."""
    return "unresolved" if status in GONE else "unknown"
