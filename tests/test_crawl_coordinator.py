"""The coordinator's side of a head-mode crawl, without crawling: the batch it builds from the store,
and the URL states it writes from observations (located, as intervals, with their workers)."""

from __future__ import annotations

from monitor.crawl.head import active_urls, url_state
from monitor.crawl.locations import Places
from monitor.crawl.protocol import Observation, WorkerSettings, encode
from monitor.intake import add_urls
from monitor.resolve.dns import DnsAnswer
from monitor.resolve.enrich import IpInfo
from monitor.store import history

ANSWERS = {"a.test": DnsAnswer("a.test", "ok", (), ("127.1.1.1",)),
           "b.test": DnsAnswer("b.test", "nxdomain", (), ())}
INFOS = {"127.1.1.1": IpInfo("127.1.1.1", "NL", 64501, "Polder Hosting B.V."),
         "127.2.1.1": IpInfo("127.2.1.1", "DE", 64511, "Rhein Server GmbH")}


def test_the_batch_streams_the_active_urls_each_after_its_hosts_answer(db, tmp_path):
    add_urls(db, ["http://a.test/1", "http://b.test/2", "http://a.test/3", "http://c.test/4"], lambda r: None)
    db.execute("UPDATE urls SET active = 0, retired_at = '2026-03-01T00:00:00Z' WHERE url = 'http://a.test/3'")
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


def test_url_states_are_intervals_that_record_their_first_and_latest_worker(db):
    add_urls(db, ["http://a.test/1", "http://a.test/2"], lambda rejected: None)
    nights = []
    for _ in range(3):  # one crawl runs at a time
        nights.append(history.begin_crawl(db, "head", {}))
        history.finish_crawl(db, nights[-1], "complete", {}, [])
    writer = history.writers(db)["urls"]
    places = Places(ANSWERS, INFOS)

    def night(crawl_id, worker, *observations):
        writer.write(crawl_id, ((o.url_id, url_state(o, places), worker) for o in observations))

    online = Observation(1, "online", 200, "http://a.test/1", "127.1.1.1", host="a.test")
    removed = Observation(2, "removed", 404, "http://a.test/2", "127.1.1.1", host="a.test")
    night(nights[0], "box:100", online, removed)
    night(nights[1], "box:200", online, removed)  # the same states, seen by another worker
    night(nights[2], "box:300", online, Observation(2, "online", 200, "http://a.test/2", "127.1.1.1", host="a.test"))
    rows = [tuple(r) for r in db.execute(
        "SELECT url_id, first_crawl, last_crawl, outcome, f.name, l.name FROM url_states s "
        "JOIN workers f ON f.id = s.first_worker JOIN workers l ON l.id = s.last_worker "
        "ORDER BY url_id, first_crawl")]
    assert rows == [
        (1, nights[0], nights[2], "online", "box:100", "box:300"),  # one interval for three workers
        (2, nights[0], nights[1], "removed", "box:100", "box:200"),
        (2, nights[2], nights[2], "online", "box:300", "box:300"),  # the change, and who saw it
    ]
    assert writer.changed == 3
    # a name is kept once, the rows point at it
    assert [r[0] for r in db.execute("SELECT name FROM workers ORDER BY id")] == ["box:100", "box:200", "box:300"]
