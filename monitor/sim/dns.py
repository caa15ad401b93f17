"""A DNS server for the simulated world: answers from records the test thread sets.

It plays the part of the recursive resolver the monitor talks to, in a world where
only the names set here exist: an unknown name is NXDOMAIN, and a CNAME is answered
with the records of its target, as a recursive answer would be.

It runs its own asyncio event loop in a background thread so that a benchmark can
push thousands of lookups a second through it, and so that a per-answer delay
(``loop.call_later``) never holds up the queries behind it. dnslib only parses and
builds the packets; its own threaded server is one thread per query and too slow.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import cast

from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, TXT, A, DNSError, DNSLabel, DNSRecord
from dnslib.dns import RD

from .loop import LoopServer, RequestLog

__all__ = ["DNSServer"]

# Short, like the TTLs of the fast-moving hosts the monitor watches.
DEFAULT_TTL = 60

# Without EDNS, a UDP answer may be no longer than this (RFC 1035 §4.2.1).
_UDP_LIMIT = 512

# Longer CNAME chains are treated as loops, answered SERVFAIL as real resolvers do.
_MAX_CHAIN = 16

# A name maps either to its records, by query type, or to one of these faults.
_NXDOMAIN = "nxdomain"
_SERVFAIL = "servfail"
_SILENT = "silent"
_Entry = dict[int, list[RD]] | str

_Send = Callable[[bytes], None]


def _key(name: str | DNSLabel) -> str:
    return str(name).rstrip(".").lower()


def _as_list(values: str | Iterable[str]) -> list[str]:
    # One address is easily passed bare; iterating it would split it into characters.
    return [values] if isinstance(values, str) else list(values)


class _Zone:
    """Every name of the simulated world and the answers they give.

    The test thread writes while the server's loop reads, hence the lock.
    """

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self._names: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def set_records(self, name: str, qtype: int, rdatas: list[RD]) -> None:
        with self._lock:
            entry = self._names.get(_key(name))
            # A CNAME cannot share its name with other data, and a fault has none.
            if not isinstance(entry, dict) or QTYPE.CNAME in entry:
                entry = {}
            entry[qtype] = rdatas
            self._names[_key(name)] = entry

    def set_cname(self, name: str, target: str) -> None:
        with self._lock:
            self._names[_key(name)] = {QTYPE.CNAME: [CNAME(_key(target) + ".")]}

    def set_fault(self, name: str, fault: str) -> None:
        with self._lock:
            self._names[_key(name)] = fault

    def remove(self, name: str) -> None:
        with self._lock:
            self._names.pop(_key(name), None)

    def clear(self) -> None:
        with self._lock:
            self._names.clear()

    def answer(self, request: DNSRecord) -> DNSRecord | None:
        """The reply to ``request``, or None when its name is to stay silent."""
        qtype = request.q.qtype
        reply = request.reply()
        name = request.q.qname
        with self._lock:
            for _ in range(_MAX_CHAIN):
                entry = self._names.get(_key(name), _NXDOMAIN)
                if entry == _SILENT:
                    return None
                if entry == _SERVFAIL:
                    return _failure(request, RCODE.SERVFAIL)
                if entry == _NXDOMAIN:
                    # The CNAMEs followed so far stay in the answer (RFC 6604).
                    reply.header.rcode = RCODE.NXDOMAIN
                    return reply
                assert isinstance(entry, dict)
                cname = entry.get(QTYPE.CNAME)
                if cname and qtype != QTYPE.CNAME:
                    reply.add_answer(RR(name, QTYPE.CNAME, rdata=cname[0], ttl=self.ttl))
                    name = cname[0].label
                    continue
                for rdata in entry.get(qtype, ()):
                    reply.add_answer(RR(name, qtype, rdata=rdata, ttl=self.ttl))
                return reply
        return _failure(request, RCODE.SERVFAIL)


def _failure(request: DNSRecord, rcode: int) -> DNSRecord:
    reply = request.reply()
    reply.header.rcode = rcode
    return reply


def _udp_wire(request: DNSRecord, reply: DNSRecord) -> bytes:
    """The reply as sent over UDP: truncated to an empty TC answer when too long,
    which makes the client ask again over TCP."""
    limit = _UDP_LIMIT
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            limit = max(limit, rr.rclass)  # an EDNS client's advertised payload size
    wire = reply.pack()
    if len(wire) <= limit:
        return wire
    truncated = _failure(request, reply.header.rcode)
    truncated.header.tc = 1
    return truncated.pack()


class DNSServer(LoopServer):
    """A DNS server on ``host`` answering over UDP and TCP on one ephemeral ``port``.

    Use as a context manager, or call ``start()`` and ``stop()``. Records may be
    changed from any thread while it runs. ``delay`` (seconds) postpones every
    answer and may be changed at any time. Every question received, including a
    TCP retry after a truncated UDP answer, is logged in ``queries``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay: float = 0.0,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self.host = host
        self.port = port
        self.delay = delay
        self._zone = _Zone(ttl)
        self._log: RequestLog[tuple[str, str]] = RequestLog()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Transport] = set()

    # -- records --------------------------------------------------------------

    def set_a(self, name: str, ips: str | Iterable[str]) -> None:
        """Give ``name`` these IPv4 addresses; an empty list leaves it with none."""
        rdatas = [A(str(ipaddress.IPv4Address(ip))) for ip in _as_list(ips)]
        self._zone.set_records(name, QTYPE.A, rdatas)

    def set_aaaa(self, name: str, ips: str | Iterable[str]) -> None:
        """Give ``name`` these IPv6 addresses; an empty list leaves it with none."""
        rdatas = [AAAA(str(ipaddress.IPv6Address(ip))) for ip in _as_list(ips)]
        self._zone.set_records(name, QTYPE.AAAA, rdatas)

    def set_cname(self, name: str, target: str) -> None:
        """Make ``name`` an alias of ``target``, replacing all its other records."""
        self._zone.set_cname(name, target)

    def set_txt(self, name: str, strings: str | Iterable[str]) -> None:
        """Give ``name`` one TXT record per string (each at most 255 bytes)."""
        rdatas = []
        for text in _as_list(strings):
            if len(text.encode()) > 255:
                raise ValueError(f"a TXT string is at most 255 bytes: {text[:40]!r}...")
            rdatas.append(TXT(text))
        self._zone.set_records(name, QTYPE.TXT, rdatas)

    def set_nxdomain(self, name: str) -> None:
        self._zone.set_fault(name, _NXDOMAIN)

    def set_servfail(self, name: str) -> None:
        self._zone.set_fault(name, _SERVFAIL)

    def set_silent(self, name: str) -> None:
        """Never answer questions about ``name``: the client times out."""
        self._zone.set_fault(name, _SILENT)

    def remove(self, name: str) -> None:
        """Forget ``name``: it becomes NXDOMAIN, as every unknown name is."""
        self._zone.remove(name)

    def clear(self) -> None:
        self._zone.clear()

    # -- query log ------------------------------------------------------------

    @property
    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every question received, names lowercase without the dot."""
        return self._log.entries()

    @property
    def query_count(self) -> int:
        return len(self._log)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the DNS server is already running")
        udp_sock, tcp_sock = _bind_pair(self.host, self.port)
        self.port = udp_sock.getsockname()[1]

        def unbind() -> None:
            udp_sock.close()
            tcp_sock.close()

        self._start_loop(f"sim-dns-{self.port}", lambda: self._open(udp_sock, tcp_sock), unbind)

    async def _open(self, udp_sock: socket.socket, tcp_sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(self), sock=udp_sock)
        self._tcp = await loop.create_server(lambda: _TCP(self), sock=tcp_sock)

    async def _close(self) -> None:
        assert self._udp is not None and self._tcp is not None
        self._udp.close()
        self._tcp.close()
        # Python 3.11's Server.close() leaves accepted connections open.
        for transport in list(self._connections):
            transport.close()
        await self._tcp.wait_closed()
        # Transports close their sockets in a callback of the next loop iteration;
        # let it run, or the sockets would be left to the garbage collector.
        await asyncio.sleep(0)

    # -- answering ------------------------------------------------------------

    def _respond(self, data: bytes, send: _Send, *, udp: bool) -> None:
        try:
            request = DNSRecord.parse(data)
        except DNSError:
            return  # not DNS at all; nothing in the simulated world sends that
        if not request.questions:
            return
        question = request.q
        self._log.append((_key(question.qname), QTYPE[question.qtype]))
        reply = self._zone.answer(request)
        if reply is None:
            return
        wire = _udp_wire(request, reply) if udp else reply.pack()
        delay = self.delay
        if delay > 0:
            assert self._runner is not None
            self._runner.loop.call_later(delay, send, wire)
        else:
            send(wire)


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same port, as DNS expects.

    With port 0 the kernel picks the UDP port, which may happen to be taken for
    TCP; then try another.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(128)
        except OSError as error:
            udp.close()
            tcp.close()
            if port or error.errno != errno.EADDRINUSE:
                raise
            continue
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError(errno.EADDRINUSE, f"found no port free for both UDP and TCP on {host}")


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        transport = self._transport
        assert transport is not None

        def send(wire: bytes) -> None:
            if not transport.is_closing():  # a delayed answer may outlive the server
                transport.sendto(wire, addr)

        self._server._respond(data, send, udp=True)


class _TCP(asyncio.Protocol):
    """One TCP connection: length-prefixed messages (RFC 1035 §4.2.2), possibly several."""

    def __init__(self, server: DNSServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._server._connections.add(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        assert self._transport is not None
        self._server._connections.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 2:
            (length,) = struct.unpack("!H", self._buffer[:2])
            if len(self._buffer) < 2 + length:
                return
            message, self._buffer = self._buffer[2 : 2 + length], self._buffer[2 + length :]
            self._server._respond(message, self._send, udp=False)

    def _send(self, wire: bytes) -> None:
        assert self._transport is not None
        if not self._transport.is_closing():
            self._transport.write(struct.pack("!H", len(wire)) + wire)
