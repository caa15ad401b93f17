"""Notifications through apprise, received by a real SMTP server and a real webhook on loopback."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from monitor import notify
from monitor.config import ConfigError, load_file

MOVES = [
    {"hoster": "tulip-img.test", "kind": "left-home", "from_countries": ["NL"], "to_countries": ["MD"],
     "first_seen_after": "2026-03-03T02:00:00Z", "urls": 3, "destination_has_hotline": None},
    {"hoster": "maple.test", "kind": "left-home", "from_countries": ["NL"], "to_countries": ["CA"],
     "first_seen_after": "2026-03-02T02:00:00Z", "urls": 1, "destination_has_hotline": False},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webhook():
    """A plain webhook receiver: every POST body, parsed as JSON."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp():
    """A real SMTP server on loopback; the messages it accepted."""
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"mailto://127.0.0.1:{controller.port}?from=monitor@hotline.test&to=analysts@hotline.test", received
    controller.stop()


def test_the_message_names_each_move_and_a_degraded_crawl():
    title, body = notify.message(12, MOVES, "the resolver did not answer")
    assert title == "monitor: crawl 12: 2 new moves, degraded"
    assert "Crawl 12 could not see (the resolver did not answer)" in body
    assert "tulip-img.test: left-home NL -> MD (first seen 2026-03-03; 3 reported URLs; destination has a " \
           "hotline: unknown)" in body
    assert "maple.test: left-home NL -> CA" in body and "hotline: no" in body
    assert notify.message(12, [], None) is None  # nothing to tell
    # Moves name countries: the databases' credit is the last line, as under every listing.
    credit = "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0"
    assert notify.message(12, MOVES, None, credit)[1].endswith(f"hotline: no)\nSources: {credit}")
    assert "Sources" not in notify.message(12, [], "blind", credit)[1]  # no country shown


def test_a_webhook_and_an_smtp_server_both_receive_it(webhook, smtp):
    (hook, posted), (mail, mails) = webhook, smtp
    title, body = notify.message(7, MOVES, None)
    deliveries = notify.send([hook, mail], title, body)
    assert [d.ok for d in deliveries] == [True, True]
    (payload,) = posted
    assert payload["title"] == "monitor: crawl 7: 2 new moves" and "tulip-img.test" in payload["message"]
    (envelope,) = mails
    assert envelope.rcpt_tos == ["analysts@hotline.test"]
    text = envelope.content.decode()
    assert "monitor: crawl 7: 2 new moves" in text and "maple.test" in text


def test_a_failing_target_is_named_and_the_others_still_get_it(webhook):
    hook, posted = webhook
    dead = f"json://127.0.0.1:{free_port()}/nobody-listens?password=secret"
    deliveries = notify.send([dead, hook], *notify.message(3, MOVES[:1], None))
    assert [d.ok for d in deliveries] == [False, True]
    assert "127.0.0.1" in deliveries[0].target and "secret" not in deliveries[0].target
    assert len(posted) == 1


def test_the_config_refuses_a_url_apprise_cannot_send_to(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("notify:\n  urls: ['json://127.0.0.1/hook', 'carrier-pigeon://coop']\n")
    with pytest.raises(ConfigError, match=r"notify.urls.1: 'carrier-pigeon://coop' is not a notification URL"):
        load_file(path)
    path.write_text("notify:\n  urls: ['json://127.0.0.1/hook']\n")
    assert load_file(path).notify.urls == ("json://127.0.0.1/hook",)


def test_a_crawl_tells_its_new_moves_and_names_a_target_that_failed(webhook, tmp_path):
    from monitor.crawl.run import run_crawl
    from monitor.intake import add_urls
    from monitor.sim.world import World
    from monitor.store import open_store

    hook, posted = webhook
    dead = f"json://127.0.0.1:{free_port()}/gone"
    with World(tmp_path / "world") as world:
        world.place("img.tulip.test", "nl")
        path = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", log_file=None)
        path.write_text(path.read_text() + f"notify:\n  urls: ['{hook}', '{dead}']\n")
        config = load_file(path)
        db = open_store(config.database)
        add_urls(db, ["http://img.tulip.test/1.jpg"], lambda r: None)
        db.close()
        lines = []
        for place in ["nl", "nl", "md", "md"]:
            world.place("img.tulip.test", place)
            lines.append(run_crawl(config, dns_only=True).line())
    (payload,) = posted  # only the crawl that confirmed the move had anything to tell
    assert payload["title"] == "monitor: crawl 4: 1 new move"
    assert payload["message"].startswith("tulip.test: left-home NL -> MD")
    assert payload["message"].endswith("\nSources: This product includes GeoLite2 data created by MaxMind, available "
                                       "from https://www.maxmind.com, licensed under CC BY-SA 4.0")
    assert "not notified: json://127.0.0.1" in lines[3] and "not notified" not in lines[2]
