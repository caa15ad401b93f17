"""Counts observations per outcome into the crawl stats (``monitor/outcome/<outcome>``, and
``monitor/urls``): the runner reads them back for the crawl's row and summary line."""

from __future__ import annotations

from typing import Any

from . import Observation

PREFIX = "monitor/outcome/"


class OutcomeStatsPipeline:
    def __init__(self, stats: Any) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> OutcomeStatsPipeline:
        return cls(crawler.stats)

    def process_item(self, item: Observation) -> Observation:
        self.stats.inc_value("monitor/urls")
        self.stats.inc_value(PREFIX + item.outcome)
        return item


def outcomes(stats: dict[str, Any]) -> dict[str, int]:
    """{outcome: count} from a crawl's stats."""
    return {key.removeprefix(PREFIX): value for key, value in stats.items() if key.startswith(PREFIX)}
