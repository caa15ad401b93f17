"""The coordinator's side of a head-mode crawl, without crawling: the batch it builds from the store,
and the URL states it writes from observations (located by their own host)."""

from __future__ import annotations

from monitor.crawl.head import active_urls, url_state
from monitor.crawl.locations import Places
from monitor.crawl.protocol import Observation, WorkerSettings, encode
from monitor.intake import add_urls
from monitor.resolve.dns import DnsAnswer
from monitor.resolve.enrich import IpInfo

ANSWERS = {"a.test": DnsAnswer("a.test", "ok", (), ("127.1.1.1",)),
           "b.test": DnsAnswer("b.test", "nxdomain", (), ())}
INFOS = {"127.1.1.1": IpInfo("127.1.1.1", "NL", 64501, "Polder Hosting B.V."),
         "127.2.1.1": IpInfo("127.2.1.1", "DE", 64511, "Rhein Server GmbH")}


def test_the_batch_streams_the_active_urls_each_after_its_hosts_answer(db, tmp_path):
    add_urls(db, ["http://a.test/1", "http://b.test/2", "http://a.test/3", "http://c.test/4"], lambda r: None)
    db.execute("UPDATE urls SET active = 0 WHERE url = 'http://a.test/3'")
    db.conn.commit()
    messages = list(encode(WorkerSettings(worker="w1"), active_urls(str(tmp_path / "monitor.db"), None),
                           ANSWERS.get))
    assert messages[0]["settings"]["worker"] == "w1"
    assert messages[1:] == [
        {"host": "a.test", "status": "ok", "ips": ["127.1.1.1"], "detail": None},
        {"url": "http://a.test/1", "id": 1, "host": "a.test"},
        {"host": "b.test", "status": "nxdomain", "ips": [], "detail": None},
        {"url": "http://b.test/2", "id": 2, "host": "b.test"},
        {"url": "http://c.test/4", "id": 4, "host": "c.test"},  # not resolved: no answer to send
        {"end": 3},
    ]
    limited = list(encode(WorkerSettings(), active_urls(str(tmp_path / "monitor.db"), 1), ANSWERS.get))
    assert [m.get("id") for m in limited if "url" in m] == [1] and limited[-1] == {"end": 1}


def test_an_observation_is_located_by_its_own_host_and_where_a_redirect_ended():
    places = Places(ANSWERS, INFOS)
    online = Observation(1, "online", 200, "http://a.test/1", "127.1.1.1", host="a.test", worker="w1")
    assert url_state(online, places) == ("online", 200, "http://a.test/1", "127.1.1.1", None, '["NL"]',
                                         "[64501]", None)
    moved = Observation(2, "online", 200, "http://c.test/2", "127.2.1.1", ["http://c.test/2"], host="a.test",
                        final_host="c.test", final_ips=["127.2.1.1"], worker="w1")
    assert url_state(moved, places) == (
        "online", 200, "http://c.test/2", "127.2.1.1", '["http://c.test/2"]', '["NL"]', "[64501]",
        'final host c.test: 127.2.1.1; countries ["DE"]; asns [64511]')  # the hoster stays put
    gone = Observation(3, "unresolved", detail="nxdomain", host="b.test", worker="w1")
    assert url_state(gone, places)[5:] == (None, None, "nxdomain")
