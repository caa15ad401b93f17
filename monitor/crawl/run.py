"""One nightly crawl: resolve each unique host once, enrich each unique IP once, revisit the URLs,
and write what changed. This process is the coordinator, the one writer to the database.

Phases, in the design's one-way order: hosts (DNS) -> IPs (enrichment) -> URLs (HEAD revisits by
a crawl worker fed a batch, ``head.py``; or nothing in dns-only mode) -> hoster locations. Every
location goes through ``locations.Places`` (one path from addresses to a location). Each phase
writes its states as intervals in short transactions, so a crawl killed at any moment leaves the
database consistent and the next crawl complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from sqlite_utils import Database

from ..config import Config
from .. import notify
from ..detect import MoveFilter, list_moves, refresh_moves
from ..store import moves as stored_moves
from ..takedowns import refresh_takedowns
from ..errors import MonitorError
from ..resolve.dns import AsyncResolver, DnsAnswer
from ..resolve.enrich import Enricher, IpInfo
from ..report import attribution
from .. import store
from ..store import history, utcnow
from .blind import dns_blind, http_blind
from .locations import Places, mmdb_enricher
from .protocol import said_nothing, unresolved_outcome, worker_name

log = logging.getLogger("monitor.crawl")

# progress(phase, done, total): the CLI draws a bar on a terminal; None for cron.
Progress = Callable[[str, int, int], None]


class CrawlRunning(MonitorError):
    """Another crawl is running on this database."""


@dataclass
class CrawlSummary:
    crawl_id: int
    mode: str
    urls: int = 0
    hosts: int = 0
    ips: int = 0
    outcomes: Counter = field(default_factory=Counter)
    workers: Counter = field(default_factory=Counter)  # observations per worker
    host_outcomes: Counter = field(default_factory=Counter)  # (host, outcome) -> URLs, for blind.py
    hosters_changed: int = 0
    moves_confirmed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per phase
    status: str = "running"
    degraded: str | None = None  # why this crawl could not see, if it could not
    not_notified: list[str] = field(default_factory=list)  # notify.urls targets that failed
    worker_peak_mib: int | None = None  # the largest local worker process's peak memory

    def line(self) -> str:
        """One line for cron's mail or a log."""
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(self.outcomes.items()))
        return (f"crawl {self.crawl_id} ({self.mode}) {self.status}: {self.urls} URLs ({outcomes}); "
                f"{self.hosts} hosts, {self.ips} IPs; {self.hosters_changed} hosters changed location; "
                f"{self.moves_confirmed} moves confirmed"
                + (f"; DEGRADED: {self.degraded} (it confirms no move and counts no takedown)" if self.degraded else "")
                + (f"; not notified: {', '.join(self.not_notified)}" if self.not_notified else ""))

    def to_json(self) -> dict:
        return {"crawl": self.crawl_id, "mode": self.mode, "status": self.status, "degraded": self.degraded,
                "urls": self.urls,
                "hosts": self.hosts, "ips": self.ips, "outcomes": dict(self.outcomes),
                "workers": dict(self.workers), "worker_peak_mib": self.worker_peak_mib,
                "hosters_changed": self.hosters_changed, "moves_confirmed": self.moves_confirmed,
                "seconds": {phase: round(s, 3) for phase, s in self.seconds.items()}}


def run_crawl(config: Config, *, dns_only: bool = False, limit: int | None = None,
              progress: Progress | None = None, clock: history.Clock = utcnow) -> CrawlSummary:
    """Run one crawl over the active reported URLs (the first `limit` of them, for a trial).

    clock gives the crawl's start and end times; the demo's simulated calendar replaces it.
    """
    mode = "dns-only" if dns_only or config.crawl.mode == "dns-only" else "head"
    if mode == "head" and config.crawl.broker:  # a broker that is down: one line, no crawl begun
        from .distributed import check_broker

        check_broker(config)
    db = store.writer(config)
    crawl_id = _begin(db, config, mode, clock)
    summary = CrawlSummary(crawl_id=crawl_id, mode=mode)
    progress = progress or (lambda phase, done, total: None)
    writers = history.writers(db)
    phase = _Phases(summary)
    try:
        with phase("resolve"):
            hosts = _hosts(db, limit)
            answers, canaries = _resolve(config, hosts, progress)
            summary.degraded = dns_blind(config.crawl, answers, canaries)
            writers["hosts"].write(crawl_id, (
                (a.host, (a.status, history.as_json(a.cname_chain) if a.cname_chain else None,
                          history.as_json(a.ips))) for a in answers.values()))
        summary.hosts = len(answers)
        with phase("enrich"), Enricher(config, db) as enricher:
            infos = _enrich(enricher, answers, progress)
            sources = [{"name": s.name, "build": s.build} for s in enricher.sources()]
        with phase("enrich"):
            writers["ips"].write(crawl_id, _ip_states(db, infos.values()))
        summary.ips = len(infos)
        with phase("revisit"), mmdb_enricher(config) as other:
            places = Places(answers, infos, other)
            if mode == "head":
                from .head import revisit_urls

                revisit_urls(db, config, crawl_id, answers, places, limit=limit, progress=progress,
                             summary=summary)
                summary.degraded = summary.degraded or http_blind(
                    config.crawl, ((host, outcome, n) for (host, outcome), n in summary.host_outcomes.items()),
                    answers, infos)
            else:
                writers["urls"].write(crawl_id, _dns_only_url_states(db, answers, places, limit, summary))
        with phase("detect"):
            addresses = history.hoster_addresses(db, crawl_id, partial=limit is not None)
            blind = {host for host, a in answers.items() if said_nothing(a.status)}
            writers["hosters"].write(crawl_id, places.hoster_states(
                addresses, unseen=history.hosters_of_hosts(db, blind) if blind else set()))
            if summary.degraded:
                history.mark_degraded(db, crawl_id, summary.degraded)
                log.warning("crawl %d is degraded: %s", crawl_id, summary.degraded)
            summary.hosters_changed = writers["hosters"].changed
            refresh_moves(db, config, current=crawl_id)
            refresh_takedowns(db, config, current=crawl_id)
            summary.moves_confirmed = stored_moves.confirmed_in(db, crawl_id)
        summary.status = "complete"
    except BaseException:
        summary.status = "failed"
        # Best effort: should the database itself be what failed (locked by another program), the
        # row stays `running` and the next crawl marks it interrupted; what was written is kept.
        with suppress(store.Error):
            history.finish_crawl(db, crawl_id, "failed", summary.to_json(), [], clock)
        raise
    history.finish_crawl(db, crawl_id, "complete", summary.to_json(), sources, clock)
    if config.notify.urls:
        summary.not_notified = _notify(config, db, summary)
    log.info(summary.line())
    return summary


def _notify(config: Config, db: Database, summary: CrawlSummary) -> list[str]:
    """Tell every notify.urls target of this crawl's new moves and whether it was degraded; the
    targets that failed."""
    crawl_id = summary.crawl_id
    told = notify.message(crawl_id, list_moves(db, MoveFilter(confirmed_crawl=crawl_id)), summary.degraded,
                          attribution.plain(attribution.for_store(db)))
    if told is None:
        return []
    return [d.target for d in notify.send(config.notify.urls, *told) if not d.ok]


class _Phases:
    """Times each phase of a crawl into summary.seconds (a phase may be entered more than once)."""

    def __init__(self, summary: CrawlSummary) -> None:
        self.summary = summary

    @contextmanager
    def __call__(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.summary.seconds[name] = self.summary.seconds.get(name, 0.0) + time.perf_counter() - started


def _begin(db: Database, config: Config, mode: str, clock: history.Clock) -> int:
    begun = history.begin_crawl(db, mode, config.model_dump(mode="json"), clock)
    if isinstance(begun, dict):
        raise CrawlRunning(
            f"crawl {begun['id']} is running on {config.database} (pid {begun['pid']}, "
            f"started {begun['started_at']}); wait for it to finish"
        )
    return begun


_hosts = history.active_hosts


def _resolve(config: Config, hosts: list[str], progress: Progress) -> tuple[dict[str, DnsAnswer], dict[str, DnsAnswer]]:
    """Each host's answer, and each canary's."""
    async def resolve_all() -> dict[str, DnsAnswer]:
        answers: dict[str, DnsAnswer] = {}
        async with AsyncResolver.from_config(config.dns) as resolver:
            async for answer in resolver.resolve_many([*config.crawl.canaries, *hosts]):
                answers[answer.host] = answer
                if len(answers) % 500 == 0:
                    progress("resolve", len(answers), len(hosts))
            # Asked again once, after all the others: a resolver that had a bad moment, or a
            # hoster's nameserver that did, may answer now.
            again = [h for h, a in answers.items() if said_nothing(a.status)]
            async for answer in resolver.resolve_many(again):
                answers[answer.host] = answer
        return answers

    answers = asyncio.run(resolve_all())
    canaries = {name: answers[name] for name in config.crawl.canaries}
    for name in set(canaries) - set(hosts):  # a canary is no reported host
        del answers[name]
    progress("resolve", len(answers), len(hosts))
    for answer in answers.values():
        if answer.status != "ok":
            log.info("dns %s: %s %s", answer.host, answer.status, answer.detail or "")
    return answers, canaries


def _enrich(enricher: Enricher, answers: dict[str, DnsAnswer], progress: Progress) -> dict[str, IpInfo]:
    ips = list(dict.fromkeys(ip for answer in answers.values() for ip in answer.ips))
    infos: dict[str, IpInfo] = {}
    for info in enricher.enrich_many(ips):
        infos[info.ip] = info
        if len(infos) % 500 == 0:
            progress("enrich", len(infos), len(ips))
    progress("enrich", len(infos), len(ips))
    return infos


def _ip_states(db: Database, infos) -> Iterator[tuple[str, tuple]]:
    source_ids: dict[tuple[str, str], int] = {}

    def source(info: IpInfo, key: str) -> int | None:
        s = info.sources.get(key)
        if s is None:
            return None
        if (s.name, s.build) not in source_ids:
            source_ids[s.name, s.build] = history.source_id(db, s.name, s.build)
        return source_ids[s.name, s.build]

    for info in infos:
        network = info.rdap.network if info.rdap else None
        network_id = history.rdap_network_id(db, network.handle, network.cidr) if network is not None else None
        yield info.ip, (
            info.country, source(info, "country"), info.asn, info.as_org, source(info, "asn"),
            info.registry_country, info.prefix, info.cdn, network_id,
            info.rdap.status if info.rdap else "disabled",
        )


def _dns_only_url_states(db: Database, answers: dict[str, DnsAnswer], places: Places,
                         limit: int | None, summary: CrawlSummary) -> Iterator[tuple[int, tuple, str]]:
    """Without HTTP a URL is `resolved` or `unresolved`, located where its own host resolved; the
    coordinator itself is the worker that observed it."""
    worker = worker_name()
    for url_id, _, host in history.active_urls(db.conn, limit):
        answer = answers.get(host)
        ok = answer is not None and answer.status == "ok"
        outcome = "resolved" if ok else unresolved_outcome(answer.status if answer else None)
        summary.urls += 1
        summary.outcomes[outcome] += 1
        summary.workers[worker] += 1
        countries, asns = places.url_columns(host)
        yield url_id, (outcome, None, None, None, None, countries, asns,
                       None if ok else (answer.status if answer else "not resolved")), worker
