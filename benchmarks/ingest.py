"""The coordinator's ingestion rate: worker output lines parsed, located and written per second.

    from benchmarks.ingest import ingestion_rate   # benchmarks/run.py calls it after a crawl

One coordinator is the one writer for every worker, local or on other machines: this rate bounds
how many workers it can feed. It is measured on a copy of a database a head-mode crawl has just
written, with the world's DNS answers and enrichment made beforehand (as the crawl makes them
before its revisit phase), so only what the coordinator does per observation is timed: read the
line, locate the URL by its host, compare with the URL's state and write the interval.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from monitor.config import Config
from monitor.crawl.head import _states
from monitor.crawl.locations import Places, mmdb_enricher
from monitor.crawl.protocol import Observation, dumps, loads
from monitor.crawl.run import CrawlSummary, _enrich, _resolve
from monitor.resolve.enrich import Enricher
from monitor.store import history, open_store


def ingestion_rate(config: Config, folder: Path) -> tuple[float, int]:
    """(observations written per second, how many), on a copy of the configured database."""
    copy = folder / "ingest.db"
    shutil.copy(config.database, copy)
    config = config.model_copy(update={"database": copy})
    db = open_store(copy)

    def quiet(*_: object) -> None:
        pass

    answers, _ = _resolve(config, history.active_hosts(db), quiet)
    with Enricher(config, db) as enricher:
        infos = _enrich(enricher, answers, quiet)
    lines = []
    for url_id, url, host in history.active_urls(db.conn):
        ips = answers[host].ips
        lines.append(dumps({"observation": Observation(
            url_id, "online", 200, url, ips[0] if ips else None, host=host, worker="bench:1").to_json()}))
    crawl_id = history.begin_crawl(db, "head", {}, history.utcnow)
    assert isinstance(crawl_id, int)
    summary = CrawlSummary(crawl_id, "head")
    with mmdb_enricher(config) as other:
        places = Places(answers, infos, other)
        started = time.perf_counter()
        observations = (Observation.from_json(loads(line)["observation"]) for line in lines)
        history.writers(db)["urls"].write(crawl_id, _states(observations, places, summary, quiet, len(lines)))
        elapsed = time.perf_counter() - started
    db.close()
    copy.unlink()
    return summary.urls / elapsed, summary.urls
