"""DNS resolution of hosts: every A and AAAA address, the CNAME chain, or how it failed.

    answers = resolve_hosts(["example.com", "192.0.2.1"], config.dns)    # sync: `monitor lookup`

    async with AsyncResolver.from_config(config.dns) as resolver:
        answer = await resolver.resolve("example.com")                  # one host
        async for answer in resolver.resolve_many(hosts):               # a crawl: as they complete
            ...

Why a client of our own: a crawl resolves every unique host once, thousands a second (target:
2,000 hosts/s = 4,000 queries/s against a local recursive resolver on a 2-core machine).
dnspython's ``dns.asyncresolver`` opens a socket per query and reached ~1,700 queries/s; and even
dnspython's message layer alone costs ~75 us to build and ~160 us to parse one small query,
i.e. more than the whole budget of 250 us per query. So this module

- keeps ONE unconnected UDP socket per nameserver and multiplexes every query over it by random
  16-bit message IDs (``_Server.pending``: id -> query in flight);
- drives each question (name, type) through its attempts with callbacks and ``loop.call_later``
  timers (``_Query``), without a task or a socket per query;
- builds and parses the few wire-format pieces it needs itself (RFC 1035 §4): the header, one
  question, and A / AAAA / CNAME records in the answer section. Nothing else is read.

Measured with benchmarks/resolve_hosts.py (20,000 hosts, the simulated server in another
process, 2 cores): ~3,000-3,800 hosts/s, bound by the server (one core busy); this client used
~115 us of CPU per query, kernel time included.

Answers that are not ours are ignored, not trusted (RFC 5452): the source must be the nameserver
asked, the ID one in flight there, and the question section the question we asked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import dns.resolver
import idna

from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.config import DNS

__all__ = [
    "AsyncResolver",
    "DnsAnswer",
    "Status",
    "resolve_hosts",
    "system_nameservers",
]

Status = Literal["ok", "nxdomain", "no-answer", "servfail", "timeout", "error"]

# Hosts in flight at once (each an A and an AAAA query, so twice as many queries). Measured
# against the simulated server (benchmarks/resolve_hosts.py): a busy resolver's UDP receive buffer
# (Linux default ~208 KiB, ~200 queued queries) overflowed from ~100 hosts in flight on, and every
# dropped query costs a whole timeout (twice dropped: a false "timeout"); 64 was as fast without
# a drop. Against a distant resolver (uncached names, ~50 ms), throughput <= concurrency / RTT:
# raise it there, if the resolver's buffers allow.
DEFAULT_CONCURRENCY = 64
DEFAULT_RETRIES = 1

# Where the system's nameservers are listed when the config names none; a module attribute so
# that tests can point it elsewhere.
RESOLV_CONF = "/etc/resolv.conf"

# Our socket's receive buffer: answers to up to 2 x concurrency queries may arrive in one burst
# while we are busy; the Linux default (~208 KiB, ~200 small datagrams) would drop some, and a
# dropped answer costs a whole timeout. The kernel caps it at net.core.rmem_max.
_RECEIVE_BUFFER = 4 << 20

_A, _CNAME, _AAAA, _IN = 1, 5, 28, 1
_NOERROR, _SERVFAIL, _NXDOMAIN = 0, 2, 3
_RCODE_NAMES = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"}

# After the 2-byte ID: flags with only RD (recursion desired) set, 1 question, no other records.
# No EDNS: a plain stub query, understood by every resolver; the rare answer over 512 bytes comes
# back truncated (TC) and is asked again over TCP.
_QUERY_TAIL = struct.pack("!HHHHH", 0x0100, 1, 0, 0, 0)
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_QR, _TC = 0x80, 0x02  # in the third byte of a message
_MAX_CHAIN = 16  # longer CNAME chains are loops
_END = object()


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """What DNS said about one host.

    ``host`` is the host exactly as it was asked for (so callers can match answers to hosts);
    ``ips`` every A and AAAA address, deduplicated, IPv4 before IPv6, each in numeric order and
    canonical text; ``cname_chain`` the CNAME targets followed from the host, in order, lower-case
    without the trailing dot; ``detail`` says what went wrong when ``status`` is not "ok".
    """

    host: str
    status: str  # a Status
    cname_chain: tuple[str, ...]
    ips: tuple[str, ...]
    detail: str | None = None

    def to_json(self) -> dict:
        return {
            "host": self.host,
            "status": self.status,
            "cname_chain": list(self.cname_chain),
            "ips": list(self.ips),
            "detail": self.detail,
        }


@dataclass(slots=True)
class _Reply:
    """The outcome of one question (one type) after all its attempts."""

    status: str  # "noerror", "nxdomain", "truncated", "servfail", "error", "timeout"
    chain: tuple[str, ...] = ()
    addresses: tuple[bytes, ...] = ()  # packed, 4 or 16 bytes
    detail: str | None = None
    server: _Server | None = None  # who answered (the TCP retry of a truncated answer asks it)

    @property
    def answered(self) -> bool:
        return self.status in ("noerror", "nxdomain")


# A failure that an answer gave beats one where nothing answered: "servfail" only when some
# server said SERVFAIL, "timeout" only when none said anything.
_FAILURE_RANK = {"timeout": 0, "error": 1, "servfail": 2}


def system_nameservers(filename: str | None = None) -> tuple[str, ...]:
    """The IP nameservers of resolv.conf (default: ``RESOLV_CONF``), or ConfigError if none."""
    filename = filename or RESOLV_CONF
    try:
        listed = dns.resolver.Resolver(filename=filename).nameservers
    except (dns.resolver.NoResolverConfiguration, OSError):
        listed = []
    servers = tuple(str(ns) for ns in listed if _ip_literal(str(ns)))  # skip DoH URLs and the like
    if not servers:
        raise ConfigError(
            f"no DNS nameservers: dns.nameservers is empty and {filename} lists none; "
            "set dns.nameservers in config.yaml (e.g. nameservers: [9.9.9.9])"
        )
    return servers


class AsyncResolver:
    """A lean asyncio stub resolver over UDP (TCP for truncated answers); see the module doc.

    ``timeout`` is the wait for one answer; a question goes to the nameservers in turn, and
    ``retries`` more rounds go to those that did not answer at all (a server that answered, even
    SERVFAIL, is not asked that question again). Worst case per host: timeout x nameservers x
    (retries + 1). At most ``concurrency`` hosts are in flight. Use one resolver in one event loop,
    and close it (``async with`` or ``await close()``): it owns sockets.
    """

    def __init__(
        self,
        nameservers: Iterable[str],
        port: int = 53,
        timeout: float = 3.0,
        retries: int = DEFAULT_RETRIES,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        servers = []
        for text in nameservers:
            ip = _ip_literal(text)
            if ip is None:
                raise ValueError(f"a nameserver is an IP address, not {text!r}")
            servers.append(_Server(ip, port))
        if not servers:
            raise ValueError("no nameservers")
        if timeout <= 0 or retries < 0 or concurrency < 1:
            raise ValueError("timeout must be > 0, retries >= 0 and concurrency >= 1")
        self._servers = tuple(servers)
        self.timeout = timeout
        self.retries = retries
        self.concurrency = concurrency
        self._attempts = len(servers) * (retries + 1)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._start_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = False
        self._closed = False
        # Counters for crawl stats: UDP queries sent (retries included), of them unanswered
        # in time, and questions asked again over TCP after a truncated answer.
        self.stats = {"queries": 0, "timeouts": 0, "tcp": 0}

    @classmethod
    def from_config(
        cls,
        dns_config: DNS,
        *,
        retries: int = DEFAULT_RETRIES,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> AsyncResolver:
        """A resolver for ``config.dns``; no nameservers there: the system's (resolv.conf)."""
        nameservers = dns_config.nameservers or system_nameservers()
        return cls(nameservers, dns_config.port, dns_config.timeout, retries, concurrency)

    @property
    def nameservers(self) -> tuple[str, ...]:
        return tuple(server.ip for server in self._servers)

    # -- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _start(self) -> None:
        if self._closed:
            raise RuntimeError("the resolver is closed")
        if self._ready:
            return
        async with self._start_lock:  # two first callers at once open the sockets once
            if self._ready:
                return
            self._loop = asyncio.get_running_loop()
            opened: list[_Server] = []
            for server in self._servers:
                try:
                    server.open(self._loop)
                except OSError as error:  # e.g. EAFNOSUPPORT: no IPv6 here for [::1]
                    for done in opened:
                        done.close()
                    raise ConfigError(
                        f"dns.nameservers: cannot open a UDP socket to ask {server.ip} "
                        f"({error.strerror or error}); remove it from dns.nameservers in config.yaml"
                    ) from None
                opened.append(server)
            self._ready = True

    async def close(self) -> None:
        """Close the sockets; questions still in flight end as status "error"."""
        if self._closed:
            return
        self._closed = True
        for server in self._servers:
            server.close()

    # -- resolving ------------------------------------------------------------

    async def resolve(self, host: str) -> DnsAnswer:
        """The A and AAAA answers for ``host`` (an IP literal is its own answer, without a query).

        Never raises for a DNS failure: that is the answer's status.
        """
        literal = _ip_literal(host)
        if literal is not None:
            return DnsAnswer(host, "ok", (), (literal,))
        try:
            name, wire_name = _encode_name(host)
        except ValueError as error:
            return DnsAnswer(host, "error", (), (), f"not a valid DNS name: {error}")
        if not self._ready or self._closed:
            await self._start()
        async with self._semaphore:
            # Both questions go out at once; awaiting one then the other costs nothing extra.
            a = _Query(self, name, wire_name, _A)
            aaaa = _Query(self, name, wire_name, _AAAA)
            try:
                a_reply = await a.future
                aaaa_reply = await aaaa.future
            finally:
                a.cancel()  # no-ops once finished; when we are cancelled they free IDs and timers
                aaaa.cancel()
            if a_reply.status == "truncated":
                a_reply = await self._tcp(a_reply.server, name, wire_name, _A)
            if aaaa_reply.status == "truncated":
                aaaa_reply = await self._tcp(aaaa_reply.server, name, wire_name, _AAAA)
        return _combine(host, a_reply, aaaa_reply)

    async def resolve_many(self, hosts: Iterable[str]) -> AsyncIterator[DnsAnswer]:
        """One answer per host given, yielded as they complete (not in order).

        A window of ``concurrency`` tasks: ``hosts`` is read lazily, so a generator of millions
        of hosts costs memory for the window only. Duplicates are not merged (pass unique hosts).
        Leaving the loop early cancels the hosts still in flight.
        """
        if not self._ready:
            await self._start()
        loop = asyncio.get_running_loop()
        pending = iter(hosts)
        running: set[asyncio.Task[DnsAnswer]] = set()
        finished: deque[asyncio.Task[DnsAnswer]] = deque()
        some_done = asyncio.Event()

        # A done-callback and a deque instead of asyncio.wait(): wait() re-registers a callback on
        # every task of the window at every call, O(window) per answer.
        def on_done(task: asyncio.Task[DnsAnswer]) -> None:
            running.discard(task)
            finished.append(task)
            some_done.set()

        def fill() -> None:
            while len(running) + len(finished) < self.concurrency:
                host = next(pending, _END)
                if host is _END:
                    return
                task = loop.create_task(self.resolve(host))
                task.add_done_callback(on_done)
                running.add(task)

        try:
            fill()
            while running or finished:
                if not finished:
                    some_done.clear()
                    await some_done.wait()
                task = finished.popleft()
                fill()
                yield task.result()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def _tcp(self, server: _Server | None, name: str, wire_name: bytes, qtype: int) -> _Reply:
        """The question again over TCP, to the server whose UDP answer was truncated."""
        assert server is not None
        self.stats["tcp"] += 1
        question = wire_name + struct.pack("!HH", qtype, _IN)
        ident = secrets.randbits(16)
        message = ident.to_bytes(2, "big") + _QUERY_TAIL + question
        writer = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(server.ip, server.port)
                writer.write(len(message).to_bytes(2, "big") + message)
                length = int.from_bytes(await reader.readexactly(2), "big")
                data = await reader.readexactly(length)
        except TimeoutError:
            return _Reply("timeout", detail=f"no TCP answer from {server} in {self.timeout:g} s")
        except (OSError, asyncio.IncompleteReadError) as error:
            return _Reply("error", detail=f"TCP to {server} failed: {error}")
        finally:
            if writer is not None:
                writer.close()
                try:
                    await writer.wait_closed()
                except OSError:
                    pass
        if not _is_answer_to(data, ident, question):
            return _Reply("error", detail=f"{server} answered another question over TCP")
        reply = _interpret(data, name, qtype, len(question), server)
        if reply.status == "truncated":  # cannot happen over TCP; do not loop
            return _Reply("error", detail=f"{server} truncated its TCP answer")
        return reply


class _Server:
    """One nameserver: its UDP socket and the queries in flight there, by message ID.

    The socket is read with ``loop.add_reader`` rather than an asyncio transport: a transport
    reads one datagram per event-loop pass, this drains every answer waiting at each wake-up
    (measured: fewer loop passes and wake-ups, the main cost on a busy 2-core machine).
    """

    def __init__(self, ip: str, port: int) -> None:
        self.ip = ip
        self.port = port
        self.address = (ip, port)
        self.pending: dict[int, _Query] = {}
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        # Unconnected, bound by the kernel to a random port at the first send: on Linux a
        # connected UDP socket reports an earlier ICMP error at the next call, which would fail
        # some other query's send; an unconnected one does not (a timeout covers a dead server).
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            sock.setblocking(False)
            loop.add_reader(sock, self._read)
        except BaseException:
            sock.close()
            raise
        self.sock, self._loop = sock, loop

    def close(self) -> None:
        for query in list(self.pending.values()):
            query.finish(_Reply("error", detail="the resolver was closed"))
        self.pending.clear()
        if self.sock is not None:
            assert self._loop is not None
            self._loop.remove_reader(self.sock)
            self.sock.close()
            self.sock = None

    def send(self, query: _Query) -> int | str:
        """Send ``query`` under a fresh random ID that no other query in flight here uses; the
        ID, or why the datagram could not be sent."""
        pending = self.pending
        ident = secrets.randbits(16)
        while ident in pending:
            ident = secrets.randbits(16)
        assert self.sock is not None
        try:
            self.sock.sendto(ident.to_bytes(2, "big") + _QUERY_TAIL + query.question, self.address)
        except (BlockingIOError, InterruptedError):
            pass  # send buffer full: as good as lost on the way; the timeout resends it
        except OSError as error:  # e.g. no route to an IPv6 nameserver: no use waiting
            return f"cannot send to {self}: {error.strerror or error}"
        pending[ident] = query
        return ident

    def _read(self) -> None:
        sock = self.sock
        if sock is None:
            return
        pending = self.pending
        for _ in range(1024):  # bounded, so that a flood cannot starve the rest of the loop
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error reported on the socket: not attributable to a query
            if addr[1] != self.port or (addr[0] != self.ip and _ip_literal(addr[0]) != self.ip):
                continue
            ident = int.from_bytes(data[:2], "big")
            query = pending.get(ident)
            if query is None or not _is_answer_to(data, None, query.question):
                continue  # late (after its timeout), stray or forged: keep waiting for the real one
            del pending[ident]
            query.answered(self, data)


class _Query:
    """One question (name, type) through its attempts, driven by callbacks; ``future`` gets the
    final _Reply. Attempt i goes to nameserver i mod n; a server that answered is skipped."""

    __slots__ = ("resolver", "name", "qtype", "question", "future", "attempt", "server", "ident",
                 "timer", "failure", "answered_by", "timeouts")

    def __init__(self, resolver: AsyncResolver, name: str, wire_name: bytes, qtype: int) -> None:
        assert resolver._loop is not None
        self.resolver = resolver
        self.name = name
        self.qtype = qtype
        self.question = wire_name + (b"\x00\x01\x00\x01" if qtype == _A else b"\x00\x1c\x00\x01")
        self.future: asyncio.Future[_Reply] = resolver._loop.create_future()
        self.attempt = 0
        self.server: _Server | None = None
        self.ident = 0
        self.timer: asyncio.TimerHandle | None = None
        self.failure: _Reply | None = None  # the most telling failure so far
        self.answered_by: list[_Server] = []
        self.timeouts = 0
        self.send_next()

    def send_next(self) -> None:
        resolver = self.resolver
        servers = resolver._servers
        while self.attempt < resolver._attempts:
            server = servers[self.attempt % len(servers)]
            self.attempt += 1
            if server in self.answered_by:
                continue
            if resolver._closed:
                self.failure = _Reply("error", detail="the resolver was closed")
                break
            sent = server.send(self)
            if isinstance(sent, str):  # could not even send: counts as that server's answer
                self._failed(server, _Reply("error", detail=sent))
                continue
            self.server, self.ident = server, sent
            resolver.stats["queries"] += 1
            self.timer = resolver._loop.call_later(resolver.timeout, self.timed_out)  # type: ignore[union-attr]
            return
        self.server = None
        if self.failure is None:
            tries = "1 try" if self.timeouts == 1 else f"{self.timeouts} tries"
            where = ", ".join(str(server) for server in servers)
            self.failure = _Reply("timeout", detail=f"no answer from {where} ({tries} of {resolver.timeout:g} s)")
        self.finish(self.failure)

    def timed_out(self) -> None:
        self.timer = None
        if self.server is not None:
            self.server.pending.pop(self.ident, None)
        self.timeouts += 1
        self.resolver.stats["timeouts"] += 1
        self.send_next()

    def answered(self, server: _Server, data: bytes) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.server = None
        reply = _interpret(data, self.name, self.qtype, len(self.question), server)
        if reply.answered or reply.status == "truncated":
            self.finish(reply)
            return
        self._failed(server, reply)
        self.send_next()

    def _failed(self, server: _Server, reply: _Reply) -> None:
        if self.failure is None or _FAILURE_RANK[reply.status] > _FAILURE_RANK[self.failure.status]:
            self.failure = reply
        self.answered_by.append(server)

    def finish(self, reply: _Reply) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.future.done():
            self.future.set_result(reply)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.server is not None:
            self.server.pending.pop(self.ident, None)
            self.server = None
        self.attempt = self.resolver._attempts
        if not self.future.done():
            self.future.cancel()


# -- wire format ------------------------------------------------------------------


def _ip_literal(host: str) -> str | None:
    """The canonical text of ``host`` if it is an IP address (brackets allowed), else None."""
    if not host or (":" not in host and not host[-1].isdigit()):
        return None  # the common case, without the cost of an exception
    try:
        return str(ipaddress.ip_address(host.removeprefix("[").removesuffix("]")))
    except ValueError:
        return None


def _encode_name(host: str) -> tuple[str, bytes]:
    """(lower-case name without the trailing dot, its wire form), or ValueError."""
    name = host.strip().rstrip(".").lower()
    if not name:
        raise ValueError(f"{host!r} is empty")
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise ValueError(f"{host!r}: {error}") from None
    wire = bytearray()
    for label in name.encode("ascii").split(b"."):
        if not 0 < len(label) < 64:
            raise ValueError(f"{host!r} has an empty label or one longer than 63 characters")
        wire.append(len(label))
        wire += label
    wire.append(0)
    if len(wire) > 255:
        raise ValueError(f"{host!r} is longer than 255 bytes")
    return name, bytes(wire)


def _is_answer_to(data: bytes, ident: int | None, question: bytes) -> bool:
    """An answer (QR set) with exactly our question; ``ident`` checked when given."""
    return (
        len(data) >= 12 + len(question)
        and data[2] & _QR != 0
        and data[4:6] == b"\x00\x01"
        and (ident is None or int.from_bytes(data[:2], "big") == ident)
        # DNS names compare case-insensitively (ASCII only, as bytes.lower() does)
        and data[12 : 12 + len(question)].lower() == question
    )


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (lower-case, no trailing dot) and the offset after it.

    ValueError for a malformed name. A compression pointer (RFC 1035 §4.1.4) must point before
    the start of the name and before every earlier pointer's target, so each jump goes strictly
    back and a loop cannot happen; and a name is at most 255 bytes on the wire.
    """
    labels = []
    end = -1
    limit = offset
    size = 1  # the final zero byte
    while True:
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length >= 0xC0:  # compression pointer
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if target >= limit:
                raise ValueError("bad compression pointer")
            if end < 0:
                end = offset + 2
            offset = limit = target
            continue
        if length > 63:
            raise ValueError("unknown label type")
        size += 1 + length
        if size > 255:
            raise ValueError("name longer than 255 bytes")
        labels.append(data[offset + 1 : offset + 1 + length])
        offset += 1 + length
    if offset > len(data):
        raise ValueError("name runs past the end")
    return b".".join(labels).lower().decode("latin-1"), end if end >= 0 else offset


def _interpret(data: bytes, name: str, qtype: int, question_length: int, server: _Server) -> _Reply:
    """One answer (already checked to be ours) as a _Reply."""
    if data[2] & _TC:
        return _Reply("truncated", server=server)
    rcode = data[3] & 0x0F
    if rcode not in (_NOERROR, _NXDOMAIN):
        if rcode == _SERVFAIL:
            return _Reply("servfail", detail=f"SERVFAIL from {server}", server=server)
        what = _RCODE_NAMES.get(rcode, f"RCODE {rcode}")
        return _Reply("error", detail=f"{what} from {server}", server=server)
    size = 4 if qtype == _A else 16
    cnames: dict[str, str] = {}
    found: list[tuple[str, bytes]] = []
    try:
        offset = 12 + question_length
        for _ in range(int.from_bytes(data[6:8], "big")):
            owner, offset = _read_name(data, offset)
            rtype, rclass, _ttl, rdlength = _RR_FIXED.unpack_from(data, offset)
            offset += 10
            if offset + rdlength > len(data):
                raise ValueError("record runs past the end")
            if rclass == _IN:
                if rtype == qtype and rdlength == size:
                    found.append((owner, data[offset : offset + rdlength]))
                elif rtype == _CNAME:
                    cnames[owner] = _read_name(data, offset)[0]
            offset += rdlength
    except (ValueError, IndexError, struct.error) as error:
        return _Reply("error", detail=f"malformed answer from {server}: {error}", server=server)
    # Follow the chain from the name asked; the addresses are those of its end (RFC 1034 §3.6.2).
    chain: list[str] = []
    end = name
    while end in cnames and len(chain) < _MAX_CHAIN:
        end = cnames[end]
        chain.append(end)
    addresses = tuple(address for owner, address in found if owner == end)
    return _Reply("nxdomain" if rcode == _NXDOMAIN else "noerror", tuple(chain), addresses, server=server)


def _combine(host: str, a: _Reply, aaaa: _Reply) -> DnsAnswer:
    """The host's answer from its A and AAAA replies: addresses from either make it "ok"."""
    chain = a.chain if a.answered else aaaa.chain
    packed = set(a.addresses) | set(aaaa.addresses)
    if packed:
        # 4-byte before 16-byte, then big-endian bytes order = numeric order
        ordered = sorted(packed, key=lambda address: (len(address), address))
        return DnsAnswer(host, "ok", chain, tuple(_address_text(address) for address in ordered))
    if a.status == "nxdomain" or aaaa.status == "nxdomain":
        # NXDOMAIN means no data of any type (RFC 8020), whatever the other question did
        return DnsAnswer(host, "nxdomain", chain, ())
    if a.answered and aaaa.answered:
        return DnsAnswer(host, "no-answer", chain, ())
    # No addresses and at least one question failed: whether the name has addresses is unknown,
    # so the failure is the status (a name that answered "none" for A may still have AAAA).
    failed = {kind: reply for kind, reply in (("A", a), ("AAAA", aaaa)) if not reply.answered}
    worst = max(failed.values(), key=lambda reply: _FAILURE_RANK[reply.status])
    if len(failed) == 2 and a.detail == aaaa.detail:
        detail = str(a.detail)
    else:
        detail = "; ".join(f"{kind}: {reply.detail}" for kind, reply in failed.items())
        if len(failed) == 1:
            detail += f"; {'AAAA' if 'A' in failed else 'A'}: no addresses"
    return DnsAnswer(host, worst.status, chain, (), detail)


def _address_text(packed: bytes) -> str:
    # inet_ntoa is the fast canonical IPv4 text; ipaddress for IPv6, as the rest of monitor does
    return socket.inet_ntoa(packed) if len(packed) == 4 else str(ipaddress.IPv6Address(packed))


# -- sync convenience ---------------------------------------------------------------


def resolve_hosts(
    hosts: Iterable[str],
    dns_config: DNS,
    *,
    retries: int = DEFAULT_RETRIES,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[DnsAnswer]:
    """Resolve ``hosts`` in an event loop of its own: one answer per distinct host, in the order
    of first appearance. Not for use inside a running event loop (use AsyncResolver there)."""
    unique = list(dict.fromkeys(hosts))
    resolver = AsyncResolver.from_config(dns_config, retries=retries, concurrency=concurrency)

    async def run() -> dict[str, DnsAnswer]:
        async with resolver:
            return {answer.host: answer async for answer in resolver.resolve_many(unique)}

    answers = asyncio.run(run())
    return [answers[host] for host in unique]
