"""A crawl worker process: one batch in on stdin, its observations out on stdout (Scrapy inside).

    python -P -m monitor.crawl.scrapy_run [--log-level 20] [--log-file F] [--parent PID] < batch

Started by ``monitor.crawl.revisit.revisit``; the batch and the output are the JSON lines of
``monitor.crawl.protocol``. The worker opens no database and reads no config file: its settings
line says all it needs to know.

Why a process of its own: a Twisted reactor can start only once per process, and Scrapy installs
one (asyncio) and its logging and signal handlers. In a child, the coordinator stays an ordinary
function that tests, ``monitor demo`` and benchmarks may call any number of times, and its
logging and signals stay untouched. The cost is one interpreter start (about a second) per batch.

The batch is read as the spider needs it (asyncio pipe reads on the reactor's loop, never a
blocking read), so the coordinator's writes to stdin wait while the crawl has no room: memory
stays flat however many URLs there are. Little is read ahead (``READ_AHEAD``): where several
workers share a crawl, a worker takes new hosts only as it gets through its own.

With ``--parent``, the worker watches that process: should it die (SIGKILL included), the worker
exits within a second; nobody would record what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .protocol import ProtocolError, WorkerSettings, dumps, loads, worker_name

PARENT_CHECK_INTERVAL = 1.0
# Bytes read ahead of the spider (asyncio's reader stops reading the pipe at twice this): about a
# hundred URL lines. A line may be longer (URLs of any length are reported, none is refused).
READ_AHEAD = 1 << 14


def read_first_line(fd: int) -> bytes:
    """The settings line, a byte at a time: whatever follows it stays in the pipe for the
    asyncio reader (a buffered read would swallow the start of the batch)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return bytes(line)


async def pipe_lines(fd: int) -> AsyncIterator[bytes]:
    """The lines of a pipe, read without blocking the running loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_AHEAD)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(fd, "rb", buffering=0))
    try:
        while line := await _line(reader):
            yield line
    finally:
        transport.close()


async def _line(reader: asyncio.StreamReader) -> bytes:
    """The next line, however long; b"" at the end."""
    parts = []
    while True:
        try:
            parts.append(await reader.readuntil(b"\n"))
            return b"".join(parts)
        except asyncio.LimitOverrunError as error:  # longer than READ_AHEAD: take it in pieces
            parts.append(await reader.readexactly(error.consumed))
        except asyncio.IncompleteReadError as error:  # the end, after a last line without \n
            parts.append(error.partial)
            return b"".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitor.crawl.scrapy_run", description=__doc__)
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("--parent", type=int, help="exit when this process is gone")
    args = parser.parse_args(argv)

    try:
        first = loads(read_first_line(0))
        settings = WorkerSettings.from_json(first.get("settings"))
    except ProtocolError as error:
        print(f"monitor worker: the batch's first line is not its settings: {error}", file=sys.stderr)
        return 2
    worker = settings.worker or worker_name()
    # Observations go to the coordinator over the original stdout; anything else printed goes to
    # stderr, so no stray print can break a line of the protocol.
    out_fd = os.dup(1)
    os.dup2(2, 1)

    from scrapy import signals
    from scrapy.crawler import AsyncCrawlerProcess

    from monitor.spiders.revisit import RevisitSpider

    from ..logs import log_to_file
    from .connections import files_needed, raise_open_file_limit
    from .pipelines.outcome_stats import outcomes
    from .settings import scrapy_settings

    scrapy = scrapy_settings(settings, worker=worker, output_fd=out_fd, log_level=args.log_level)
    if args.log_file:
        # Scrapy's own root handler would write the same records to stderr: only warnings there.
        scrapy["LOG_LEVEL"] = "WARNING"
    process = AsyncCrawlerProcess(scrapy)  # configures logging (resets the scrapy logger)
    if args.log_file:
        log_to_file(args.log_file, args.log_level)
    # Scrapy leaves the root logger at DEBUG and filters in its handler: a record was built (and
    # its caller looked up) for every request and dropped. Measured: 3% of a worker's CPU.
    logging.getLogger().setLevel(args.log_level)
    crawler = process.create_crawler(RevisitSpider)
    needed = files_needed(settings.concurrency)
    limit, hard = raise_open_file_limit(needed)
    if limit < needed:
        logging.getLogger("monitor.crawl").warning(
            "open-file limit %d (hard limit %d) is below the %d this worker may need for crawl.concurrency "
            "%d: raise it (ulimit -n, or LimitNOFILE= in a systemd unit) or lower crawl.concurrency",
            limit, hard, needed, settings.concurrency)
    errors = {"item": 0, "spider": 0}

    def item_error(**_: Any) -> None:
        errors["item"] += 1

    def spider_error(**_: Any) -> None:
        errors["spider"] += 1

    parent = args.parent

    def watch_parent() -> None:
        if os.getppid() != parent:
            os._exit(3)

    def engine_started() -> None:
        if parent is not None:
            from twisted.internet import task

            task.LoopingCall(watch_parent).start(PARENT_CHECK_INTERVAL, now=False)

    crawler.signals.connect(item_error, signal=signals.item_error)
    crawler.signals.connect(spider_error, signal=signals.spider_error)
    crawler.signals.connect(engine_started, signal=signals.engine_started)
    process.crawl(crawler, lines=pipe_lines(0))
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    result = {
        "worker": worker,
        "read": getattr(spider, "read", 0),
        "urls": int(stats.get("monitor/urls", 0)),
        "outcomes": outcomes(stats),
        "finish_reason": stats.get("finish_reason"),
        "item_errors": errors["item"],
        "spider_errors": errors["spider"],
        "input_error": getattr(spider, "input_error", None),
        "peak_memory_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,  # Linux: KiB
    }
    try:
        with os.fdopen(out_fd, "w", encoding="utf-8") as out:
            out.write(dumps({"result": result}))
    except (BrokenPipeError, OSError):  # the coordinator is gone: so is the point of a result
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
