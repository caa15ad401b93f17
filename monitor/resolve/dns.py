"""DNS resolution of hosts: every A and AAAA address, the CNAME chain, or how it failed.

    answers = resolve_hosts(["example.com", "192.0.2.1"], config.dns)    # sync: `monitor lookup`

    async with AsyncResolver.from_config(config.dns) as resolver:
        answer = await resolver.resolve("example.com")                  # one host
        async for answer in resolver.resolve_many(hosts):               # a crawl: as they complete
            ...
        txt = await resolver.txt("AS15169.asn.cymru.com")               # Team Cymru's questions

One resolver serves the crawl's hosts, redirect targets and Team Cymru's TXT questions. The
transport (one multiplexed UDP socket per nameserver, TCP after truncation) is ours, in
monitor/resolve/dnsio.py, because a crawl resolves thousands of hosts a second; messages are
built and parsed by hand (monitor/resolve/dnsmsg.py; docs/dns.md says why).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import dns.resolver

from ..errors import ConfigError
from ..ips import ip_literal
from .dnsio import FAILURE_RANK, Query, Server, ask_tcp
from .dnsmsg import AAAA, MAX_CHAIN, TXT, A, Question, Reply

if TYPE_CHECKING:
    from monitor.config import DNS

__all__ = [
    "MAX_CHAIN",
    "AsyncResolver",
    "DnsAnswer",
    "Status",
    "TxtAnswer",
    "resolve_hosts",
    "system_nameservers",
]

# cname-loop: the resolver answered NOERROR with CNAMEs that lead back to a name already seen.
Status = Literal["ok", "nxdomain", "no-answer", "cname-loop", "servfail", "timeout", "error"]

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

_END = object()


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """What DNS said about one host.

    ``host`` is the host exactly as it was asked for (so callers can match answers to hosts);
    ``ips`` every A and AAAA address, deduplicated, IPv4 before IPv6, each in numeric order and
    canonical text; ``cname_chain`` the CNAME targets followed from the host, in order, lower-case
    presentation text without the trailing dot (up to MAX_CHAIN of them; a loop ends with the name
    seen again); ``detail`` says what went wrong when ``status`` is not "ok".
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


@dataclass(frozen=True, slots=True)
class TxtAnswer:
    """The TXT records of a name: ``records`` holds each record's strings joined, as bytes.
    ``status`` is a Status; "ok" with no records does not happen ("no-answer")."""

    name: str
    status: str
    records: tuple[bytes, ...] = ()
    detail: str | None = None


def system_nameservers(filename: str | None = None) -> tuple[str, ...]:
    """The IP nameservers of resolv.conf (default: ``RESOLV_CONF``), or ConfigError if none."""
    filename = filename or RESOLV_CONF
    try:
        listed = dns.resolver.Resolver(filename=filename).nameservers
    except (dns.resolver.NoResolverConfiguration, OSError):
        listed = []
    servers = tuple(str(ns) for ns in listed if ip_literal(str(ns)))  # skip DoH URLs and the like
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
            ip = ip_literal(text)
            if ip is None:
                raise ValueError(f"a nameserver is an IP address, not {text!r}")
            servers.append(Server(ip, port))
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
            opened: list[Server] = []
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
        literal = ip_literal(host)
        if literal is not None:
            return DnsAnswer(host, "ok", (), (literal,))
        try:
            question = Question.of(host)
        except ValueError as error:
            return DnsAnswer(host, "error", (), (), f"not a valid DNS name: {error}")
        if not self._ready or self._closed:
            await self._start()
        async with self._semaphore:
            # Both questions go out at once; awaiting one then the other costs nothing extra.
            a = Query(self, question, A)
            aaaa = Query(self, question, AAAA)
            try:
                a_reply = await self._reply(a)
                aaaa_reply = await self._reply(aaaa)
            finally:
                a.cancel()  # no-ops once finished; when we are cancelled they free IDs and timers
                aaaa.cancel()
        return _combine(host, a_reply, aaaa_reply)

    async def txt(self, name: str) -> TxtAnswer:
        """The TXT records of ``name`` (asked as it is: no search domains, CNAMEs followed).

        Never raises for a DNS failure: that is the answer's status.
        """
        try:
            question = Question.of(name)
        except ValueError as error:
            return TxtAnswer(name, "error", (), f"not a valid DNS name: {error}")
        if not self._ready or self._closed:
            await self._start()
        async with self._semaphore:
            query = Query(self, question, TXT)
            try:
                reply = await self._reply(query)
            finally:
                query.cancel()
        if reply.records:
            return TxtAnswer(name, "ok", reply.records)
        if reply.status == "noerror":
            return TxtAnswer(name, "no-answer")
        return TxtAnswer(name, reply.status, (), reply.detail)

    async def _reply(self, query: Query) -> Reply:
        """The question's final reply; a truncated one asked again over TCP."""
        reply = await query.future
        if reply.status == "truncated":
            self.stats["tcp"] += 1
            reply = await ask_tcp(reply.server, query.question, query.qtype, self.timeout)
        return reply

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


def _combine(host: str, a: Reply, aaaa: Reply) -> DnsAnswer:
    """The host's answer from its A and AAAA replies: addresses from either make it "ok"."""
    chain = a.chain if a.answered else aaaa.chain
    packed = set(a.records) | set(aaaa.records)
    if packed:
        # 4-byte before 16-byte, then big-endian bytes order = numeric order
        ordered = sorted(packed, key=lambda address: (len(address), address))
        return DnsAnswer(host, "ok", chain, tuple(_address_text(address) for address in ordered))
    if a.status == "nxdomain" or aaaa.status == "nxdomain":
        # NXDOMAIN means no data of any type (RFC 8020), whatever the other question did
        return DnsAnswer(host, "nxdomain", chain, ())
    loop = a if a.status == "cname-loop" else aaaa if aaaa.status == "cname-loop" else None
    if loop is not None:
        return DnsAnswer(host, "cname-loop", loop.chain, (), loop.detail)
    if a.answered and aaaa.answered:
        return DnsAnswer(host, "no-answer", chain, ())
    # No addresses and at least one question failed: whether the name has addresses is unknown,
    # so the failure is the status (a name that answered "none" for A may still have AAAA).
    failed = {kind: reply for kind, reply in (("A", a), ("AAAA", aaaa)) if not reply.answered}
    worst = max(failed.values(), key=lambda reply: FAILURE_RANK[reply.status])
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
