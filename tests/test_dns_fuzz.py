"""Fuzzing the hand-written DNS message parser (monitor/resolve/dnsmsg.py) with hypothesis.

Random bytes, answers built by dnspython from random chains and records, and those answers
mutated: ``read_answer`` must never raise, must finish (its work is linear in the message: every
loop consumes bytes or moves a compression pointer strictly back, and a chain visits each name
once), and wherever dnspython parses a message, its reading (monitor/resolve/dnsref.py, the same
rules on dnspython's message layer) and ours agree.

Examples are bounded (``max_examples``) and there is no deadline: time is never an assertion
here. A parser stuck in a loop is caught by running each test body in a thread with a generous
join, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.resolve import dnsmsg, dnsref
from monitor.resolve.dnsmsg import AAAA, MAX_CHAIN, TXT, A, Reply

HOST = "www.Example.com"
OURS = dnsmsg.Question.of(HOST)
THEIRS = dnsref.Question.of(HOST)
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
HANG = 60.0  # seconds: not a measure of speed, only a bound that no sound parse comes near


def bounded(body: Callable[[], None]) -> None:
    """Run ``body`` in a thread; fail if it does not end (a parser loop), re-raise what it raised."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            body()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    assert not thread.is_alive(), "the parser does not finish"
    if outcome:
        raise outcome[0]


def reading(reply: Reply | None) -> tuple | None:
    """What the two parsers must agree on: status, chain, records (dnspython merges duplicate
    records into one rdataset, so records compare as a set)."""
    if reply is None:
        return None
    return reply.status, reply.chain, sorted(set(reply.records))


def check(data: bytes, qtype: int) -> None:
    """Ours never raises; where dnspython parses the message, both read it alike."""
    ours = dnsmsg.read_answer(data, OURS, qtype, "server")
    assert ours is None or isinstance(ours, Reply)
    if ours is not None:
        assert ours.status in {"noerror", "nxdomain", "cname-loop", "truncated", "servfail", "error"}
        assert len(ours.chain) <= MAX_CHAIN + 1
    try:
        dns.message.from_wire(data)
    except Exception:  # noqa: BLE001 - dnspython refuses it: nothing to compare
        return
    assert reading(ours) == reading(dnsref.read_answer(data, THEIRS, qtype, "server"))


# -- answers built by dnspython ----------------------------------------------------------------

# Owner names and CNAME targets: the name asked (in other cases too), others, and names whose
# labels hold dots, spaces, backslashes and bytes above 0x7f (kept exact, compared as bytes).
NAMES = [
    dns.name.from_text(text)
    for text in ("www.example.com.", "WWW.EXAMPLE.COM.", "a.example.com.", "b.example.net.", "c.example.org.",
                 "we\\.ird.example.com.", "we.ird.example.com.", "sp\\032ace.example.", "x\\\\y.Example.",
                 "\\255\\000.example.", ".")
]
QTYPES = [A, AAAA, TXT]


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, int]:
    """(wire, qtype): an answer to our question with random CNAMEs and records, random rcode and
    flags, the names compressed by dnspython as a server would."""
    qtype = draw(st.sampled_from(QTYPES))
    query = dns.message.make_query(dns.name.from_text(HOST), qtype, use_edns=False, id=0)
    response = dns.message.make_response(query)
    response.set_rcode(draw(st.sampled_from([dns.rcode.NOERROR] * 4 + [
        dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.FORMERR])))
    if draw(st.integers(0, 9)) == 0:
        response.flags |= dns.flags.TC
    # A chain from the name asked, possibly looping, possibly long.
    hops = draw(st.lists(st.sampled_from(NAMES[2:]) | st.builds(_generated, st.integers(0, 999)),
                         max_size=draw(st.sampled_from([3, 12, MAX_CHAIN + 3]))))
    owner = NAMES[draw(st.integers(0, 1))]
    for target in hops:
        _add(response, owner, dns.rdatatype.CNAME, target.to_text())
        owner = target
    if hops and draw(st.booleans()):
        # A second CNAME for a name that has one (a broken server): the last one counts.
        again = draw(st.sampled_from([NAMES[0], *hops]))
        _add(response, again, dns.rdatatype.CNAME, draw(st.sampled_from(NAMES[2:])).to_text(), unique=True)
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([owner, *NAMES]))
        rtype = draw(st.sampled_from([*QTYPES, dns.rdatatype.MX]))
        _add(response, name, rtype, draw(_rdata(rtype)))
    return response.to_wire(want_shuffle=False), qtype  # dnspython shuffles with the random module


def _generated(n: int) -> dns.name.Name:
    return dns.name.from_text(f"h{n}.chain.example.")


def _rdata(rtype: int) -> st.SearchStrategy[str]:
    if rtype == A:
        return st.integers(0, 2**32 - 1).map(lambda n: ".".join(str(n >> s & 255) for s in (24, 16, 8, 0)))
    if rtype == AAAA:
        return st.integers(0, 2**128 - 1).map(lambda n: ":".join(f"{n >> s & 0xFFFF:x}" for s in range(112, -1, -16)))
    if rtype == TXT:
        strings = st.lists(st.text("abc |/.0123456789ÄЖ", max_size=40).map(_quoted), min_size=1, max_size=3)
        return strings.map(" ".join)
    return st.just("10 mail.example.com.")


def _quoted(text: str) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in text.encode()) + '"'


def _add(response: dns.message.Message, name: dns.name.Name, rtype: int, text: str, unique: bool = False) -> None:
    # unique: a record set of its own, even where one of that name and type exists
    rrset = response.find_rrset(response.answer, name, dns.rdataclass.IN, rtype, create=True, force_unique=unique)
    rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rtype, text), 60)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, int]:
    """A built answer with bytes flipped, cut, inserted or removed."""
    wire, qtype = draw(answers())
    data = bytearray(wire)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0x3F, 0x40, 0xC0, 0xC0 | (at >> 8 & 0x3F), 0xFF, at & 0xFF]))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data), qtype


# -- the properties ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=700), st.sampled_from(QTYPES))
def test_random_bytes(data: bytes, qtype: int) -> None:
    bounded(lambda: check(data, qtype))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(QTYPES), st.integers(0, 6), st.sampled_from([0, 3]))
def test_random_records_after_our_question(tail: bytes, qtype: int, count: int, rcode: int) -> None:
    # A real header and question, so that the random part is read as the answer section.
    message = bytearray(OURS.wire(qtype))
    message[2] |= 0x80  # QR: an answer
    message[3] |= rcode  # NOERROR or NXDOMAIN
    message[6:8] = count.to_bytes(2, "big")  # ANCOUNT
    bounded(lambda: check(bytes(message) + tail, qtype))


@FUZZ
@given(answers())
def test_built_answers_are_read_as_dnspython_reads_them(answer: tuple[bytes, int]) -> None:
    data, qtype = answer
    dns.message.from_wire(data)  # dnspython built it: it parses, so check() always compares
    bounded(lambda: check(data, qtype))


@FUZZ
@given(mutated())
def test_mutated_answers(answer: tuple[bytes, int]) -> None:
    data, qtype = answer
    bounded(lambda: check(data, qtype))


def test_a_large_answer_with_thousands_of_cnames_ends() -> None:
    """A TCP answer of ~50 KiB: 2,500 CNAMEs one after another, each name a label and a pointer back."""
    query = dns.message.make_query(dns.name.from_text(HOST), A, use_edns=False, id=0)
    response = dns.message.make_response(query)
    owner = dns.name.from_text(HOST)
    for n in range(2500):
        target = dns.name.from_text(f"n{n}.x.example.com.")
        _add(response, owner, dns.rdatatype.CNAME, target.to_text())
        owner = target
    data = response.to_wire(max_size=65535, want_shuffle=False)
    result: list[Reply | None] = []
    bounded(lambda: result.append(dnsmsg.read_answer(data, OURS, A, "server")))
    (reply,) = result
    assert reply is not None and reply.status == "error" and f"longer than {MAX_CHAIN}" in (reply.detail or "")
    assert reading(reply) == reading(dnsref.read_answer(data, THEIRS, A, "server"))
