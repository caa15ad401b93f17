"""Scripted hoster histories for tests: one hoster's location night by night, written through
the same interval writer a crawl uses (shared by the detection, listing and Datasette tests)."""

from __future__ import annotations

import json

from monitor.store.history import HOSTER_COLUMNS, IntervalWriter, as_json

NL = ("NL", 64501, "127.1.1.1")
NL2 = ("NL", 64502, "127.1.2.1")
DE = ("DE", 64511, "127.2.1.1")
MD = ("MD", 64521, "127.3.1.1")
RU = ("RU", 64531, "127.4.1.1")
CA = ("CA", 64561, "127.8.1.1")
CDN = ("US", 13335, "127.7.1.1")
V6 = ("SC", 64541, "2001:db8::5")
US = ("US", 64551, "127.6.1.1")
CZ = ("CZ", 64571, "127.9.1.1")
IN = ("IN", 64581, "127.10.1.1")
DBIP = [{"name": "DBIP-Country-Lite", "build": "2026-02-01T00:00:00Z"},
        {"name": "DBIP-ASN-Lite (compat=GeoLite2-ASN)", "build": "2026-02-01T00:00:00Z"}]
GONE = None  # a night none of the hoster's hosts resolved


def script(db, nights: dict[str, list], *, sources: list[dict] | None = None,
           urls: dict[str, int] | None = None) -> None:
    """nights: hoster -> one entry per night: a location tuple, a list of them (a round-robin
    set), GONE, or ("relabel", country, asn, ip): the same ip placed elsewhere. `sources`: the
    databases each crawl records as used (as a crawl's `sources` JSON); `urls`: how many reported
    URLs a hoster has (default one)."""
    writer = IntervalWriter(db, "hoster_states", "hoster_id", HOSTER_COLUMNS)
    ids = {}
    for name in nights:
        ids[name] = db.execute("INSERT INTO hosters (name, first_added) VALUES (?, '2026-01-01T00:00:00Z')",
                               [name]).lastrowid
        for n in range(1, (urls or {}).get(name, 1) + 1):
            db.execute("INSERT INTO urls (url, host, hoster_id, added_at) VALUES (?, ?, ?, 'x')",
                       [f"http://img.{name}/{n}.jpg", f"img.{name}", ids[name]])
    for night in range(max(len(v) for v in nights.values())):
        crawl = db.execute(
            "INSERT INTO crawls (started_at, finished_at, status, mode, sources) VALUES (?, ?, 'complete', 'head', ?)",
            [f"2026-03-{night + 1:02d}T02:00:00Z", f"2026-03-{night + 1:02d}T02:30:00Z",
             json.dumps(sources or [])]).lastrowid
        states = []
        for name, entries in nights.items():
            entry = entries[night] if night < len(entries) else entries[-1]
            if entry is GONE:
                states.append((ids[name], ("unresolved", None, None, None, None, 0)))
                continue
            places = entry if isinstance(entry, list) else [entry]
            states.append((ids[name], (
                "located", as_json(p[0] for p in places), as_json(p[1] for p in places),
                as_json(f"AS{p[1]}" for p in places), as_json(p[2] for p in places),
                int(all(p[1] == 13335 for p in places)))))
        writer.write(crawl, states)
    db.conn.commit()
