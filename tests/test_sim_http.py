"""The simulated web servers, spoken to through http.client and raw sockets.

Every request connects to a loopback address and names a made-up host in its
Host header, as a crawler does after resolving the name through the simulated DNS.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import pytest

from monitor.sim.http import (
    GARBAGE,
    HANG,
    HUGE_HEADERS,
    HUGE_HEADERS_BYTES,
    RESET,
    SLOW_HEADERS,
    Request,
    Route,
    WebServer,
)

A = "127.0.0.2"
B = "127.0.0.3"
HOST = "img.alpha.test"
MARKER_BODY = b"SECRET-BODY-MARKER" * 10_000


@pytest.fixture
def web() -> Iterator[WebServer]:
    with WebServer(addresses=(A, B)) as running:
        yield running


class Client:
    """One kept-alive http.client connection to an address, closed by the test."""

    def __init__(self, web: WebServer, address: str = A, timeout: float = 5.0) -> None:
        self.conn = http.client.HTTPConnection(address, web.port, timeout=timeout)

    def ask(
        self, method: str, path: str, host: str = HOST, **headers: str
    ) -> tuple[http.client.HTTPResponse, bytes]:
        self.conn.request(method, path, headers={"Host": host, **headers})
        response = self.conn.getresponse()
        return response, response.read()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def client(web: WebServer) -> Iterator[Client]:
    opened = Client(web)
    yield opened
    opened.close()


def fetch(web: WebServer, method: str, path: str, host: str = HOST, address: str = A):
    one = Client(web, address)
    try:
        return one.ask(method, path, host)
    finally:
        one.close()


def raw(web: WebServer, request: bytes, address: str = A, timeout: float = 5.0) -> bytes:
    """Everything the server sends back on a fresh connection until it closes."""
    with socket.create_connection((address, web.port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def get_request(path: str, host: str = HOST, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


# -- addresses and ports -----------------------------------------------------------


def test_every_address_listens_on_the_same_port(web: WebServer) -> None:
    assert web.port > 0
    assert web.addresses == (A, B)
    web.set_route(HOST, "/", body=b"hello")
    for address in (A, B):
        response, body = fetch(web, "GET", "/", address=address)
        assert (response.status, body) == (200, b"hello")
    assert [request.address for request in web.requests] == [A, B]


def test_url(web: WebServer) -> None:
    assert web.url(HOST) == f"http://{HOST}:{web.port}/"
    assert web.url(HOST, "/a/b?c=1") == f"http://{HOST}:{web.port}/a/b?c=1"


def test_only_loopback_addresses_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        WebServer(addresses=("127.0.0.2", "192.0.2.1"))


def test_a_taken_port_is_an_error_when_asked_for_explicitly() -> None:
    with socket.socket() as taken:
        taken.bind((B, 0))
        taken.listen()
        server = WebServer(addresses=(A, B), port=taken.getsockname()[1])
        with pytest.raises(OSError):
            server.start()
        assert not server.running


def test_restarts_on_the_same_port(web: WebServer) -> None:
    web.set_route(HOST, "/", body=b"night one")
    assert fetch(web, "GET", "/")[1] == b"night one"
    port = web.port
    web.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((A, port), timeout=5).close()
    web.set_route(HOST, "/", body=b"night two")
    web.start()
    assert web.port == port
    assert fetch(web, "GET", "/")[1] == b"night two"


def test_start_twice_is_an_error_and_stop_twice_is_not(web: WebServer) -> None:
    with pytest.raises(RuntimeError):
        web.start()
    web.stop()
    web.stop()


# -- routes --------------------------------------------------------------------------


def test_routes_by_host_name(web: WebServer) -> None:
    web.set_route("img.alpha.test", "/x.jpg", body=b"alpha")
    web.set_route("files.beta.test", "/x.jpg", body=b"beta")
    assert fetch(web, "GET", "/x.jpg", "img.alpha.test")[1] == b"alpha"
    assert fetch(web, "GET", "/x.jpg", "files.beta.test")[1] == b"beta"


def test_host_names_ignore_case_port_and_trailing_dot(web: WebServer) -> None:
    web.set_route("IMG.Alpha.test", "/", body=b"alpha")
    for host in ("img.alpha.test", f"IMG.ALPHA.TEST:{web.port}", "img.alpha.test."):
        assert fetch(web, "GET", "/", host)[1] == b"alpha"
    assert {request.host for request in web.requests} == {"img.alpha.test"}


def test_paths_match_exactly_query_included(web: WebServer) -> None:
    web.set_route(HOST, "/view?id=1", body=b"one")
    web.set_route(HOST, "/view?id=2", body=b"two")
    assert fetch(web, "GET", "/view?id=1")[1] == b"one"
    assert fetch(web, "GET", "/view?id=2")[1] == b"two"
    assert fetch(web, "GET", "/view")[0].status == 404


def test_per_host_fallback(web: WebServer) -> None:
    web.set_route(HOST, "/known", body=b"known")
    web.set_default(HOST, 410, body=b"gone")
    assert fetch(web, "GET", "/known")[1] == b"known"
    response, body = fetch(web, "GET", "/anything/else?x=1")
    assert (response.status, body) == (410, b"gone")
    assert fetch(web, "GET", "/known", "other.test")[0].status == 404


def test_unknown_hosts_and_paths_are_404(web: WebServer) -> None:
    web.set_route(HOST, "/known")
    assert fetch(web, "GET", "/unknown")[0].status == 404
    assert fetch(web, "GET", "/known", "nowhere.test")[0].status == 404


def test_wildcard_host_routes_and_global_default(web: WebServer) -> None:
    web.set_route("*", "/robots.txt", body=b"User-agent: *\n")
    web.set_default("*", 503)
    web.set_route(HOST, "/", body=b"home")
    assert fetch(web, "GET", "/robots.txt", "any.test")[1] == b"User-agent: *\n"
    assert fetch(web, "GET", "/nothing", "any.test")[0].status == 503
    assert fetch(web, "GET", "/")[1] == b"home"


def test_no_host_header_routes_by_address(web: WebServer) -> None:
    web.set_route(B, "/", body=b"by address")
    reply = raw(web, b"GET / HTTP/1.0\r\n\r\n", address=B)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.endswith(b"by address")
    assert web.requests[0].host == B


def test_absolute_form_target(web: WebServer) -> None:
    web.set_route(HOST, "/p?q=1", body=b"absolute")
    reply = raw(web, f"GET http://{HOST}:{web.port}/p?q=1 HTTP/1.1\r\nHost: ignored.test\r\n"
                     f"Connection: close\r\n\r\n".encode())
    assert reply.endswith(b"absolute")
    assert (web.requests[0].host, web.requests[0].path) == (HOST, "/p?q=1")


def test_redirect(web: WebServer) -> None:
    web.redirect(HOST, "/old", "http://cdn.gamma.test/new")
    web.redirect(HOST, "/temp", "/elsewhere", status=302)
    response, _ = fetch(web, "HEAD", "/old")
    assert response.status == 301
    assert response.getheader("Location") == "http://cdn.gamma.test/new"
    response, _ = fetch(web, "GET", "/temp")
    assert (response.status, response.getheader("Location")) == (302, "/elsewhere")


def test_set_route_with_headers_and_a_ready_route(web: WebServer) -> None:
    web.set_route(HOST, "/h", headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    web.set_route(HOST, "/r", Route(status=999, headers={"Content-Type": "text/plain"}))
    response, _ = fetch(web, "GET", "/h")
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    response, _ = fetch(web, "GET", "/r")
    assert response.status == 999
    assert response.getheader("Content-Type") == "text/plain"
    with pytest.raises(TypeError):
        web.set_route(HOST, "/r", Route(), body=b"x")
    with pytest.raises(ValueError):
        web.set_route(HOST, "/b", behaviour="explode")
    with pytest.raises(ValueError):
        web.set_route(HOST, "no-slash")


def test_remove_host_and_clear(web: WebServer) -> None:
    web.set_route(HOST, "/", body=b"home")
    web.set_default(HOST, 200, body=b"fallback")
    web.set_route("other.test", "/", body=b"other")
    web.remove_host(HOST)
    assert fetch(web, "GET", "/")[0].status == 404
    assert fetch(web, "GET", "/x")[0].status == 404
    assert fetch(web, "GET", "/", "other.test")[1] == b"other"
    web.set_default("*", 500)
    web.clear()
    assert fetch(web, "GET", "/", "other.test")[0].status == 404
    assert fetch(web, "GET", "/", "unknown.test")[0].status == 404


# -- HEAD, GET, keep-alive -----------------------------------------------------------


def test_head_has_content_length_but_no_body(web: WebServer, client: Client) -> None:
    web.set_route(HOST, "/file", body=MARKER_BODY)
    response, body = client.ask("HEAD", "/file")
    assert response.status == 200
    assert response.getheader("Content-Length") == str(len(MARKER_BODY))
    assert body == b""
    # Had a body been sent, it would be read as the next response here.
    web.set_route(HOST, "/next", body=b"next")
    response, body = client.ask("GET", "/next")
    assert (response.status, body) == (200, b"next")
    assert web.requests[0].body_bytes_written == 0


def test_head_reply_on_the_wire_ends_with_the_headers(web: WebServer) -> None:
    web.set_route(HOST, "/file", body=MARKER_BODY)
    reply = raw(web, get_request("/file", method="HEAD"))
    assert reply.endswith(b"\r\n\r\n")
    assert b"SECRET-BODY-MARKER" not in reply
    assert f"Content-Length: {len(MARKER_BODY)}\r\n".encode() in reply


def test_get_has_the_body(web: WebServer) -> None:
    web.set_route(HOST, "/file", body=MARKER_BODY, headers={"Content-Type": "image/jpeg"})
    response, body = fetch(web, "GET", "/file")
    assert body == MARKER_BODY
    assert response.getheader("Content-Type") == "image/jpeg"
    assert web.requests[0].body_bytes_written == len(MARKER_BODY)
    assert web.body_bytes_written == len(MARKER_BODY)


def test_head_status_answers_head_differently(web: WebServer, client: Client) -> None:
    web.set_route(HOST, "/no-head", body=b"the body", head_status=405)
    response, body = client.ask("HEAD", "/no-head")
    assert response.status == 405
    assert response.getheader("Allow") == "GET"
    assert response.getheader("Content-Length") == "0"
    response, body = client.ask("GET", "/no-head")
    assert (response.status, body) == (200, b"the body")


def test_keep_alive_serves_two_requests_on_one_connection(web: WebServer, client: Client) -> None:
    web.set_route(HOST, "/1", body=b"one")
    web.set_route(HOST, "/2", body=b"two")
    assert client.ask("GET", "/1")[1] == b"one"
    assert client.ask("HEAD", "/2")[0].status == 200
    assert client.ask("GET", "/2")[1] == b"two"
    first, second, third = web.requests
    assert first.connection == second.connection == third.connection
    assert fetch(web, "GET", "/1")[1] == b"one"
    assert web.requests[3].connection != first.connection


def test_connection_close_is_honoured(web: WebServer) -> None:
    web.set_route(HOST, "/", body=b"bye")
    # raw() reads until the server closes: it returns only because it did.
    reply = raw(web, get_request("/"))
    assert b"\r\nConnection: close\r\n" in reply
    assert reply.endswith(b"\r\n\r\nbye")


def test_http_1_0_closes_by_default(web: WebServer) -> None:
    web.set_route(HOST, "/", body=b"old")
    reply = raw(web, f"GET / HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
    assert reply.endswith(b"old")


def test_a_route_can_close_the_connection(web: WebServer) -> None:
    web.set_route(HOST, "/", body=b"x", headers={"Connection": "close"})
    reply = raw(web, f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert reply.count(b"Connection: close") == 1
    assert reply.endswith(b"x")


def test_chunked_body(web: WebServer) -> None:
    web.set_route(HOST, "/c", body=b"chunked body", headers={"Transfer-Encoding": "chunked"})
    response, body = fetch(web, "GET", "/c")
    assert body == b"chunked body"
    assert response.getheader("Content-Length") is None


def test_an_explicit_content_length_is_sent_as_given(web: WebServer) -> None:
    big = str(10 * 1024**3)
    web.set_route(HOST, "/big.iso", headers={"Content-Length": big}, body=b"short")
    response, _ = fetch(web, "HEAD", "/big.iso")
    assert response.getheader("Content-Length") == big
    with pytest.raises(http.client.IncompleteRead):
        fetch(web, "GET", "/big.iso")


def test_bad_requests(web: WebServer) -> None:
    assert raw(web, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    head = b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n"
    assert raw(web, head).startswith(b"HTTP/1.1 431 ")
    assert web.errors == []


# -- delay -------------------------------------------------------------------------


# A delay shows as behaviour, not as a measured duration: a client that waits less than the
# delay gets no answer, one that waits longer gets it.


def impatient(web: WebServer, path: str) -> None:
    """A GET that gives up after 0.1 s: raises TimeoutError when the answer is later."""
    one = Client(web, timeout=0.1)
    try:
        one.ask("GET", path)
    finally:
        one.close()


def test_route_delay(web: WebServer) -> None:
    web.set_route(HOST, "/slow", delay=1.0)
    web.set_route(HOST, "/quick")
    impatient(web, "/quick")
    with pytest.raises(TimeoutError):
        impatient(web, "/slow")
    assert fetch(web, "GET", "/slow")[0].status == 200


def test_server_delay_can_change_while_running(web: WebServer) -> None:
    web.set_route(HOST, "/")
    impatient(web, "/")
    web.delay = 1.0
    with pytest.raises(TimeoutError):
        impatient(web, "/")
    web.set_route(HOST, "/own", delay=0.0)  # a route's own delay wins
    impatient(web, "/own")


def test_a_delayed_response_does_not_hold_up_others(web: WebServer) -> None:
    web.set_route(HOST, "/very-slow", delay=120)
    web.set_route(HOST, "/fast", body=b"fast")
    with socket.create_connection((A, web.port), timeout=5) as waiting:
        waiting.sendall(get_request("/very-slow"))
        assert web.wait_for_requests(1)
        # Would time out, were the delay blocking the server.
        assert fetch(web, "GET", "/fast", address=B)[1] == b"fast"
    # stop() (in the fixture) cancels the pending delay.


# -- misbehaviours -----------------------------------------------------------------


def test_reset(web: WebServer) -> None:
    web.set_route(HOST, "/rst", behaviour=RESET)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        fetch(web, "GET", "/rst")
    with socket.create_connection((A, web.port), timeout=5) as sock:
        sock.sendall(get_request("/rst"))
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)
    assert web.request_count == 2


def test_hang_until_the_server_stops(web: WebServer) -> None:
    web.set_route(HOST, "/hang", behaviour=HANG)
    impatient = Client(web, timeout=0.3)
    try:
        with pytest.raises(TimeoutError):
            impatient.ask("GET", "/hang")
    finally:
        impatient.close()
    with socket.create_connection((A, web.port), timeout=0.3) as sock:
        sock.sendall(get_request("/hang"))
        with pytest.raises(TimeoutError):
            sock.recv(1024)
        assert web.wait_for_requests(2)
        sock.settimeout(5)
        web.stop()
        try:
            assert sock.recv(1024) == b""  # closed, not left hanging
        except ConnectionResetError:
            pass


def test_slow_headers_trickle_and_never_end(web: WebServer) -> None:
    web.slow_header_interval = 0.05
    web.set_route(HOST, "/slow", behaviour=SLOW_HEADERS, headers={"Content-Type": "text/html"})
    with socket.create_connection((A, web.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(get_request("/slow"))
        received = b""
        while received.count(b"\r\n") < 4:
            received += sock.recv(1024)
        elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow-0: 0\r\n")
    assert b"\r\n\r\n" not in received
    assert elapsed >= 3 * 0.05


def test_slow_headers_defeat_http_client(web: WebServer) -> None:
    web.slow_header_interval = 0.001
    web.set_route(HOST, "/slow", behaviour=SLOW_HEADERS)
    with pytest.raises(http.client.HTTPException):
        fetch(web, "GET", "/slow")


def test_huge_headers(web: WebServer) -> None:
    web.set_route(HOST, "/huge", behaviour=HUGE_HEADERS, body=b"after all that")
    with pytest.raises(http.client.HTTPException):
        fetch(web, "GET", "/huge")
    reply = raw(web, get_request("/huge"))
    head, _, body = reply.partition(b"\r\n\r\n")
    assert len(head) >= HUGE_HEADERS_BYTES
    assert max(len(line) for line in head.split(b"\r\n")) < 16 * 1024
    assert body == b"after all that"


def test_garbage(web: WebServer) -> None:
    web.set_route(HOST, "/garbage", behaviour=GARBAGE)
    with pytest.raises(http.client.BadStatusLine):
        fetch(web, "GET", "/garbage")
    assert not raw(web, get_request("/garbage")).startswith(b"HTTP/")


def test_garbage_sends_a_given_body_verbatim(web: WebServer) -> None:
    web.set_route(HOST, "/raw", behaviour=GARBAGE, body=b"HTTP/1.1 200 OK\r\nbroken")
    assert raw(web, get_request("/raw")) == b"HTTP/1.1 200 OK\r\nbroken"


# -- request log ---------------------------------------------------------------------


def test_request_log(web: WebServer, client: Client) -> None:
    web.set_route(HOST, "/a")
    client.ask("HEAD", "/a?x=1", HOST.upper(), **{"User-Agent": "monitor-test"})
    fetch(web, "GET", "/b", "other.test", address=B)
    first, second = web.requests
    assert isinstance(first, Request)
    assert (first.address, first.host, first.method, first.path) == (A, HOST, "HEAD", "/a?x=1")
    assert first.headers["user-agent"] == "monitor-test"
    assert first.version == "HTTP/1.1"
    assert (second.address, second.host, second.method) == (B, "other.test", "GET")
    assert second.path == "/b"
    assert second.time >= first.time
    assert web.request_count == 2
    web.reset_log()
    assert web.requests == []
    assert web.request_count == 0
    assert web.body_bytes_written == 0


def test_wait_for_requests_times_out(web: WebServer) -> None:
    assert not web.wait_for_requests(1, timeout=0.05)
