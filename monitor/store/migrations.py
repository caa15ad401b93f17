"""The schema, as an ordered list of migrations; append, never edit one that has shipped.

History is kept as intervals: a *_states row holds one state of one thing from its first-seen to
its last-seen crawl, so a night that sees the same state only moves last_crawl and the database
grows with changes, not with nights. Times are ISO 8601 UTC strings ("2026-11-28T01:00:00Z").
"""

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ..urls import InvalidURL, normalise
from .respell import respell_urls

migrations = Migrations("monitor")


@migrations()
def m001_intake(db: Database) -> None:
    db.execute(
        """CREATE TABLE hosters (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,       -- registrable domain (PSL, private section) or IP
            first_added TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE urls (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,        -- normalised (monitor.urls.normalise)
            host TEXT NOT NULL,
            hoster_id INTEGER NOT NULL REFERENCES hosters(id),
            source TEXT,
            reference TEXT,
            reported_at TEXT,
            added_at TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1  -- 0: no longer revisited
        )"""
    )
    db.execute("CREATE INDEX urls_hoster ON urls(hoster_id)")
    db.execute("CREATE INDEX urls_reported_at ON urls(reported_at)")


@migrations()
def m002_history(db: Database) -> None:
    db.execute(
        """CREATE TABLE crawls (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,            -- running, complete, failed, interrupted
            pid INTEGER,
            mode TEXT NOT NULL,              -- head, dns-only
            settings TEXT,                   -- JSON: the config the crawl ran with
            sources TEXT,                    -- JSON: databases and services, with builds
            counts TEXT                      -- JSON: URLs per outcome and other totals
        )"""
    )
    # Which database (type and build) or service produced an enrichment value: many rows
    # share a few sources, so rows point here instead of repeating the strings.
    db.execute(
        """CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,              -- e.g. GeoLite2-Country, DBIP-ASN-Lite, cymru, rdap
            build TEXT NOT NULL DEFAULT '',  -- build date of a database; '' for a live service
            UNIQUE (name, build)
        )"""
    )
    db.execute(
        """CREATE TABLE host_states (
            id INTEGER PRIMARY KEY,
            host TEXT NOT NULL,
            first_crawl INTEGER NOT NULL REFERENCES crawls(id),
            last_crawl INTEGER NOT NULL REFERENCES crawls(id),
            dns_status TEXT NOT NULL,        -- ok, nxdomain, no-answer, servfail, timeout
            cname_chain TEXT,                -- JSON list
            ips TEXT                         -- JSON sorted list of A and AAAA addresses
        )"""
    )
    db.execute("CREATE INDEX host_states_host ON host_states(host, last_crawl)")
    db.execute(
        """CREATE TABLE url_states (
            id INTEGER PRIMARY KEY,
            url_id INTEGER NOT NULL REFERENCES urls(id),
            first_crawl INTEGER NOT NULL REFERENCES crawls(id),
            last_crawl INTEGER NOT NULL REFERENCES crawls(id),
            outcome TEXT NOT NULL,           -- online, removed, http-error, unreachable, ...
            http_status INTEGER,
            final_url TEXT,
            connected_ip TEXT,
            redirects TEXT,                  -- JSON list of URLs followed
            countries TEXT,                  -- JSON sorted list: where its own host resolved
            asns TEXT,                       -- JSON sorted list
            detail TEXT                      -- the error, for failures
        )"""
    )
    db.execute("CREATE INDEX url_states_url ON url_states(url_id, last_crawl)")
    db.execute(
        """CREATE TABLE rdap_networks (
            id INTEGER PRIMARY KEY,
            registry TEXT,
            handle TEXT,
            name TEXT,
            cidr TEXT,
            start_address TEXT,
            end_address TEXT,
            country TEXT,
            abuse_emails TEXT,               -- JSON list
            fetched_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE ip_states (
            id INTEGER PRIMARY KEY,
            ip TEXT NOT NULL,
            first_crawl INTEGER NOT NULL REFERENCES crawls(id),
            last_crawl INTEGER NOT NULL REFERENCES crawls(id),
            country TEXT,
            country_source INTEGER REFERENCES sources(id),
            asn INTEGER,
            as_org TEXT,
            asn_source INTEGER REFERENCES sources(id),
            registry_country TEXT,
            prefix TEXT,
            cdn TEXT,                        -- the edge network's operator, NULL if none
            rdap_network INTEGER REFERENCES rdap_networks(id)
        )"""
    )
    db.execute("CREATE INDEX ip_states_ip ON ip_states(ip, last_crawl)")
    db.execute("CREATE INDEX ip_states_country ON ip_states(country)")
    db.execute("CREATE INDEX ip_states_asn ON ip_states(asn)")
    # A hoster's location per crawl, kept as intervals too: timelines and moves read only this.
    db.execute(
        """CREATE TABLE hoster_states (
            id INTEGER PRIMARY KEY,
            hoster_id INTEGER NOT NULL REFERENCES hosters(id),
            first_crawl INTEGER NOT NULL REFERENCES crawls(id),
            last_crawl INTEGER NOT NULL REFERENCES crawls(id),
            status TEXT NOT NULL,            -- located, unresolved
            countries TEXT,                  -- JSON sorted list of ISO codes
            asns TEXT,                       -- JSON sorted list of integers
            as_orgs TEXT,                    -- JSON sorted list
            ips TEXT,                        -- JSON sorted list
            cdn INTEGER NOT NULL DEFAULT 0   -- 1: behind a CDN / proxy network
        )"""
    )
    db.execute("CREATE INDEX hoster_states_hoster ON hoster_states(hoster_id, last_crawl)")
    db.execute("CREATE INDEX hoster_states_countries ON hoster_states(countries)")


@migrations()
def m003_resolution_caches(db: Database) -> None:
    # Addresses in range columns are 32 hex digits (IPv4 as IPv4-mapped IPv6), so that SQL can
    # compare them as text: start_hex <= ip_hex <= end_hex finds the prefix holding an address.
    db.execute(
        """CREATE TABLE asn_prefixes (
            id INTEGER PRIMARY KEY,
            prefix TEXT NOT NULL UNIQUE,     -- the BGP prefix Team Cymru answered with
            start_hex TEXT NOT NULL,
            end_hex TEXT NOT NULL,
            asn INTEGER,
            as_org TEXT,
            registry TEXT,                   -- arin, ripencc, apnic, lacnic, afrinic
            registry_country TEXT,
            fetched_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX asn_prefixes_range ON asn_prefixes(start_hex, end_hex)")
    db.execute("ALTER TABLE rdap_networks ADD COLUMN start_hex TEXT")
    db.execute("ALTER TABLE rdap_networks ADD COLUMN end_hex TEXT")
    db.execute("CREATE INDEX rdap_networks_hex ON rdap_networks(start_hex, end_hex)")
    # The state of the RDAP step for an IP: ok, not-found, rate-limited, error, disabled.
    db.execute("ALTER TABLE ip_states ADD COLUMN rdap_status TEXT")


@migrations()
def m004_moves(db: Database) -> None:
    # Moves and relabels are derived from hoster_states by monitor.detect and kept here, so that
    # listing them (CLI, Datasette) is a query, not a replay of every hoster's history.
    db.execute(
        """CREATE TABLE moves (
            id INTEGER PRIMARY KEY,
            hoster_id INTEGER NOT NULL REFERENCES hosters(id),
            kind TEXT NOT NULL,              -- left-home, came-home, abroad, masked, unmasked
            from_countries TEXT NOT NULL,    -- JSON sorted lists
            to_countries TEXT NOT NULL,
            from_asns TEXT NOT NULL,
            to_asns TEXT NOT NULL,
            last_seen_before TEXT NOT NULL,  -- end of the last period at the old location
            first_seen_after TEXT NOT NULL,  -- start of the first period at the new one
            confirmed_at TEXT NOT NULL,
            confirmed_crawl INTEGER NOT NULL REFERENCES crawls(id),
            destination_has_hotline INTEGER  -- 1, 0, or NULL where the reference data does not know
        )"""
    )
    db.execute("CREATE INDEX moves_hoster ON moves(hoster_id)")
    db.execute("CREATE INDEX moves_confirmed ON moves(confirmed_at)")
    db.execute(
        """CREATE TABLE relabels (
            id INTEGER PRIMARY KEY,
            hoster_id INTEGER NOT NULL REFERENCES hosters(id),
            ips TEXT NOT NULL,
            from_countries TEXT NOT NULL,
            to_countries TEXT NOT NULL,
            first_seen_after TEXT NOT NULL,
            confirmed_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX relabels_hoster ON relabels(hoster_id)")
    # What the derived tables were computed with, so a change of settings recomputes them.
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


@migrations()
def m005_views(db: Database) -> None:
    # Views shared by `monitor stats` and Datasette, so each figure has one definition.
    db.execute(
        """CREATE VIEW url_now AS
           SELECT u.id AS url_id, u.url, u.hoster_id, COALESCE(u.reported_at, u.added_at) AS reported,
                  s.outcome, s.http_status, s.countries, s.asns, s.last_crawl
           FROM urls u LEFT JOIN url_states s ON s.url_id = u.id
             AND s.last_crawl = (SELECT MAX(last_crawl) FROM url_states WHERE url_id = u.id)"""
    )
    # Time to takedown: from the report to the first crawl that found the URL removed (404, 410)
    # or its host unresolved; NULL while it has not been taken down.
    db.execute(
        """CREATE VIEW url_takedown AS
           SELECT u.id AS url_id, u.hoster_id, COALESCE(u.reported_at, u.added_at) AS reported,
                  MIN(c.started_at) AS taken_down_at,
                  ROUND(julianday(MIN(c.started_at)) - julianday(COALESCE(u.reported_at, u.added_at)), 2)
                    AS days_to_takedown
           FROM urls u
           LEFT JOIN url_states s ON s.url_id = u.id AND s.outcome IN ('removed', 'unresolved')
           LEFT JOIN crawls c ON c.id = s.first_crawl
           GROUP BY u.id"""
    )
    db.execute(
        """CREATE VIEW hoster_now AS
           SELECT h.id AS hoster_id, h.name AS hoster, s.status, s.countries, s.asns, s.as_orgs, s.cdn,
                  s.last_crawl
           FROM hosters h LEFT JOIN hoster_states s ON s.hoster_id = h.id
             AND s.last_crawl = (SELECT MAX(last_crawl) FROM hoster_states WHERE hoster_id = h.id)"""
    )


@migrations()
def m006_rdap_network_lookup(db: Database) -> None:
    # A crawl links each IP's state to its RDAP network by handle and CIDR.
    db.execute("CREATE INDEX rdap_networks_handle ON rdap_networks(handle, cidr)")


@migrations()
def m007_retired_at(db: Database) -> None:
    # When a URL was retired (`monitor retire`); NULL while it is revisited. `active` stays, since
    # the crawl and the views read it, so the two must never disagree.
    db.execute("ALTER TABLE urls ADD COLUMN retired_at TEXT")
    # URLs retired before this column existed: when is unknown, the upgrade is the latest it was.
    db.execute("UPDATE urls SET retired_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE NOT active")
    # Refuse an update that would make them disagree, such as a hand-made `SET active = 0`. Inserts
    # are not checked: they leave both at their defaults, and a trigger on every inserted row
    # would cost an import of a million URLs about a third of its speed.
    db.execute(
        """CREATE TRIGGER urls_retired_at BEFORE UPDATE OF active, retired_at ON urls
           WHEN NEW.active IS NOT (NEW.retired_at IS NULL)
           BEGIN SELECT RAISE(ABORT, 'urls: active must be 0 exactly when retired_at is set'); END"""
    )


@migrations()
def m008_url_state_workers(db: Database) -> None:
    # The crawl worker that made the observations of a URL state (its name: host:pid, or the name
    # it was given). Not part of the state: the same state seen by another worker (a new pid every
    # night) is the same state, and a new interval per worker would make the database grow with
    # nights. So an interval records the worker of its first observation (the one that saw the
    # change) and of its latest (moved with last_crawl); names are kept once, in `workers`, as
    # `sources` keeps databases. NULL: written before workers were recorded.
    db.execute(
        """CREATE TABLE workers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE        -- host:pid, or the name the worker was given
        )"""
    )
    db.execute("ALTER TABLE url_states ADD COLUMN first_worker INTEGER REFERENCES workers(id)")
    db.execute("ALTER TABLE url_states ADD COLUMN last_worker INTEGER REFERENCES workers(id)")


@migrations()
def m009_whatwg_urls(db: Database) -> None:
    # URL identity now follows the WHATWG URL standard (monitor.urls): every stored URL is spelled
    # again by it, and spellings that become one URL are merged (monitor.store.respell says how).
    # Every spelling ever stored, and what it was counted under, stays findable here.
    db.execute(
        """CREATE TABLE url_aliases (
            alias TEXT PRIMARY KEY,          -- a spelling once stored in urls.url
            url_id INTEGER NOT NULL REFERENCES urls(id),  -- the URL it is now
            old_id INTEGER NOT NULL,         -- its urls.id then (another one's if merged)
            reason TEXT NOT NULL,            -- respelled, merged
            old_host TEXT NOT NULL,
            old_hoster TEXT NOT NULL,
            source TEXT,                     -- the old row's report fields, kept whole for a merged one
            reference TEXT,
            reported_at TEXT,
            added_at TEXT NOT NULL,
            active INTEGER NOT NULL,
            retired_at TEXT,
            recorded_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX url_aliases_url ON url_aliases(url_id)")
    # Stored URLs the standard (or our rules) refuses: kept as they were, listed for a person.
    db.execute(
        """CREATE TABLE url_refusals (
            url_id INTEGER PRIMARY KEY REFERENCES urls(id),
            reason TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )"""
    )
    # States of a merged URL that overlapped in crawls with the URL it was merged into, as they were.
    db.execute("CREATE TABLE url_states_merged AS SELECT * FROM url_states WHERE 0")
    db.execute("ALTER TABLE url_states_merged ADD COLUMN merged_into INTEGER REFERENCES urls(id)")
    db.execute("ALTER TABLE url_states_merged ADD COLUMN merged_at TEXT")
    from . import utcnow  # here, not above: the package imports this module

    def respell(url: str) -> tuple[str, str, str] | str:
        try:
            reported = normalise(url)
        except InvalidURL as error:
            return str(error)
        return reported.url, reported.host, reported.hoster

    respell_urls(db, respell, utcnow())


@migrations()
def m010_takedowns(db: Database) -> None:
    # A crawl that could not see (its resolver down, a large share of hosts or networks failing
    # at once) is kept but marked with why; it confirms no move and counts no takedown.
    db.execute("ALTER TABLE crawls ADD COLUMN degraded TEXT")
    # Takedowns are derived from url_states like moves are (monitor.detect.takedowns), one row per
    # time a URL went down: removed (404/410) or its host gone (NXDOMAIN/NODATA) on
    # moves.confirm_after consecutive healthy crawls; it may come back (reappeared) and go again.
    db.execute(
        """CREATE TABLE takedowns (
            id INTEGER PRIMARY KEY,
            url_id INTEGER NOT NULL REFERENCES urls(id),
            taken_down_crawl INTEGER NOT NULL REFERENCES crawls(id),  -- the first crawl of the run
            taken_down_at TEXT NOT NULL,
            countries TEXT,                  -- JSON: where the URL was last located before it went
            reappeared_crawl INTEGER REFERENCES crawls(id),
            reappeared_at TEXT,
            reappeared_countries TEXT        -- JSON: where it came back
        )"""
    )
    db.execute("CREATE INDEX takedowns_url ON takedowns(url_id, taken_down_crawl)")
    # Where a URL is: its latest state that located it (a night that could not see leaves no
    # location, and must not make a URL "unknown").
    db.execute("DROP VIEW url_now")
    db.execute(
        """CREATE VIEW url_now AS
           SELECT u.id AS url_id, u.url, u.hoster_id, COALESCE(u.reported_at, u.added_at) AS reported,
                  s.outcome, s.http_status, s.last_crawl, l.countries, l.asns
           FROM urls u
           LEFT JOIN url_states s ON s.id = (SELECT id FROM url_states WHERE url_id = u.id
                                             ORDER BY last_crawl DESC LIMIT 1)
           LEFT JOIN url_states l ON l.id = (SELECT id FROM url_states WHERE url_id = u.id
                                             AND countries IS NOT NULL AND countries != '[]'
                                             ORDER BY last_crawl DESC LIMIT 1)"""
    )
    db.execute("DROP VIEW url_takedown")
    # Per URL: its first takedown (the time to takedown is measured to it) and whether it is down
    # now (its latest takedown has not been followed by a reappearance).
    db.execute(
        """CREATE VIEW url_takedown AS
           SELECT u.id AS url_id, u.hoster_id, COALESCE(u.reported_at, u.added_at) AS reported,
                  f.taken_down_at, f.countries AS takedown_countries,
                  ROUND(julianday(f.taken_down_at) - julianday(COALESCE(u.reported_at, u.added_at)), 2)
                    AS days_to_takedown,
                  (l.id IS NOT NULL AND l.reappeared_crawl IS NULL) AS down_now,
                  EXISTS (SELECT 1 FROM takedowns r WHERE r.url_id = u.id AND r.reappeared_crawl IS NOT NULL)
                    AS reappeared
           FROM urls u
           LEFT JOIN takedowns f ON f.id = (SELECT id FROM takedowns WHERE url_id = u.id
                                            ORDER BY taken_down_crawl LIMIT 1)
           LEFT JOIN takedowns l ON l.id = (SELECT id FROM takedowns WHERE url_id = u.id
                                            ORDER BY taken_down_crawl DESC LIMIT 1)"""
    )


@migrations()
def m011_urls_by_host(db: Database) -> None:
    # A crawl hands out whole hosts to its worker processes and reads the active URLs host by host
    # (so kept-alive connections are reused): this index serves that read a page at a time.
    db.execute("CREATE INDEX urls_host ON urls(host, id)")
