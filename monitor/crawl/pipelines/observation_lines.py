"""Sends each observation to the coordinator: one ``{"observation": {...}}`` JSON line on the
worker's output (``MONITOR_OUTPUT_FD``, the original stdout of ``monitor.crawl.scrapy_run``),
flushed at once, so the coordinator writes and counts it while the crawl goes on."""

from __future__ import annotations

import logging
import os
from typing import Any, TextIO

from ..protocol import dumps
from . import Observation

log = logging.getLogger("monitor.crawl")


class ObservationLinesPipeline:
    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.out: TextIO | None = None
        self.sent = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> ObservationLinesPipeline:
        fd = crawler.settings.get("MONITOR_OUTPUT_FD")
        return cls(int(fd) if fd is not None else None)

    def open_spider(self) -> None:
        if self.fd is not None:
            self.out = os.fdopen(os.dup(self.fd), "w", encoding="utf-8")

    def process_item(self, item: Observation) -> Observation:
        if self.out is not None:
            try:
                self.out.write(dumps({"observation": item.to_json()}))
                self.out.flush()
            except (BrokenPipeError, OSError):
                # The coordinator is gone, and with it the point of this crawl (nothing else
                # would record what is seen): stop now rather than crawl on unheard.
                log.error("the coordinator stopped reading observations; the worker stops")
                os._exit(3)
        self.sent += 1
        return item

    def close_spider(self) -> None:
        if self.out is not None:
            try:
                self.out.close()
            except OSError:
                pass
            self.out = None
