"""Where a crawl's details go: a log file set in config; the terminal or cron gets a summary."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .errors import ConfigError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _UTCFormatter(logging.Formatter):
    # The store's times are UTC; the log's should read the same.
    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


def log_to_file(path: Path | None, level: int = logging.INFO, *,
                config_file: Path | None = None) -> logging.Handler | None:
    """Send monitor's log records (and Scrapy's, when it runs in this process) to path."""
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as error:
        named = f"config key crawl.log_file in {config_file}" if config_file else "config key crawl.log_file"
        raise ConfigError(f"{path} ({named}): cannot write the crawl log: {error.strerror or error}; "
                          "make it writable, point crawl.log_file elsewhere, or set it to null") from None
    handler.setFormatter(_UTCFormatter(FORMAT))
    handler.setLevel(level)
    for name in ("monitor", "scrapy"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or level, level))
    return handler
