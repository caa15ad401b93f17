"""The simulated RDAP server, read through ipwhois as the monitor's RDAP client will.

tests/data/ipwhois holds responses recorded by ipwhois's own test suite (BSD
licence beside them): real RIR answers, quirks included.
"""

import ipaddress
import json
import time
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest
from ipwhois.exceptions import HTTPLookupError, HTTPRateLimitError
from ipwhois.net import Net
from ipwhois.rdap import RDAP

from monitor.sim.rdap import CONTENT_TYPE, RDAPServer, load_recorded

RECORDING = Path(__file__).parent / "data" / "ipwhois" / "rdap.json"
RECORDED = load_recorded(RECORDING)
ASN_DATA = {ip: entry["asn_data"] for ip, entry in json.loads(RECORDING.read_text()).items()}

# Loopback must never go through a proxy named in the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def server() -> Iterator[RDAPServer]:
    with RDAPServer(RECORDED) as running:
        yield running


def fetch(url: str) -> tuple[int, Message, dict[str, Any]]:
    """Status, headers and decoded body, whatever the status."""
    try:
        with OPENER.open(url, timeout=5) as response:
            return response.status, response.headers, json.load(response)
    except HTTPError as error:
        with error:
            return error.code, error.headers, json.load(error)


def ipwhois_net(address: str) -> Net:
    return Net(address, proxy_opener=OPENER)


def test_load_recorded_gives_the_raw_responses_by_address() -> None:
    assert set(RECORDED) == {
        "74.125.225.229",
        "62.239.237.1",
        "2001:4860:4860::8888",
        "196.11.240.215",
        "210.107.73.73",
    }
    assert RECORDED["74.125.225.229"]["handle"] == "NET-74-125-0-0-1"


@pytest.mark.parametrize("address", sorted(RECORDED))
def test_ipwhois_parses_every_recording_fetched_from_the_server(
    server: RDAPServer, address: str
) -> None:
    net = ipwhois_net(address)
    raw = net.get_http_json(url=f"{server.base_url}/ip/{address}", retry_count=0)
    assert raw == RECORDED[address]

    fetched = RDAP(net).lookup(response=raw, bootstrap=True, root_ent_check=False, retry_count=0)
    recorded = RDAP(net).lookup(
        response=RECORDED[address], asn_data=ASN_DATA[address], root_ent_check=False
    )
    assert fetched == recorded
    assert fetched["query"] == address
    assert fetched["network"]["handle"] == RECORDED[address]["handle"].strip()
    cidrs = [ipaddress.ip_network(cidr) for cidr in fetched["network"]["cidr"].split(", ")]
    assert any(ipaddress.ip_address(address) in cidr for cidr in cidrs)
    assert server.requests == [f"/ip/{address}"]


@pytest.mark.parametrize(
    ("address", "handle"),
    [
        ("74.125.3.4", "NET-74-125-0-0-1"),  # ARIN's zero-padded "074.125.000.000"
        ("62.239.237.200", "62.239.237.0 - 62.239.237.255"),  # RIPE's "62.239.237.0/32"
        ("2001:4860:1::1", "NET6-2001-4860-1"),
        ("196.11.239.1", "196.11.239.0 - 196.11.246.255"),
    ],
)
def test_address_within_a_recorded_range(server: RDAPServer, address: str, handle: str) -> None:
    status, _, body = fetch(f"{server.base_url}/ip/{address}")
    assert status == 200
    assert body["handle"] == handle


def test_cidr_keys_and_the_narrowest_range_wins() -> None:
    wide = {"handle": "WIDE", "startAddress": "127.0.0.0", "endAddress": "127.255.255.255"}
    narrow = {"handle": "NARROW"}
    with RDAPServer({"127.0.0.1": wide, "127.0.1.0/24": narrow}) as server:
        assert fetch(f"{server.base_url}/ip/127.0.1.9")[2]["handle"] == "NARROW"
        assert fetch(f"{server.base_url}/ip/127.0.2.9")[2]["handle"] == "WIDE"
        assert fetch(f"{server.base_url}/ip/127.0.0.1")[2]["handle"] == "WIDE"


def test_answers_as_rdap_json(server: RDAPServer) -> None:
    status, headers, _ = fetch(f"{server.base_url}/ip/210.107.73.73")
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE


def test_unknown_address_is_404_with_an_rdap_error(server: RDAPServer) -> None:
    status, headers, body = fetch(f"{server.base_url}/ip/192.0.2.1")
    assert status == 404
    assert headers["Content-Type"] == CONTENT_TYPE
    assert body["errorCode"] == 404
    assert body["rdapConformance"] == ["rdap_level_0"]

    with pytest.raises(HTTPLookupError, match="404"):
        ipwhois_net("8.8.8.8").get_http_json(url=f"{server.base_url}/ip/8.8.8.8", retry_count=0)


def test_bad_address_and_unknown_path(server: RDAPServer) -> None:
    assert fetch(f"{server.base_url}/ip/not-an-address")[0] == 400
    assert fetch(f"{server.base_url}/domain/example.com")[0] == 404


def test_429_injection_with_retry_after(server: RDAPServer) -> None:
    url = f"{server.base_url}/ip/210.107.73.73"
    server.fail_next(2, retry_after=7)

    for _ in range(2):
        status, headers, body = fetch(url)
        assert status == 429
        assert headers["Retry-After"] == "7"
        assert body["errorCode"] == 429

    status, headers, body = fetch(url)
    assert status == 200
    assert headers["Retry-After"] is None
    assert body["handle"] == RECORDED["210.107.73.73"]["handle"]


def test_429_reaches_ipwhois_as_rate_limit_error(server: RDAPServer) -> None:
    server.fail_next(1)
    net = ipwhois_net("210.107.73.73")
    with pytest.raises(HTTPRateLimitError):
        net.get_http_json(url=f"{server.base_url}/ip/210.107.73.73", retry_count=0)


def test_other_injected_status_without_retry_after(server: RDAPServer) -> None:
    server.fail_next(1, status=503)
    status, headers, _ = fetch(f"{server.base_url}/ip/210.107.73.73")
    assert status == 503
    assert headers["Retry-After"] is None


def test_request_log(server: RDAPServer) -> None:
    server.fail_next(1)
    for path in ["/ip/210.107.73.73", "/ip/192.0.2.1", "/ip/74.125.225.229"]:
        fetch(server.base_url + path)

    assert server.requests == ["/ip/210.107.73.73", "/ip/192.0.2.1", "/ip/74.125.225.229"]
    assert server.request_count == 3

    server.reset_log()
    assert server.requests == []
    assert server.request_count == 0


def test_delay_postpones_the_answer() -> None:
    with RDAPServer(RECORDED, delay=0.2) as server:
        started = time.monotonic()
        assert fetch(f"{server.base_url}/ip/210.107.73.73")[0] == 200
        assert time.monotonic() - started >= 0.2


def test_start_and_stop_without_context_manager() -> None:
    server = RDAPServer(RECORDED)
    server.start()
    try:
        assert fetch(f"{server.base_url}/ip/210.107.73.73")[0] == 200
    finally:
        server.stop()
