"""An RDAP server for the simulated world: ``GET /ip/{address}`` from canned responses.

Making ipwhois parse a response fetched from a configurable base URL (ipwhois 1.3):
``ipwhois.rdap.RDAP.lookup`` has no base-URL parameter. It always builds its URL
from the module-level ``RIR_RDAP`` table (keyed by ``asn_data["asn_registry"]``) or
from ``BOOTSTRAP_URL``, and only skips fetching when given ``response=``. So the
RDAP client fetches ``f"{base_url}/ip/{address}"`` itself and hands the decoded
JSON over::

    net = ipwhois.net.Net(address, proxy_opener=urllib.request.build_opener(
        urllib.request.ProxyHandler({})))           # see below
    raw = net.get_http_json(url=f"{base_url}/ip/{address}", retry_count=0)
    parsed = ipwhois.rdap.RDAP(net).lookup(
        response=raw, bootstrap=True, root_ent_check=False, depth=0, retry_count=0)

- ``bootstrap=True`` (or any ``asn_data`` with a valid ``asn_registry``) is still
  needed although nothing is fetched: ``lookup`` formats its unused URL first.
- ``root_ent_check=False`` and ``depth=0``: otherwise ``lookup`` fetches every
  entity that lacks a vCard from the real RIR (or ARIN bootstrap) server, whatever
  the base URL. The recorded responses all carry their vCards.
- ``Net`` refuses private and reserved addresses (``IPDefinedError``), 127.x
  included, so only public addresses can go through ipwhois; and it builds a
  ``dns.resolver.Resolver()``, which reads /etc/resolv.conf (no query is sent).
  monitor's client (monitor/resolve/rdap.py) therefore neither fetches through
  ``Net`` nor runs ``Net.__init__``: ``monitor.resolve.cymru.ipwhois_net`` makes
  a ``Net`` holding only what the parser reads (``address_str``), after the same
  refusal of private and reserved addresses.
- ``get_http_json`` answers a 429 by sleeping ``rate_limit_timeout`` (default 120 s)
  and ignores Retry-After; with ``retry_count=0`` it raises ``HTTPRateLimitError``
  at once. Any other error status raises ``HTTPLookupError``, which names the code
  only in its message. A client that honours Retry-After fetches with urllib
  itself and still passes the JSON as ``response=``.
- ``Net``'s default opener honours the ``http_proxy`` environment variables, even
  for 127.0.0.1; pass an opener without proxies, as above.

The server answers an address by an exact key of its responses (an address or a
CIDR), else by the narrowest response whose startAddress..endAddress contains it,
else 404 with an RDAP error body.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .loop import RequestLog, Server, daemon_thread

__all__ = ["CONTENT_TYPE", "RDAPServer", "load_recorded"]

CONTENT_TYPE = "application/rdap+json"

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def load_recorded(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The raw RDAP responses of an ipwhois recording (its tests' rdap.json), by IP."""
    with open(path, encoding="utf-8") as file:
        recording = json.load(file)
    return {address: entry["response"] for address, entry in recording.items()}


def _parse_address(text: str) -> _Address:
    """An address as RDAP servers write them: ARIN pads IPv4 octets with zeros
    ("074.125.000.000") and RIPE appends a prefix length ("62.239.237.0/32")."""
    text = text.strip().split("/")[0]
    if "." in text and ":" not in text:
        text = ".".join(str(int(octet)) for octet in text.split("."))
    return ipaddress.ip_address(text)


class _Index:
    """Finds the response for an address, as a registry finds its most specific network."""

    def __init__(self, responses: Mapping[str, dict[str, Any]]) -> None:
        self._exact: dict[_Address, dict[str, Any]] = {}
        self._ranges: list[tuple[int, _Address, _Address, dict[str, Any]]] = []
        for key, response in responses.items():
            if "/" not in key:
                self._exact[_parse_address(key)] = response
            else:
                network = ipaddress.ip_network(key, strict=False)
                self._add_range(network[0], network[-1], response)
            if "startAddress" in response and "endAddress" in response:
                start = _parse_address(response["startAddress"])
                end = _parse_address(response["endAddress"])
                self._add_range(start, end, response)
        self._ranges.sort(key=lambda entry: entry[0])

    def _add_range(self, start: _Address, end: _Address, response: dict[str, Any]) -> None:
        self._ranges.append((int(end) - int(start), start, end, response))

    def find(self, address: _Address) -> dict[str, Any] | None:
        if address in self._exact:
            return self._exact[address]
        for _, start, end, response in self._ranges:
            if start.version == address.version and int(start) <= int(address) <= int(end):
                return response
        return None


def _error_body(status: int, title: str, description: str) -> dict[str, Any]:
    # RFC 9083 §6: an error response is an RDAP object too.
    return {
        "rdapConformance": ["rdap_level_0"],
        "errorCode": status,
        "title": title,
        "description": [description],
    }


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_GET(self) -> None:
        sim = self.server.sim
        sim._log_request(self.path)
        if sim.delay > 0:
            time.sleep(sim.delay)  # each request has its own thread: the others go on
        injected = sim._take_failure()
        if injected is not None:
            status, retry_after = injected
            body = _error_body(status, "Injected failure", self.path)
            self._send(status, body, retry_after)
            return
        self._send(*self._route())

    def _route(self) -> tuple[int, dict[str, Any]]:
        prefix = "/ip/"
        if not self.path.startswith(prefix):
            return 404, _error_body(404, "Not Found", f"no such path: {self.path}")
        text = self.path[len(prefix) :]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return 400, _error_body(400, "Bad Request", f"not an IP address: {text}")
        response = self.server.sim._index.find(address)
        if response is None:
            return 404, _error_body(404, "Not Found", f"no network holds {address}")
        return 200, response

    def _send(self, status: int, body: dict[str, Any], retry_after: int | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is ``RDAPServer.requests``, not stderr."""


class _HTTPServer(ThreadingHTTPServer):
    # Join the request threads on close, so that no request outlives the server.
    daemon_threads = False

    def __init__(self, address: tuple[str, int], sim: RDAPServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.sim = sim


class RDAPServer(Server):
    """An RDAP server on ``host`` at ``base_url``, answering ``GET /ip/{address}``.

    ``responses`` maps an address or a CIDR to a raw RDAP network object. Use as
    a context manager, or call ``start()`` and ``stop()``. ``delay`` (seconds)
    postpones every answer and may be changed at any time.
    """

    def __init__(
        self,
        responses: Mapping[str, dict[str, Any]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.delay = delay
        self._index = _Index(responses)
        self._lock = threading.Lock()
        self._log: RequestLog[str] = RequestLog()
        self._failures: list[tuple[int, int | None]] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def fail_next(self, n: int, status: int = 429, retry_after: int | None = None) -> None:
        """Answer the next ``n`` requests, whatever they ask, with ``status``,
        and a Retry-After header of ``retry_after`` seconds when given."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * n)

    @property
    def requests(self) -> list[str]:
        """The path of every request received, in order."""
        return self._log.entries()

    @property
    def request_count(self) -> int:
        return len(self._log)

    def start(self) -> None:
        if self._httpd is not None:
            raise RuntimeError("the RDAP server is already running")
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = daemon_thread(
            f"sim-rdap-{self.port}",
            self._httpd.serve_forever,
            poll_interval=0.05,  # how long stop() may wait for the loop
        )

    def stop(self) -> None:
        if self._httpd is None or self._thread is None:
            return
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()
        self._httpd = self._thread = None

    def _log_request(self, path: str) -> None:
        self._log.append(path)

    def _take_failure(self) -> tuple[int, int | None] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None
