"""The WHATWG URL test data (web-platform-tests, as copied by rust-url; see
tests/data/whatwg-url/SOURCE.md) against monitor.urls.normalise.

One test over every http and https case, reporting every mismatch at once. A case counts when its
input is an http(s) URL that does not depend on its base: no base, a base of another scheme, or
two slashes after the scheme (the standard then ignores the base). Cases the standard accepts but
our own rules refuse are checked to be refused for that reason, and counted.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from pathlib import Path

from ada_url import check_url

from monitor.urls import InvalidURL, normalise

DATA = Path(__file__).parent / "data" / "whatwg-url" / "urltestdata.json"

# Our rules on top of the standard: (name, pattern of the reason normalise gives).
SPACE_INSIDE = ("white space or control character inside", "contains white space or control characters")
SINGLE_LABEL = ("single-label host", "has no dot")
EMPTY_LABEL = ("empty label in the host", "has an empty label")


def http_cases() -> list[dict]:
    cases = []
    for case in json.loads(DATA.read_text(encoding="utf-8")):
        if not isinstance(case, dict):
            continue  # a comment
        # The standard strips C0 controls and spaces at both ends and drops tabs and newlines.
        text = re.sub(r"[\t\n\r]", "", case["input"].strip("".join(map(chr, range(0x21)))))
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", text)
        if scheme is None or scheme.group(1).lower() not in ("http", "https"):
            continue
        base = case.get("base")
        if base is not None and base.partition(":")[0].lower() == scheme.group(1).lower() \
                and not re.match(r"[/\\]{2}", text[scheme.end():]):
            continue  # relative to its base: no URL on its own
        cases.append(case)
    return cases


def our_refusal(case: dict) -> tuple[str, str] | None:
    """The rule of ours that refuses what the standard accepted, judged from the case's input
    and expected parts (not from what normalise does)."""
    inner = case["input"].strip("".join(map(chr, range(0x21))))
    if re.search(r"[\x00-\x20\x7f]|\s", inner):
        return SPACE_INSIDE
    hostname = case["hostname"]
    if hostname.startswith("[") or _is_ipv4(hostname):
        return None
    labels = hostname.removesuffix(".").split(".")
    if "" in labels:
        return EMPTY_LABEL
    if len(labels) < 2:
        return SINGLE_LABEL
    return None


def expected_parts(case: dict) -> tuple[dict, list[str]]:
    """What normalise should give for an accepted case, and which of our adjustments apply."""
    adjustments = ["fragment dropped"] if "#" in case["href"] else []
    url, hostname = case["href"].partition("#")[0], case["hostname"]
    if hostname.endswith(".") and not _is_ipv4(hostname):
        # Our one addition: a domain's trailing dot is dropped, in the URL and the host.
        prefix = f"{case['protocol']}//"
        userinfo = case["username"] + (f":{case['password']}" if case["password"] else "")
        prefix += f"{userinfo}@" if userinfo else ""
        assert url.startswith(prefix + hostname)
        url = prefix + hostname[:-1] + url[len(prefix + hostname):]
        hostname = hostname[:-1]
        adjustments.append("trailing dot dropped")
    host = str(ipaddress.IPv6Address(hostname[1:-1])) if hostname.startswith("[") else hostname
    port = int(case["port"]) if case["port"] else None
    return {"url": url, "host": host, "port": port, "path": case["pathname"]}, adjustments


def _is_ipv4(hostname: str) -> bool:
    try:
        ipaddress.IPv4Address(hostname)
    except ValueError:
        return False
    return True


def test_whatwg_http_and_https_cases():
    figures: Counter[str] = Counter()
    mismatches = []
    for case in http_cases():
        figures["cases"] += 1
        try:
            got = normalise(case["input"])
            refused = None
        except InvalidURL as error:
            got, refused = None, str(error)
        if case.get("failure"):
            figures["failure cases"] += 1
            if got is not None:
                mismatches.append(f"{case['input']!r}: the standard refuses it, we gave {got.url!r}")
            else:
                figures["agreed: refused"] += 1
                if check_url(case["input"]) and "punycode" in refused:
                    figures["agreed: refused by our punycode check, where ada accepts"] += 1
            continue
        figures["accepted by the standard"] += 1
        rule = our_refusal(case)
        if rule is not None:
            figures[f"refused by our rule: {rule[0]}"] += 1
            if refused is None or not re.search(rule[1], refused):
                mismatches.append(f"{case['input']!r}: expected our refusal ({rule[0]}), got {got or refused!r}")
            continue
        expected, adjustments = expected_parts(case)
        for adjustment in adjustments:
            figures[f"adjusted: {adjustment}"] += 1
        if got is None:
            mismatches.append(f"{case['input']!r}: the standard gives {case['href']!r}, we refused it: {refused}")
            continue
        actual = {"url": got.url, "host": got.host, "port": got.port, "path": got.path}
        if actual != expected:
            mismatches.append(f"{case['input']!r}: expected {expected}, got {actual}")
        else:
            figures["agreed: same URL, host, port and path"] += 1
    assert not mismatches, f"{len(mismatches)} of {figures['cases']} cases disagree:\n" + "\n".join(mismatches)
    # The figures of the copy in tests/data: a change to the rules or the data shows here.
    assert dict(figures) == {
        "cases": 371,
        "failure cases": 203,
        "agreed: refused": 203,
        # ada 4.0 accepts xn-- labels unchecked: if this figure drops, ada checks them itself now.
        "agreed: refused by our punycode check, where ada accepts": 7,
        "accepted by the standard": 168,
        "agreed: same URL, host, port and path": 114,
        "adjusted: fragment dropped": 8,
        "refused by our rule: single-label host": 34,  # foo, x, test, localhost...: most of the data's hosts
        "refused by our rule: white space or control character inside": 17,
        "refused by our rule: empty label in the host": 3,  # http://./, http://../, http://foo.09..
    }
