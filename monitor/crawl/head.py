"""The head-mode phase on the coordinator's side: batches from the store in, URL states out.

    revisit_urls(db, config, crawl_id, answers, places, limit=None, progress=progress, summary=summary)

The coordinator is the one writer. It streams the batch to ``crawl.processes`` workers
(``revisit_streams``, ``local.host_streams``): the settings, then the active URLs read host by host
a page at a time from the store (in the feeders' threads, over a read-only connection of its own),
each whole host to one worker, each URL preceded by its host's answer from this crawl's resolution
where the worker's window no longer holds it. It writes each observation as the URL's state
(``url_states`` intervals, a batch per transaction, so a crawl killed at any moment leaves the
database consistent), located by ``Places``, and records which worker made it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from sqlite_utils import Database

from ..config import Config
from ..resolve.dns import DnsAnswer
from ..store import history, open_reader
from .local import cores, host_streams
from .locations import Places
from .protocol import Observation, WorkerSettings
from .revisit import revisit_streams

Progress = Callable[[str, int, int], None]

PROGRESS_INTERVAL = 0.5  # seconds between progress calls


count_urls = history.count_active_urls


def active_urls(database: str, limit: int | None) -> Iterator[tuple[int, str, str]]:
    """The active URLs, host by host, through a read-only connection of its own, opened on first
    use, so the feeders' threads read while the coordinator writes (WAL: neither waits for the
    other)."""
    db = open_reader(database)
    try:
        yield from history.active_urls(db.conn, limit, by_host=True)
    finally:
        db.close()


def revisit_urls(db: Database, config: Config, crawl_id: int, answers: Mapping[str, DnsAnswer],
                 places: Places, *, limit: int | None, progress: Progress, summary) -> None:
    """Revisit the active URLs (the first ``limit``) and write their states; counts go to
    ``summary`` (a run.CrawlSummary: urls, outcomes, workers)."""
    total = count_urls(db, limit)
    results: list[dict] = []
    if config.crawl.broker:  # many machines: batches to `monitor worker` through Celery
        from .distributed import revisit_on_workers

        observations = revisit_on_workers(config, active_urls(str(config.database), limit), answers.get)
    else:
        processes = max(1, min(config.crawl.processes or cores(), len(answers)))
        streams = host_streams(WorkerSettings.from_config(config), active_urls(str(config.database), limit),
                               answers.get, processes)
        observations = revisit_streams(streams, log_file=config.crawl.log_file, results=results)
    try:
        history.writers(db)["urls"].write(crawl_id, _states(observations, places, summary, progress, total))
    finally:
        # Should writing fail (the database locked), the worker stops now, not whenever the
        # suspended generator is collected: nobody would read what it goes on observing.
        observations.close()
    progress("crawl", summary.urls, total)
    summary.worker_peak_mib = max((r.get("peak_memory_kib", 0) // 1024 for r in results), default=None)


def _states(observations: Iterable[Observation], places: Places, summary, progress: Progress,
            total: int) -> Iterator[tuple[int, tuple, str | None]]:
    shown = time.monotonic()
    for observation in observations:
        summary.urls += 1
        summary.outcomes[observation.outcome] += 1
        summary.workers[observation.worker] += 1
        summary.host_outcomes[observation.host, observation.outcome] += 1
        if time.monotonic() - shown >= PROGRESS_INTERVAL:
            shown = time.monotonic()
            progress("crawl", summary.urls, total)
        yield observation.url_id, url_state(observation, places), observation.worker


def url_state(observation: Observation, places: Places) -> tuple:
    """The url_states columns (history.URL_COLUMNS) of an observation: located by its own host."""
    countries, asns = places.url_columns(observation.host)
    detail = observation.detail
    if detail is None and observation.final_host:
        detail = places.final_host_detail(observation.final_host, observation.final_ips)
    return (observation.outcome, observation.http_status, observation.final_url, observation.connected_ip,
            json.dumps(observation.redirects) if observation.redirects else None, countries, asns, detail)
