"""The coordinator's side of a crawl on many machines (crawl.broker): batches out as Celery tasks,
observations back, each URL once.

    for observation in revisit_on_workers(config, urls, answer):   # urls: (url_id, url, host)
        ...

The URLs come ordered by host; ``batches`` cuts them into batches of about ``crawl.batch_size``,
only where the host changes, so a host's URLs are all in one batch (per-host politeness and
connection reuse hold on the worker). Each batch is one task (``monitor.crawl.tasks``): the
protocol's messages with the crawl's settings and its hosts' DNS answers, so a worker needs
nothing but the broker.

- In flight: at most as many batches as the workers have threads (asked of them at the start
  and every ``CAPACITY_INTERVAL``), so a batch waits in no queue and ``crawl.batch_timeout``
  measures work.
- Re-sent: a batch with no answer ``crawl.batch_timeout`` after it was sent (its worker killed,
  its machine gone), or whose worker failed, goes out again, ``MAX_SENDS`` times in all. The
  first answer wins: the copies still out are revoked (a worker drops one it has not started;
  one already running runs on, and nobody listens for its answer any more), and an answer that
  arrives for a batch already answered is dropped. Only URLs of the batch are taken from an
  answer, each once: a URL is yielded once per crawl however often its batch ran.
- Workers: none answering a ping within ``crawl.worker_wait`` (at the start, or when a batch
  is overdue) stops the crawl with ``NoWorker``; a broker that cannot be reached, with
  ``BrokerUnreachable``. Either names the config key; the crawl is then marked failed by
  ``run.py`` and the next one starts afresh.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from ..config import Config, hide_password
from ..errors import MonitorError
from .local import interleaved
from .protocol import Answer, Observation, WorkerSettings, encode
from .tasks import QUEUE, TASK, make_app, node_worker

log = logging.getLogger("monitor.crawl")

MAX_SENDS = 3  # sends of one batch, the first included
CAPACITY_INTERVAL = 30.0  # seconds between asking the workers how many threads they have
PING_TIMEOUT = 1.0  # seconds a ping or an inspection waits for replies
WAIT_STEP = 1.0  # longest wait for answers before the coordinator looks at its clocks again


class BrokerUnreachable(MonitorError):
    """crawl.broker cannot be reached (or refused us)."""


class NoWorker(MonitorError):
    """No `monitor worker` answered within crawl.worker_wait."""


class BatchLost(MonitorError):
    """A batch had no answer after every send."""


def batches(urls: Iterable[tuple[int, str, str]], size: int) -> Iterator[list[tuple[int, str, str]]]:
    """(url_id, url, host) rows in batches of ``size`` or more: a batch is cut only where the host
    changes, so a host's consecutive URLs always share a batch (one with more URLs than ``size``
    is a batch of its own)."""
    batch: list[tuple[int, str, str]] = []
    for row in urls:
        if len(batch) >= size and row[2] != batch[-1][2]:
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def check_broker(config: Config) -> None:
    """BrokerUnreachable unless crawl.broker answers: before a crawl begins, so that a wrong URL
    or a broker that is down costs one line, not a crawl."""
    app = make_app(config.crawl.broker)
    try:
        _connect(app, config.crawl.broker)
    finally:
        app.close()


def revisit_on_workers(config: Config, urls: Iterable[tuple[int, str, str]],
                       answer: Callable[[str], Answer | None]) -> Iterator[Observation]:
    """The observations of ``urls`` (ordered by host), made by `monitor worker` processes through
    crawl.broker; each url_id at most once. Closing the generator revokes the batches still out."""
    broker = config.crawl.broker
    assert broker, "revisit_on_workers needs crawl.broker"
    app = make_app(broker)
    coordinator = _Coordinator(app, config, urls, answer)
    try:
        _connect(app, broker)
        yield from coordinator.run()
    except _broker_errors(app) as error:
        raise BrokerUnreachable(f"crawl.broker {hide_password(broker)} was lost: {error}") from None
    finally:
        coordinator.close()
        app.close()


def _connect(app: Celery, broker: str | None) -> None:
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0.5, timeout=10)
    except _broker_errors(app) as error:
        raise BrokerUnreachable(f"crawl.broker {hide_password(broker or '')} cannot be reached: {error}") from None


def _broker_errors(app: Celery) -> tuple[type[BaseException], ...]:
    """What the broker's client raises when the broker is down, gone or refuses us (a wrong
    password): kombu's own error and the transport's (redis, amqp)."""
    connection = app.connection_for_write()  # not connected: only its transport's error types
    try:
        return (OperationalError, OSError, *connection.connection_errors, *connection.channel_errors)
    finally:
        connection.release()


@dataclass
class _Batch:
    number: int
    messages: list[dict]
    url_ids: list[int]
    hosts: tuple[str, str]  # first and last
    sends: list[AsyncResult] = field(default_factory=list)
    sent_at: float = 0.0  # time.monotonic() of the latest send
    failures: list[str] = field(default_factory=list)

    def describe(self) -> str:
        first, last = self.hosts
        return f"batch {self.number} ({len(self.url_ids)} URLs, hosts {first} to {last})"


class _Coordinator:
    def __init__(self, app: Celery, config: Config, urls: Iterable[tuple[int, str, str]],
                 answer: Callable[[str], Answer | None]) -> None:
        self.app = app
        self.crawl = config.crawl
        self.settings = WorkerSettings.from_config(config)  # worker: None, each worker names itself
        self.answer = answer
        self.pending = iter(batches(urls, self.crawl.batch_size))
        self.numbers = 0
        self.in_flight: dict[int, _Batch] = {}
        self.tasks: dict[str, _Batch] = {}  # task id -> its batch, for every send still out
        self.answered: deque[AsyncResult] = deque()
        self.capacity = 1
        self.capacity_at = 0.0
        self.expires = self.crawl.batch_timeout * (MAX_SENDS + 1)
        self.sent = self.resent = self.revoked = self.duplicates = 0

    # -- workers ---------------------------------------------------------------------------

    def _wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.crawl.worker_wait
        while True:
            replies = self.app.control.ping(timeout=min(PING_TIMEOUT, self.crawl.worker_wait))
            if replies:
                return
            if time.monotonic() >= deadline:
                raise NoWorker(f"no `monitor worker` answered through crawl.broker "
                               f"{hide_password(self.crawl.broker or '')} within crawl.worker_wait "
                               f"({self.crawl.worker_wait:g} s); start one (`monitor worker`) and crawl again")

    def _refresh_capacity(self) -> None:
        stats = self.app.control.inspect(timeout=PING_TIMEOUT).stats() or {}
        if not stats:  # none answered in time (busy, or just gone): keep what we knew
            self.capacity_at = time.monotonic()
            return
        threads = sum(int(s.get("pool", {}).get("max-concurrency", 1)) for s in stats.values())
        capacity = max(threads, 1)
        if capacity != self.capacity:
            log.info("workers: %d (%s), %d threads: up to %d batches in flight", len(stats),
                     ", ".join(sorted(node_worker(n) for n in stats)), threads, capacity)
        self.capacity, self.capacity_at = capacity, time.monotonic()

    # -- batches ---------------------------------------------------------------------------

    def _fill(self) -> None:
        while len(self.in_flight) < self.capacity:
            rows = next(self.pending, None)
            if rows is None:
                return
            self.numbers += 1
            messages = list(encode(self.settings, interleaved(self.settings, rows), self.answer))
            batch = _Batch(self.numbers, messages, [row[0] for row in rows], (rows[0][2], rows[-1][2]))
            self.in_flight[batch.number] = batch
            self._send(batch)

    def _send(self, batch: _Batch) -> None:
        result = self.app.send_task(TASK, args=[batch.messages], queue=QUEUE, expires=self.expires)
        result.then(self.answered.append)
        batch.sends.append(result)
        batch.sent_at = time.monotonic()
        self.tasks[result.id] = batch
        self.sent += 1

    def run(self) -> Iterator[Observation]:
        first = next(self.pending, None)
        if first is None:  # nothing to revisit: no worker needed
            return
        self.pending = itertools.chain([first], self.pending)
        self._wait_for_workers()
        self._refresh_capacity()
        while True:
            if time.monotonic() - self.capacity_at >= CAPACITY_INTERVAL:
                self._refresh_capacity()
            self._fill()
            if not self.in_flight:
                break
            self._wait()
            while self.answered:
                yield from self._take(self.answered.popleft())
            self._overdue()
        log.info("crawl on workers: %d batches, %d sends (%d again), %d copies revoked once answered, "
                 "%d late answers dropped", self.numbers, self.sent, self.resent, self.revoked, self.duplicates)

    def _wait(self) -> None:
        """Wait for answers (the oldest batch's, or any other: each fills ``answered``), at most
        until the next batch is due or WAIT_STEP."""
        oldest = min(self.in_flight.values(), key=lambda b: b.sent_at)
        due = oldest.sent_at + self.crawl.batch_timeout - time.monotonic()
        waiting = next((r for r in reversed(oldest.sends) if r.id in self.tasks), oldest.sends[-1])
        try:
            waiting.get(timeout=max(0.05, min(WAIT_STEP, due)), propagate=False, on_interval=self._stop_waiting)
        except (CeleryTimeout, _Answered):
            pass

    def _stop_waiting(self) -> None:
        if self.answered:
            raise _Answered

    def _take(self, result: AsyncResult) -> Iterator[Observation]:
        batch = self.tasks.pop(result.id, None)
        if batch is None or batch.number not in self.in_flight:  # a copy of a batch answered before
            self.duplicates += 1
            result.forget()
            return
        observations = self._observations(result, batch) if result.successful() else None
        if observations is None:
            if not result.successful():
                batch.failures.append(f"{type(result.result).__name__}: {result.result}")
            result.forget()
            log.warning("%s failed on a worker: %s", batch.describe(), batch.failures[-1])
            if not any(self.tasks.get(r.id) is batch for r in batch.sends):  # no copy left out
                self._again(batch)
            return
        del self.in_flight[batch.number]
        self._retire(batch)
        if len(batch.sends) > 1:
            log.info("%s: answered by send %d of %d", batch.describe(),
                     [r.id for r in batch.sends].index(result.id) + 1, len(batch.sends))
        yield from observations

    def _observations(self, result: AsyncResult, batch: _Batch) -> list[Observation] | None:
        """The batch's observations, each URL of it once; None (and a failure) for an answer that
        is not a list of observations."""
        wanted = set(batch.url_ids)
        found: list[Observation] = []
        try:
            for data in result.result:
                observation = Observation.from_json(data)
                if observation.url_id in wanted:
                    wanted.discard(observation.url_id)
                    found.append(observation)
        except (TypeError, ValueError) as error:
            batch.failures.append(f"an answer that is not observations: {error}")
            return None
        if wanted:
            log.warning("%s: %d URLs came back without an observation", batch.describe(), len(wanted))
        return found

    def _retire(self, batch: _Batch) -> None:
        """An answered batch: revoke the copies still out, forget every result."""
        others = [r for r in batch.sends if self.tasks.pop(r.id, None) is not None]
        if others:  # one not started yet is dropped by its worker; one running runs on, unheard
            self.app.control.revoke([r.id for r in others])
            self.revoked += len(others)
        for result in batch.sends:
            result.forget()

    def _overdue(self) -> None:
        now = time.monotonic()
        overdue = [b for b in self.in_flight.values() if now - b.sent_at >= self.crawl.batch_timeout]
        if not overdue:
            return
        self._wait_for_workers()  # NoWorker: re-sending would only wait again
        self._refresh_capacity()
        for batch in overdue:
            log.warning("%s: no answer %g s after it was sent; sending it again", batch.describe(),
                        self.crawl.batch_timeout)
            self._again(batch)

    def _again(self, batch: _Batch) -> None:
        if len(batch.sends) >= MAX_SENDS:
            why = "; ".join(batch.failures) or f"no answer within crawl.batch_timeout ({self.crawl.batch_timeout:g} s)"
            raise BatchLost(f"{batch.describe()} failed {len(batch.sends)} times: {why}")
        self.resent += 1
        self._send(batch)

    def close(self) -> None:
        """Revoke whatever is still out (the crawl failed or was stopped)."""
        out = list(self.tasks)
        self.tasks.clear()
        self.in_flight.clear()
        if out:
            try:
                self.app.control.revoke(out)
            except Exception as error:  # the broker is gone: the tasks expire by themselves
                log.info("could not revoke %d batches: %s", len(out), error)


class _Answered(Exception):
    """Stops a wait: an answer arrived (maybe for another batch than the one waited on)."""
