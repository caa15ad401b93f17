"""The resolver's transport: one UDP socket per nameserver, every question multiplexed over it.

A crawl resolves thousands of hosts a second. dnspython's own ``dns.asyncquery`` opens a socket
per query (measured ~1,700 queries/s); here instead

- ``Server`` keeps ONE unconnected UDP socket per nameserver and matches answers to questions by
  random 16-bit message IDs (``Server.pending``: id -> question in flight);
- ``Query`` drives one question (name, type) through its attempts with callbacks and
  ``loop.call_later`` timers, without a task or a socket per question;
- ``ask_tcp`` asks a question again over TCP after a truncated UDP answer.

Answers that are not ours are ignored, not trusted (RFC 5452): the source must be the nameserver
asked, the ID one in flight there, and the question the one we asked (``dnsmsg.read_answer``).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import TYPE_CHECKING

from ..ips import ip_literal
from .dnsmsg import Question, Reply, read_answer

if TYPE_CHECKING:
    from .dns import AsyncResolver

__all__ = ["FAILURE_RANK", "Query", "Server", "ask_tcp"]

# Our socket's receive buffer: answers to up to 2 x concurrency queries may arrive in one burst
# while we are busy; the Linux default (~208 KiB, ~200 small datagrams) would drop some, and a
# dropped answer costs a whole timeout. The kernel caps it at net.core.rmem_max.
_RECEIVE_BUFFER = 4 << 20

# A failure that an answer gave beats one where nothing answered: "servfail" only when some
# server said SERVFAIL, "timeout" only when none said anything.
FAILURE_RANK = {"timeout": 0, "error": 1, "servfail": 2}


class Server:
    """One nameserver: its UDP socket and the queries in flight there, by message ID.

    The socket is read with ``loop.add_reader`` rather than an asyncio transport: a transport
    reads one datagram per event-loop pass, this drains every answer waiting at each wake-up
    (measured: fewer loop passes and wake-ups, the main cost on a busy 2-core machine).
    """

    def __init__(self, ip: str, port: int) -> None:
        self.ip = ip
        self.port = port
        self.address = (ip, port)
        self.pending: dict[int, Query] = {}
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
            query.finish(Reply("error", detail="the resolver was closed"))
        self.pending.clear()
        if self.sock is not None:
            assert self._loop is not None
            self._loop.remove_reader(self.sock)
            self.sock.close()
            self.sock = None

    def send(self, query: Query) -> int | str:
        """Send ``query`` under a fresh random ID that no other query in flight here uses; the
        ID, or why the datagram could not be sent."""
        pending = self.pending
        ident = secrets.randbits(16)
        while ident in pending:
            ident = secrets.randbits(16)
        assert self.sock is not None
        try:
            self.sock.sendto(ident.to_bytes(2, "big") + query.wire[2:], self.address)
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
            if addr[1] != self.port or (addr[0] != self.ip and ip_literal(addr[0]) != self.ip):
                continue
            ident = int.from_bytes(data[:2], "big")
            query = pending.get(ident)
            if query is None:
                continue  # late (after its timeout) or stray
            reply = read_answer(data, query.question, query.qtype, str(self))
            if reply is None:
                continue  # forged or for another question: keep waiting for the real one
            del pending[ident]
            query.answered(self, reply)


class Query:
    """One question (name, type) through its attempts, driven by callbacks; ``future`` gets the
    final Reply. Attempt i goes to nameserver i mod n; a server that answered is skipped."""

    __slots__ = ("resolver", "question", "qtype", "wire", "future", "attempt", "server", "ident",
                 "timer", "failure", "answered_by", "timeouts")

    def __init__(self, resolver: AsyncResolver, question: Question, qtype: int) -> None:
        assert resolver._loop is not None
        self.resolver = resolver
        self.question = question
        self.qtype = qtype
        self.wire = question.wire(qtype)
        self.future: asyncio.Future[Reply] = resolver._loop.create_future()
        self.attempt = 0
        self.server: Server | None = None
        self.ident = 0
        self.timer: asyncio.TimerHandle | None = None
        self.failure: Reply | None = None  # the most telling failure so far
        self.answered_by: list[Server] = []
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
                self.failure = Reply("error", detail="the resolver was closed")
                break
            sent = server.send(self)
            if isinstance(sent, str):  # could not even send: counts as that server's answer
                self._failed(server, Reply("error", detail=sent))
                continue
            self.server, self.ident = server, sent
            resolver.stats["queries"] += 1
            self.timer = resolver._loop.call_later(resolver.timeout, self.timed_out)  # type: ignore[union-attr]
            return
        self.server = None
        if self.failure is None:
            tries = "1 try" if self.timeouts == 1 else f"{self.timeouts} tries"
            where = ", ".join(str(server) for server in servers)
            self.failure = Reply("timeout", detail=f"no answer from {where} ({tries} of {resolver.timeout:g} s)")
        self.finish(self.failure)

    def timed_out(self) -> None:
        self.timer = None
        if self.server is not None:
            self.server.pending.pop(self.ident, None)
        self.timeouts += 1
        self.resolver.stats["timeouts"] += 1
        self.send_next()

    def answered(self, server: Server, reply: Reply) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.server = None
        reply.server = server
        if reply.answered or reply.status == "truncated":
            self.finish(reply)
            return
        self._failed(server, reply)
        self.send_next()

    def _failed(self, server: Server, reply: Reply) -> None:
        if self.failure is None or FAILURE_RANK[reply.status] > FAILURE_RANK[self.failure.status]:
            self.failure = reply
        self.answered_by.append(server)

    def finish(self, reply: Reply) -> None:
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


async def ask_tcp(server: Server, question: Question, qtype: int, timeout: float) -> Reply:
    """The question again over TCP, to the server whose UDP answer was truncated."""
    ident = secrets.randbits(16)
    message = ident.to_bytes(2, "big") + question.wire(qtype)[2:]
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(server.ip, server.port)
            writer.write(len(message).to_bytes(2, "big") + message)
            length = int.from_bytes(await reader.readexactly(2), "big")
            data = await reader.readexactly(length)
    except TimeoutError:
        return Reply("timeout", detail=f"no TCP answer from {server} in {timeout:g} s")
    except (OSError, asyncio.IncompleteReadError) as error:
        return Reply("error", detail=f"TCP to {server} failed: {error}")
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
    reply = read_answer(data, question, qtype, str(server)) if data[:2] == message[:2] else None
    if reply is None:
        return Reply("error", detail=f"{server} answered another question over TCP")
    if reply.status == "truncated":  # cannot happen over TCP; do not loop
        return Reply("error", detail=f"{server} truncated its TCP answer")
    reply.server = server
    return reply
