"""Writes each observation as the URL's state of this crawl: ``url_states`` intervals through the
store's IntervalWriter, a batch per transaction (a crawl killed at any moment leaves every written
batch whole and the database consistent; memory holds one batch at most)."""

from __future__ import annotations

from typing import Any

from ...store import history, open_store
from . import Observation

BATCH = 1_000


class UrlStatesPipeline:
    def __init__(self, database: str, crawl_id: int, batch: int = BATCH) -> None:
        self.database = database
        self.crawl_id = crawl_id
        self.batch_size = batch
        self.db = None
        self.writer: history.IntervalWriter | None = None
        self.pending: list[tuple[int, tuple]] = []
        self.written = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> UrlStatesPipeline:
        settings = crawler.settings
        return cls(settings["MONITOR_DATABASE"], settings.getint("MONITOR_CRAWL_ID"))

    def open_spider(self) -> None:
        self.db = open_store(self.database)
        self.writer = history.writers(self.db)["urls"]

    def process_item(self, item: Observation) -> Observation:
        self.pending.append((item.url_id, item.state()))
        if len(self.pending) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        if self.pending:
            assert self.writer is not None, "open_spider() first"
            self.writer.write(self.crawl_id, self.pending)
            self.written += len(self.pending)
            self.pending = []

    def close_spider(self) -> None:
        try:
            self.flush()
        finally:
            if self.db is not None:
                self.db.close()
                self.db = None
