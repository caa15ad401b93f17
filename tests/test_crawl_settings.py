"""The Scrapy settings of a crawl worker, built from its batch's settings in one function: every
crawl.* key lands in its setting, and the no-content, no-proxy, no-remote-access choices hold
whatever the config. No database or config file reaches the worker."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from scrapy.settings import Settings

from monitor.config import Config
from monitor.crawl.protocol import ProtocolError, WorkerSettings
from monitor.crawl.settings import scrapy_settings as build


def scrapy_settings(config: Config, **options):
    """The worker's settings as a crawl with this config sends them."""
    options.setdefault("worker", "test-host:1")
    return build(WorkerSettings.from_config(config), **options)


def config(**crawl) -> Config:
    return Config.model_validate({
        "database": "/var/lib/monitor/monitor.db",
        "dns": {"nameservers": ["127.0.0.1"], "port": 5353, "timeout": 1.5},
        "geoip": {"country_db": "/data/country.mmdb", "asn_db": "/data/asn.mmdb"},
        "crawl": crawl,
    })


def test_every_crawl_key_lands_in_its_setting():
    settings = scrapy_settings(config(concurrency=7, per_host_concurrency=3, timeout=4.5, retries=2,
                                      user_agent="monitor/test (+https://hotline.example/bot)",
                                      allow_private_addresses=True), worker="w1", output_fd=9)
    assert settings["CONCURRENT_REQUESTS"] == 7
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 3
    assert settings["DOWNLOAD_TIMEOUT"] == 4.5
    assert settings["RETRY_ENABLED"] is True and settings["RETRY_TIMES"] == 2
    assert settings["USER_AGENT"] == "monitor/test (+https://hotline.example/bot)"
    assert settings["MONITOR_ALLOW_PRIVATE"] is True
    assert settings["MONITOR_DNS"] == {"nameservers": ["127.0.0.1"], "port": 5353, "timeout": 1.5}
    assert settings["MONITOR_WORKER"] == "w1"
    assert settings["MONITOR_OUTPUT_FD"] == 9
    assert settings["MONITOR_HOST_WINDOW"] == 2_048
    # The worker knows no database, no .mmdb file, no crawl id: nothing of the store reaches it
    assert not any(name in settings for name in ("MONITOR_DATABASE", "MONITOR_CRAWL_ID", "MONITOR_GEOIP"))
    assert "/var/lib/monitor" not in repr(settings) and "mmdb" not in repr(settings)


def test_the_batchs_settings_travel_as_json_and_refuse_what_they_do_not_know():
    sent = WorkerSettings.from_config(config(concurrency=7, allow_private_addresses=True), worker="w1")
    assert WorkerSettings.from_json(sent.to_json()) == sent
    assert sent.to_json()["dns"] == {"nameservers": ["127.0.0.1"], "port": 5353, "timeout": 1.5}
    with pytest.raises(ProtocolError, match="unknown keys database"):
        WorkerSettings.from_json({**sent.to_json(), "database": "/var/lib/monitor/monitor.db"})
    with pytest.raises(ProtocolError):
        WorkerSettings.from_json(["not", "an", "object"])


def test_defaults_refuse_private_addresses_and_retry_once():
    settings = scrapy_settings(Config())
    assert settings["MONITOR_ALLOW_PRIVATE"] is False
    assert settings["RETRY_TIMES"] == 1
    assert settings["MONITOR_OUTPUT_FD"] is None
    assert "monitor" in settings["USER_AGENT"] and "https://" in settings["USER_AGENT"]


def test_no_retries_switches_retrying_off():
    settings = scrapy_settings(config(retries=0))
    assert settings["RETRY_ENABLED"] is False and settings["RETRY_TIMES"] == 0


@pytest.mark.parametrize("allow", [True, False])
def test_what_holds_whatever_the_config(allow):
    settings = scrapy_settings(config(allow_private_addresses=allow))
    # No content: no robots.txt, no body past 1 byte, no cache, no decompression, no meta refresh
    assert settings["ROBOTSTXT_OBEY"] is False
    assert settings["DOWNLOAD_MAXSIZE"] == 1
    assert settings["HTTPCACHE_ENABLED"] is False
    assert settings["COMPRESSION_ENABLED"] is False
    assert settings["METAREFRESH_ENABLED"] is False
    # The spider follows redirects itself, to a limit
    assert settings["REDIRECT_ENABLED"] is False and settings["REDIRECT_MAX_TIMES"] == 5
    assert settings["HTTPERROR_ALLOW_ALL"] is True
    # No state, no tracking, no proxies, no remote access
    assert settings["COOKIES_ENABLED"] is False
    assert settings["REFERER_ENABLED"] is False
    assert settings["HTTPPROXY_ENABLED"] is False
    assert settings["TELNETCONSOLE_ENABLED"] is False
    assert settings["REMOTE_CONTROL_ENABLED"] is False
    # Our resolver, no other DNS cache, the asyncio reactor
    assert settings["TWISTED_DNS_RESOLVER"] == "monitor.crawl.resolver.BatchResolver"
    assert settings["DNSCACHE_ENABLED"] is False
    assert settings["TWISTED_REACTOR"] == "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
    # Only http and https download handlers, over a pool that caps idle connections
    handler = "monitor.crawl.connections.CappedHandler"
    assert settings["DOWNLOAD_HANDLERS"] == {"http": handler, "https": handler,
                                             "file": None, "data": None, "ftp": None, "s3": None}
    # Memory flat in the number of URLs: no fingerprint set
    assert settings["DUPEFILTER_CLASS"] == "scrapy.dupefilters.BaseDupeFilter"
    # Speed: one output per response, and no source parsing per response
    assert settings["CONCURRENT_ITEMS"] == 1
    assert settings["WARN_ON_GENERATOR_RETURN_VALUE"] is False
    assert list(settings["ITEM_PIPELINES"]) == [
        "monitor.crawl.pipelines.outcome_stats.OutcomeStatsPipeline",
        "monitor.crawl.pipelines.observation_lines.ObservationLinesPipeline",
    ]


def test_log_level_by_number_or_name():
    assert scrapy_settings(Config(), log_level=logging.DEBUG)["LOG_LEVEL"] == "DEBUG"
    assert scrapy_settings(Config(), log_level="WARNING")["LOG_LEVEL"] == "WARNING"


def test_scrapy_knows_every_setting_we_set():
    """A misspelt setting name would be silently ignored by Scrapy: each of ours (but our own
    MONITOR_* ones) is in Scrapy's defaults or read by the component it switches off."""
    import scrapy.downloadermiddlewares.httpcompression as compression
    import scrapy.spidermiddlewares.referer as referer

    read_elsewhere = Path(compression.__file__).read_text() + Path(referer.__file__).read_text()
    known = Settings()
    unknown = [name for name in scrapy_settings(Config())
               if not name.startswith("MONITOR_") and name not in known
               and f'"{name}"' not in read_elsewhere]
    assert unknown == []


def test_idle_connections_are_capped_at_the_workers_concurrency():
    """Kept alive (a worker's URLs come host by host), but idle connections to tens of thousands of
    hosts would exhaust file descriptors: capped (tests/test_crawl_processes.py checks the cap)."""
    settings = scrapy_settings(config(concurrency=40))
    assert "Connection" not in settings["DEFAULT_REQUEST_HEADERS"]
    assert settings["MONITOR_IDLE_CONNECTIONS"] == 40
