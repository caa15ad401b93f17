"""dnspython's reading of an answer: the reference the hand-written parser is checked against.

The same interface and rules as monitor/resolve/dnsmsg.py (Question.of, Question.wire,
read_answer; CNAME loops, MAX_CHAIN, exact names), with messages built and parsed by dnspython's
message layer (``dns.message.make_query``, ``dns.message.from_wire``). The resolver does not
use it: tests/test_dns_fuzz.py compares the two on random and mutated answers, and
benchmarks/dns_stacks.py runs a whole crawl on each (this one costs ~110 us of CPU per query,
the hand-written one ~5 us: docs/dns.md).

The rcode is the header's 4 bits, as the hand-written parser reads it: our queries carry no
EDNS, so an OPT record's extended rcode in an answer is the server's error, not ours to read.
"""

from __future__ import annotations

import socket
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
from . import dnsmsg
from .dnsmsg import AAAA, MAX_CHAIN, A, Reply

__all__ = ["Question", "read_answer"]

_CNAME = dns.rdatatype.CNAME
_IN = dns.rdataclass.IN

_RCODE_NAMES = {dns.rcode.FORMERR: "FORMERR", dns.rcode.SERVFAIL: "SERVFAIL", dns.rcode.NOTIMP: "NOTIMP",
                dns.rcode.REFUSED: "REFUSED"}


class Question:
    """A host as dnsmsg.Question makes it; ``qname`` is dnspython's Name of it."""

    __slots__ = ("name", "qname", "_wires")

    def __init__(self, name: str, qname: dns.name.Name) -> None:
        self.name = name
        self.qname = qname
        self._wires: dict[int, bytes] = {}

    @classmethod
    def of(cls, host: str) -> Question:
        ours = dnsmsg.Question.of(host)  # the same checks, IDNA and lower-casing
        return cls(ours.name, dns.name.Name([*ours.labels, b""]))

    def wire(self, qtype: int) -> bytes:
        """The query for ``qtype`` as sent: RD set, no EDNS (a plain stub query every resolver
        understands; a long answer comes back truncated and is asked again over TCP)."""
        wire = self._wires.get(qtype)
        if wire is None:
            query = dns.message.make_query(self.qname, qtype, use_edns=False, id=0)
            wire = self._wires[qtype] = query.to_wire()
        return wire


def read_answer(data: bytes, question: Question, qtype: int, where: str) -> Reply | None:
    """What ``data`` says about ``question`` (of type ``qtype``), from the server ``where``; None
    when it is not an answer to that question (a stray, late or forged datagram: RFC 5452 says
    ignore it and keep waiting). The caller has matched the message ID.

    Never raises: a message dnspython cannot parse whose question is ours is an "error" reply.
    """
    try:
        message = dns.message.from_wire(data)
    except Exception as error:  # noqa: BLE001 - any failure to parse untrusted bytes is a malformed answer
        if not _asks(_question_only(data), question, qtype):
            return None
        return Reply("error", detail=f"malformed answer from {where}: {type(error).__name__}: {error}")
    if not _asks(message, question, qtype):
        return None
    if message.flags & dns.flags.TC:
        return Reply("truncated")
    rcode = dns.rcode.from_flags(int(message.flags), 0)  # the header's 4 bits: see the module doc
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        if rcode == dns.rcode.SERVFAIL:
            return Reply("servfail", detail=f"SERVFAIL from {where}")
        what = _RCODE_NAMES.get(rcode, f"RCODE {rcode}")
        return Reply("error", detail=f"{what} from {where}")
    cnames: dict[dns.name.Name, dns.name.Name] = {}
    found: dict[dns.name.Name, list[bytes]] = {}
    for rrset in message.answer:
        if rrset.rdclass != _IN:
            continue
        if rrset.rdtype == _CNAME:
            cnames.setdefault(rrset.name, next(iter(rrset)).target)
        elif rrset.rdtype == qtype:
            found.setdefault(rrset.name, []).extend(_payload(rdata, qtype) for rdata in rrset)
    # Follow the chain from the name asked; the records are those of its end (RFC 1034 §3.6.2).
    # Each step goes to a name not seen before, so this ends after at most len(cnames) steps.
    chain: list[dns.name.Name] = []
    seen = {question.qname}
    end = question.qname
    while end in cnames:
        end = cnames[end]
        chain.append(end)
        if end in seen:  # a loop; an NXDOMAIN answer stays NXDOMAIN, whatever its records
            if rcode == dns.rcode.NXDOMAIN:
                return Reply("nxdomain", _texts(chain))
            return Reply("cname-loop", _texts(chain), detail=f"CNAME loop from {where}: {_text(end)} again")
        if len(chain) > MAX_CHAIN:
            return Reply("error", detail=f"a CNAME chain longer than {MAX_CHAIN} names from {where}")
        seen.add(end)
    status = "nxdomain" if rcode == dns.rcode.NXDOMAIN else "noerror"
    return Reply(status, _texts(chain), tuple(found.get(end, ())))


def _question_only(data: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(data, question_only=True)
    except Exception:  # noqa: BLE001 - as above: unreadable is simply not ours
        return None


def _asks(message: dns.message.Message | None, question: Question, qtype: int) -> bool:
    """An answer (QR set) with exactly our one question (names compare case-insensitively)."""
    if message is None or not message.flags & dns.flags.QR or len(message.question) != 1:
        return False
    asked = message.question[0]
    return asked.rdtype == qtype and asked.rdclass == _IN and asked.name == question.qname


def _payload(rdata: Any, qtype: int) -> bytes:
    if qtype == A:
        return socket.inet_pton(socket.AF_INET, rdata.address)
    if qtype == AAAA:
        return socket.inet_pton(socket.AF_INET6, rdata.address)
    return b"".join(rdata.strings)  # TXT: one record may hold several strings (each <= 255 bytes)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()  # escaped text is ASCII: lower() is ASCII's


def _texts(names: list[dns.name.Name]) -> tuple[str, ...]:
    return tuple(_text(name) for name in names)
