"""Move detection and timelines at scale: 1,000,000 URLs over 50,000 hosters, 60 nights.

    python benchmarks/detect_scale.py [--urls 1000000] [--hosters 50000] [--nights 60] [--churn 0.01]

Writes the history straight into a store (as the crawl's interval writer leaves it: one
hoster_states row per change; `churn` of the hosters change location each night), then times
`moves` cold (the first call derives the moves table from all 60 nights), warm (after a crawl has
refreshed it), with a filter, and `timeline` of one hoster. Target (issue 5): under a second.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from monitor.config import Config
from monitor.detect import MoveFilter, list_moves, refresh_moves, timeline
from monitor.store import open_store

PLACES = [("NL", 64501), ("NL", 64502), ("DE", 64511), ("MD", 64521), ("RU", 64531), ("SC", 64541),
          ("US", 13335)]


def build(db, urls: int, hosters: int, nights: int, churn: float, rng: random.Random) -> None:
    conn = db.conn
    with db.atomic():
        conn.executemany("INSERT INTO hosters (id, name, first_added) VALUES (?, ?, '2026-01-01T00:00:00Z')",
                         ((h, f"hoster{h}.test") for h in range(1, hosters + 1)))
        conn.executemany("INSERT INTO urls (url, host, hoster_id, added_at) VALUES (?, ?, ?, '2026-01-01T00:00:00Z')",
                         ((f"http://img.hoster{u % hosters + 1}.test/{u}.jpg", f"img.hoster{u % hosters + 1}.test",
                           u % hosters + 1) for u in range(urls)))
        conn.executemany("INSERT INTO crawls (id, started_at, finished_at, status, mode) VALUES (?, ?, ?, 'complete', 'head')",
                         ((n, f"2026-{1 + (n - 1) // 28:02d}-{1 + (n - 1) % 28:02d}T02:00:00Z",
                           f"2026-{1 + (n - 1) // 28:02d}-{1 + (n - 1) % 28:02d}T03:00:00Z") for n in range(1, nights + 1)))
        rows = []
        for h in range(1, hosters + 1):
            place, first = rng.randrange(len(PLACES)), 1
            for night in range(2, nights + 2):
                if night == nights + 1 or rng.random() < churn:
                    country, asn = PLACES[place]
                    rows.append((h, first, night - 1, "located", json.dumps([country]), json.dumps([asn]),
                                 json.dumps([f"AS{asn}"]), json.dumps([f"127.{place}.{h % 250}.1"]), int(asn == 13335)))
                    place, first = rng.randrange(len(PLACES)), night
        conn.executemany("INSERT INTO hoster_states (hoster_id, first_crawl, last_crawl, status, countries, asns, "
                         "as_orgs, ips, cdn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--hosters", type=int, default=50_000)
    parser.add_argument("--nights", type=int, default=60)
    parser.add_argument("--churn", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_store(Path(tmp) / "monitor.db")
        _, built = timed(build, db, args.urls, args.hosters, args.nights, args.churn, random.Random(5))
        states = db.execute("SELECT COUNT(*) FROM hoster_states").fetchone()[0]
        config = Config()
        _, derive = timed(refresh_moves, db, config)
        moves, listed = timed(list_moves, db)
        _, filtered = timed(list_moves, db, MoveFilter(kind="left-home", since="2026-02-01"))
        _, one = timed(timeline, db, "hoster4242.test")
        _, hoster_moves = timed(list_moves, db, MoveFilter(hoster="hoster4242.test"))
        db.close()
    print(f"{args.urls:,} URLs, {args.hosters:,} hosters, {args.nights} nights, {states:,} hoster states "
          f"(built in {built:.0f} s); {len(moves):,} moves")
    print(f"deriving every move: {derive:.2f} s; listing all: {listed:.2f} s; filtered: {filtered:.2f} s; "
          f"one hoster's moves: {hoster_moves * 1000:.0f} ms; timeline: {one * 1000:.0f} ms")


if __name__ == "__main__":
    main()
