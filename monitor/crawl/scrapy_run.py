"""Runs the HEAD revisits of one crawl (Scrapy) in a child process, for `run.py`.

    result = crawl_urls(config, crawl_id, limit=None, progress=progress)   # in run_crawl
    result.urls, result.outcomes

Why a child process, always: a Twisted reactor can start only once per process, and Scrapy
installs one (asyncio) and its logging and signal handlers. In a child of its own, `run_crawl`
stays an ordinary function that tests, `monitor demo` and benchmarks may call any number of
times in one process, and the parent's logging and signals stay untouched. The cost is one
interpreter start (about a second) per crawl.

The protocol is small and one way: the parent writes the job as one JSON object to the child's
stdin (the config, the crawl id, the limit, the log level) and reads JSON lines from its stdout:
``{"progress": n}`` now and then and ``{"result": {...}}`` at the end. The child writes the URL
states itself (``UrlStatesPipeline``, a batch per transaction, like every other write of a crawl):
by then the parent has written this crawl's host and IP states, which the child reads (its
resolver's cache and the URLs' locations), and the parent writes nothing until the child is done.

The child watches its parent: should the parent die (SIGKILL included), it exits within a second,
so a crawl never goes on writing under a crawl row that the next `monitor crawl` marks
interrupted. The database stays consistent either way (every write is a transaction).

Run by hand (debugging): ``echo '{"config": {...}, "crawl_id": 3}' | python -m monitor.crawl.scrapy_run``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..config import Config
from ..errors import MonitorError

log = logging.getLogger("monitor.crawl")

Progress = Callable[[str, int, int], None]

PROGRESS_INTERVAL = 0.5  # seconds between progress lines
PARENT_CHECK_INTERVAL = 1.0


@dataclass
class CrawlResult:
    urls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    spider_errors: int = 0


class CrawlProcessError(MonitorError):
    """The crawling process failed."""


def count_urls(database: str | Path, limit: int | None) -> int:
    import sqlite3

    conn = sqlite3.connect(str(database), timeout=30)
    try:
        if limit is None:
            return conn.execute("SELECT COUNT(*) FROM urls WHERE active").fetchone()[0]
        return conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM urls WHERE active ORDER BY id LIMIT ?)",
                            [limit]).fetchone()[0]
    finally:
        conn.close()


def _log_level() -> int:
    """The child logs at the level the parent's monitor logger is set to (INFO when unset)."""
    level = logging.getLogger("monitor").level
    return level or logging.INFO


def crawl_urls(config: Config, crawl_id: int, *, limit: int | None = None,
               progress: Progress | None = None) -> CrawlResult:
    """Revisit the active URLs (the first `limit`) in a child process; see the module doc."""
    total = count_urls(config.database, limit)
    job = {"config": config.model_dump(mode="json"), "crawl_id": crawl_id, "limit": limit,
           "log_level": _log_level(), "parent": os.getpid()}
    # -P: never put the working directory on sys.path. Run from a checkout (cron's
    # `cd /srv/monitor && monitor crawl`), `-m` would otherwise import ./monitor instead of the
    # installed package.
    child = subprocess.Popen([sys.executable, "-P", "-m", "monitor.crawl.scrapy_run"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, encoding="utf-8")
    result: dict | None = None
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(job))
        child.stdin.close()
        for line in child.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if "progress" in message and progress is not None:
                progress("crawl", int(message["progress"]), total)
            elif "result" in message:
                result = message["result"]
        code = child.wait()
    except BaseException:
        child.kill()
        child.wait()
        raise
    if code != 0 or result is None:
        raise CrawlProcessError(
            f"the crawling process failed (exit code {code}); its messages are in the log"
            + (f" ({config.crawl.log_file})" if getattr(config.crawl, "log_file", None) else ""))
    if result.get("item_errors"):
        raise CrawlProcessError(f"{result['item_errors']} URL states could not be written; see the log")
    if result.get("finish_reason") != "finished":
        raise CrawlProcessError(f"the crawl stopped early ({result.get('finish_reason')})")
    if result.get("spider_errors"):
        log.warning("%d responses could not be handled; those URLs have no state this crawl",
                    result["spider_errors"])
    if progress is not None:
        progress("crawl", result["urls"], total)
    return CrawlResult(urls=result["urls"], outcomes=dict(result["outcomes"]),
                       spider_errors=result.get("spider_errors", 0))


# -- the child ---------------------------------------------------------------------------------


def _emit(out: TextIO, message: dict) -> None:
    try:
        out.write(json.dumps(message) + "\n")
        out.flush()
    except (BrokenPipeError, OSError):  # the parent is gone: so is the point of this crawl
        os._exit(3)


def child_main() -> int:
    job = json.loads(sys.stdin.read())
    # Messages go to the parent over the original stdout; anything else printed goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    from scrapy import signals
    from scrapy.crawler import AsyncCrawlerProcess

    from monitor.spiders.revisit import RevisitSpider

    from ..logs import log_to_file
    from .pipelines.outcome_stats import outcomes
    from .settings import scrapy_settings

    config = Config.model_validate(job["config"])
    level = int(job.get("log_level") or logging.INFO)
    settings = scrapy_settings(config, int(job["crawl_id"]), limit=job.get("limit"), log_level=level)
    log_file = getattr(config.crawl, "log_file", None)
    if log_file:
        # Scrapy's own root handler would write the same records to stderr: only warnings there.
        settings["LOG_LEVEL"] = "WARNING"
    process = AsyncCrawlerProcess(settings)  # configures logging (resets the scrapy logger)
    if log_file:
        log_to_file(Path(log_file), level)
    crawler = process.create_crawler(RevisitSpider)

    state = {"items": 0, "shown": 0.0, "item_errors": 0, "spider_errors": 0}

    def scraped(item: Any, **_: Any) -> None:
        state["items"] += 1
        now = time.monotonic()
        if now - state["shown"] >= PROGRESS_INTERVAL:
            state["shown"] = now
            _emit(out, {"progress": state["items"]})

    def item_error(**_: Any) -> None:
        state["item_errors"] += 1

    def spider_error(**_: Any) -> None:
        state["spider_errors"] += 1

    parent = int(job.get("parent") or os.getppid())

    def watch_parent() -> None:
        if os.getppid() != parent:
            os._exit(3)

    def engine_started() -> None:
        from twisted.internet import task

        task.LoopingCall(watch_parent).start(PARENT_CHECK_INTERVAL, now=False)

    crawler.signals.connect(scraped, signal=signals.item_scraped)
    crawler.signals.connect(item_error, signal=signals.item_error)
    crawler.signals.connect(spider_error, signal=signals.spider_error)
    crawler.signals.connect(engine_started, signal=signals.engine_started)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    _emit(out, {"result": {
        "urls": int(stats.get("monitor/urls", 0)),
        "outcomes": outcomes(stats),
        "finish_reason": stats.get("finish_reason"),
        "item_errors": state["item_errors"],
        "spider_errors": state["spider_errors"],
    }})
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
