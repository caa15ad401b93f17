"""DNS messages for our resolver: a question built, an answer read, by hand (RFC 1035 §4).

    question = Question.of("www.example.com")          # ValueError for a name DNS cannot carry
    wire = question.wire(A)                            # the query, message ID 0 (the sender sets it)
    reply = read_answer(data, question, A, "[::1]:53")  # None when data answers something else

Only the pieces a stub needs: the header, one question, and the answer section's A / AAAA /
CNAME / TXT records; nothing else is read. Why by hand: benchmarks/dns_stacks.py ran the same
whole crawl on this and on dnspython's message layer (monitor/resolve/dnsref.py, the same rules)
and this made it 1.5-2x faster (dnspython: ~110 us of CPU per query to build and parse, this
~5 us; see docs/dns.md). tests/test_dns_fuzz.py feeds both random and mutated answers: this one
never hangs or raises, and where dnspython parses a message the two read it alike.

Names stay exact: labels are compared as bytes (ASCII case-insensitively, as DNS does), never as
text, and chain names are written in dnspython's presentation text (``we\\.ird.example`` for a
label holding a dot, ``\\032`` for a space), lower-case, without the final dot.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import idna

__all__ = ["A", "AAAA", "MAX_CHAIN", "TXT", "Question", "Reply", "name_text", "read_answer"]

A, TXT, AAAA = 1, 16, 28
_CNAME, _IN = 5, 1
_NOERROR, _SERVFAIL, _NXDOMAIN = 0, 2, 3
_RCODE_NAMES = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"}

# CNAMEs followed in one answer, at most. Resolvers stop following long before (BIND and Unbound
# after 11 to 16 restarts), so a chain a resolver returns is never cut short; the cap only bounds
# what one host's answer can put in the store. Longer: an "error", as for a malformed answer.
MAX_CHAIN = 64

# After the 2-byte ID: flags with only RD (recursion desired) set, 1 question, no other records.
# No EDNS: a plain stub query, understood by every resolver; the rare answer over 512 bytes comes
# back truncated (TC) and is asked again over TCP.
_QUERY_TAIL = struct.pack("!HHHHH", 0x0100, 1, 0, 0, 0)
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_QR, _TC = 0x80, 0x02  # in the third byte of a message
_SPECIAL = frozenset(b'"().;\\@$')  # backslash-escaped in presentation text, as dnspython does
_PLAIN = bytes(byte for byte in range(0x21, 0x7F) if byte not in _SPECIAL)  # written as they are

Labels = tuple[bytes, ...]  # a name as lower-case labels, without the root's empty one


@dataclass(slots=True)
class Reply:
    """The outcome of one question (one type) after all its attempts.

    status: ``noerror``, ``nxdomain``, ``cname-loop`` (the server answered: a final word);
    ``truncated`` (ask again over TCP); ``servfail``, ``error``, ``timeout`` (ask another server).
    ``records``: for A and AAAA the packed addresses (4 or 16 bytes), for TXT each record's
    strings joined; in both cases of the chain's last name only.
    """

    status: str
    chain: tuple[str, ...] = ()
    records: tuple[bytes, ...] = ()
    detail: str | None = None
    server: Any = None  # who answered (the TCP retry of a truncated answer asks it)

    @property
    def answered(self) -> bool:
        return self.status in ("noerror", "nxdomain", "cname-loop")


class Question:
    """A host as DNS asks it: lower-case, IDNA (UTS 46) for non-ASCII, labels of 1 to 63 bytes,
    at most 255 bytes on the wire. ``name`` is its text; a backslash in it is a character, not
    an escape (hosts come from URLs, not from zone files)."""

    __slots__ = ("name", "labels", "wire_name")

    def __init__(self, name: str, labels: Labels, wire_name: bytes) -> None:
        self.name = name
        self.labels = labels
        self.wire_name = wire_name

    @classmethod
    def of(cls, host: str) -> Question:
        name = host.strip().rstrip(".").lower()
        if not name:
            raise ValueError(f"{host!r} is empty")
        if not name.isascii():
            try:
                name = idna.encode(name, uts46=True).decode("ascii")
            except idna.IDNAError as error:
                raise ValueError(f"{host!r}: {error}") from None
        labels = tuple(name.encode("ascii").split(b"."))
        wire = bytearray()
        for label in labels:
            if not 0 < len(label) < 64:
                raise ValueError(f"{host!r} has an empty label or one longer than 63 characters")
            wire.append(len(label))
            wire += label
        wire.append(0)
        if len(wire) > 255:
            raise ValueError(f"{host!r} is longer than 255 bytes")
        return cls(name, labels, bytes(wire))

    def wire(self, qtype: int) -> bytes:
        """The query for ``qtype`` as sent, with message ID 0."""
        return b"\x00\x00" + _QUERY_TAIL + self.wire_name + struct.pack("!HH", qtype, _IN)


def read_answer(data: bytes, question: Question, qtype: int, where: str) -> Reply | None:
    """What ``data`` says about ``question`` (of type ``qtype``), from the server ``where``; None
    when it is not an answer to that question (a stray, late or forged datagram: RFC 5452 says
    ignore it and keep waiting). The caller has matched the message ID.

    Never raises; time and memory are linear in len(data).
    """
    asked = question.wire_name + struct.pack("!HH", qtype, _IN)
    if not (
        len(data) >= 12 + len(asked)
        and data[2] & _QR
        and data[4:6] == b"\x00\x01"
        # DNS names compare case-insensitively (ASCII only, as bytes.lower() does)
        and data[12 : 12 + len(asked)].lower() == asked
    ):
        return None
    if data[2] & _TC:
        return Reply("truncated")
    rcode = data[3] & 0x0F
    if rcode not in (_NOERROR, _NXDOMAIN):
        if rcode == _SERVFAIL:
            return Reply("servfail", detail=f"SERVFAIL from {where}")
        return Reply("error", detail=f"{_RCODE_NAMES.get(rcode, f'RCODE {rcode}')} from {where}")
    cnames: dict[Labels, Labels] = {}
    found: dict[Labels, list[bytes]] = {}
    try:
        offset = 12 + len(asked)
        for _ in range(int.from_bytes(data[6:8], "big")):
            owner, offset = _read_name(data, offset)
            rtype, rclass, _ttl, rdlength = _RR_FIXED.unpack_from(data, offset)
            offset += 10
            if offset + rdlength > len(data):
                raise ValueError("record runs past the end")
            if rclass == _IN:
                if rtype == _CNAME:
                    cnames[owner] = _read_name(data, offset)[0]  # a name has one CNAME: the last
                elif rtype == qtype == TXT:
                    found.setdefault(owner, []).append(_txt(data[offset : offset + rdlength]))
                elif rtype == qtype and rdlength == (4 if qtype == A else 16):
                    found.setdefault(owner, []).append(data[offset : offset + rdlength])
            offset += rdlength
    except (ValueError, IndexError, struct.error) as error:
        return Reply("error", detail=f"malformed answer from {where}: {error}")
    # Follow the chain from the name asked; the records are those of its end (RFC 1034 §3.6.2).
    # Each step goes to a name not seen before, so this ends after at most len(cnames) steps.
    chain: list[Labels] = []
    end = question.labels
    seen = {end}
    while end in cnames:
        end = cnames[end]
        chain.append(end)
        if end in seen:  # a loop; an NXDOMAIN answer stays NXDOMAIN, whatever its records
            texts = tuple(map(name_text, chain))
            if rcode == _NXDOMAIN:
                return Reply("nxdomain", texts)
            return Reply("cname-loop", texts, detail=f"CNAME loop from {where}: {name_text(end)} again")
        if len(chain) > MAX_CHAIN:
            return Reply("error", detail=f"a CNAME chain longer than {MAX_CHAIN} names from {where}")
        seen.add(end)
    status = "nxdomain" if rcode == _NXDOMAIN else "noerror"
    return Reply(status, tuple(map(name_text, chain)), tuple(found.get(end, ())))


def _read_name(data: bytes, offset: int) -> tuple[Labels, int]:
    """The name at ``offset`` (lower-case labels) and the offset after it.

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
        if offset + 1 + length > len(data):
            raise ValueError("name runs past the end")
        labels.append(data[offset + 1 : offset + 1 + length].lower())
        offset += 1 + length
    return tuple(labels), end if end >= 0 else offset


def _txt(rdata: bytes) -> bytes:
    """A TXT record's character-strings (each a length byte and its bytes), joined."""
    strings, offset = [], 0
    while offset < len(rdata):
        length = rdata[offset]
        if offset + 1 + length > len(rdata):
            raise ValueError("TXT string runs past the end")
        strings.append(rdata[offset + 1 : offset + 1 + length])
        offset += 1 + length
    return b"".join(strings)


def name_text(labels: Labels) -> str:
    """A name's presentation text without the final dot, escaped as dnspython escapes it."""
    if not labels:
        return "."
    return ".".join(_label_text(label) for label in labels)


def _label_text(label: bytes) -> str:
    if not label.translate(None, _PLAIN):  # the common case: nothing to escape
        return label.decode("ascii")
    return "".join(
        f"\\{chr(byte)}" if byte in _SPECIAL else chr(byte) if 0x20 < byte < 0x7F else f"\\{byte:03d}"
        for byte in label
    )
