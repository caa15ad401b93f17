"""Properties of URL identity, checked over generated URLs (hypothesis) rather than examples:
normalising is idempotent, a URL's hoster does not depend on its spelling, and an import never
loses a valid line."""

from __future__ import annotations

import csv
import io
import ipaddress
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.intake import import_file
from monitor.store import open_store
from monitor.urls import DEFAULT_PORTS, InvalidURL, normalise

# Fast and repeatable; no deadline, since a slow machine is no failure of the code.
PROPERTY = settings(max_examples=200, deadline=None)

ASCII_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
# Letters UTS 46 keeps as they are (lower case, no right-to-left scripts, no combining marks).
IDN_LABEL = st.text("abcàäåçéèëïñöøßüýαβγδλμπσςωабвгджзийклмнпрстуфя中文字网站", min_size=1, max_size=10)
TLD = st.text("abcdefghijklmnopqrstuvwxyzäöüαβγабв", min_size=1, max_size=8)  # never a number


@st.composite
def domains(draw) -> str:
    labels = draw(st.lists(st.one_of(ASCII_LABEL, IDN_LABEL), min_size=1, max_size=3))
    labels = [label for label in labels if not label.startswith("xn--")] or ["x"]
    return ".".join([*labels, draw(TLD)])


@st.composite
def ipv4_spellings(draw) -> str:
    """An IPv4 address as a browser still reads it: dotted decimal, one number, hex or octal."""
    address = draw(st.integers(0, 2**32 - 1))
    parts = ipaddress.IPv4Address(address).packed
    return draw(st.sampled_from([
        str(ipaddress.IPv4Address(address)),
        str(address),
        hex(address),
        ".".join(f"0{p:o}" for p in parts),
        ".".join(hex(p) for p in parts),
        f"{parts[0]}.{int.from_bytes(parts[1:], 'big')}",
    ]))


ipv6 = st.integers(0, 2**128 - 1).map(lambda n: f"[{ipaddress.IPv6Address(n).exploded}]")
hosts = st.one_of(domains(), domains(), ipv4_spellings(), ipv6)
# Text without white space or controls (our refusal) and without what would end the part.
_PART = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="#?/\\ufeff")
segments = st.one_of(st.sampled_from([".", "..", "%2e", "a%2Fb", "%zz", "x"]), st.text(_PART, max_size=8))
userinfo = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                 blacklist_characters="#?/\\@"), min_size=1, max_size=8)


@st.composite
def url_parts(draw) -> dict:
    return {
        "scheme": draw(st.sampled_from(["http", "https"])),
        "userinfo": draw(st.none() | userinfo),
        "host": draw(hosts),
        "port": draw(st.none() | st.integers(0, 65535)),
        "path": "/" + "/".join(draw(st.lists(segments, max_size=4))),
        "query": draw(st.none() | st.text(_PART.filter(lambda c: c != "#"), max_size=10)),
        "fragment": draw(st.none() | st.text(_PART, max_size=10)),
    }


def spell(parts: dict) -> str:
    return (f"{parts['scheme']}://{parts['userinfo'] + '@' if parts['userinfo'] else ''}{parts['host']}"
            f"{':' + str(parts['port']) if parts['port'] is not None else ''}{parts['path']}"
            f"{'?' + parts['query'] if parts['query'] is not None else ''}"
            f"{'#' + parts['fragment'] if parts['fragment'] is not None else ''}")


valid_urls = url_parts().map(spell)
# Anything at all behind a scheme, and anything at all: whatever is accepted must be stable.
anything = st.one_of(valid_urls, st.text(max_size=40).map(lambda s: "http://" + s), st.text(max_size=40))


@PROPERTY
@given(anything)
def test_normalising_is_idempotent(text):
    try:
        first = normalise(text)
    except InvalidURL:
        return
    assert normalise(first.url) == first


@PROPERTY
@given(url_parts(), st.data())
def test_the_hoster_does_not_depend_on_the_spelling(parts, data):
    reported = normalise(spell(parts))
    variant = dict(parts)
    flip = data.draw(st.lists(st.booleans(), min_size=len(parts["host"]), max_size=len(parts["host"])))
    # Case of the scheme and of the host's ASCII letters (non-ASCII case can change a name: ß, SS).
    variant["scheme"] = parts["scheme"].upper() if flip[0] else parts["scheme"]
    variant["host"] = "".join(c.upper() if f and c.isascii() else c for c, f in zip(parts["host"], flip, strict=True))
    if not parts["host"].startswith("["):
        # Percent-encoding of a host's characters (not IPv6: its brackets take no encoding).
        variant["host"] = "".join(
            "".join(f"%{b:02X}" for b in c.encode()) if f and c != "." else c
            for c, f in zip(variant["host"], reversed(flip), strict=True))
        # A trailing dot: the root of DNS, written out.
        if data.draw(st.booleans()):
            variant["host"] += "."
    if parts["port"] is None and data.draw(st.booleans()):
        variant["port"] = DEFAULT_PORTS[parts["scheme"]]  # the default port, written out
    respelled = normalise(spell(variant))
    assert (respelled.hoster, respelled.host, respelled.url) == (reported.hoster, reported.host, reported.url)


# Lines of a report file: URLs (some of which split into a `url` cell, as a CSV header does), and
# lines no URL can be made of (but no CSV header).
junk = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00\ufeff"), max_size=20)
report_lines = st.lists(
    st.one_of(valid_urls, valid_urls,
              valid_urls.map(lambda url: f"{url},url"), valid_urls.map(lambda url: f"{url};URL"),
              junk.filter(lambda s: "url" not in s.lower())),
    min_size=1, max_size=12)


def test_an_import_never_loses_a_valid_line(tmp_path: Path):
    db = open_store(tmp_path / "monitor.db")  # one store for every example: known URLs stay known

    @settings(PROPERTY, suppress_health_check=[HealthCheck.too_slow])
    @given(report_lines, st.sampled_from(["txt", "csv"]))
    def check(lines, kind):
        path = tmp_path / f"reports.{kind}"
        if kind == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerows([["reference", "url"], *(["R-1", line] for line in lines)])
            path.write_text(out.getvalue(), encoding="utf-8")
        else:
            path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        valid, invalid = [], 0
        for line in lines:
            try:
                valid.append(normalise(line).url)
            except InvalidURL:
                # A text file skips blank lines and comments; a CSV row has a reference, so it counts.
                invalid += kind == "csv" or bool(line.strip() and not line.strip().startswith("#"))
        result = import_file(db, path, on_reject=lambda rejected: None)
        assert (result.added + result.known, result.rejected) == (len(valid), invalid)
        stored = {row[0] for row in db.execute(
            f"SELECT url FROM urls WHERE url IN ({','.join('?' * len(valid))})", valid)}
        assert stored == set(valid)

    check()
