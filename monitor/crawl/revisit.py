"""Revisit a batch in a worker process: messages in, observations out; no database anywhere.

    for observation in revisit(messages):      # messages: monitor.crawl.protocol, dicts or lines
        ...
    for observation in revisit_streams([messages_1, messages_2]):   # one process per stream
        ...

This is the whole of a crawl worker as a function: the coordinator (``monitor.crawl.head``) calls
it with a batch it streams from the store, and a task queue's worker on another machine could call
it with a batch it was handed, with only this package installed. It starts
``python -P -m monitor.crawl.scrapy_run``, feeds the messages to its stdin from a thread (the
messages may be a lazy generator: the pipe's back-pressure paces it to the crawl), and yields each
observation as its line arrives. Several streams run in as many processes, their outputs read in
this thread as they come (a selector over the pipes: no thread per process, and stopping kills
them all). Once every worker is done, each result line is checked: a worker that failed, stopped
early, could not read its batch or lost observations raises ``CrawlProcessError`` (after the
observations that were made, which are true observations).

Closing the generator early (the caller failed) kills the workers.
"""

from __future__ import annotations

import fcntl
import logging
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import MonitorError
from .protocol import Observation, ProtocolError, dumps, loads

log = logging.getLogger("monitor.crawl")

# The worker's output pipe: observations the coordinator has not read yet wait here instead of
# blocking the worker's reactor (a write to a full pipe would stall every connection in flight)
# while the coordinator commits a batch of states. Linux only; elsewhere the default.
PIPE_SIZE = 1 << 20
# The worker's input pipe, as small as the system allows: where workers share a crawl, whole hosts
# go to the worker that asks first, and what waits in a pipe has been given away already.
INPUT_PIPE_SIZE = 4096


class CrawlProcessError(MonitorError):
    """The crawling process failed."""


def revisit(messages: Iterable[dict | str], *, log_level: int | None = None,
            log_file: Path | None = None) -> Iterator[Observation]:
    """The observations of one batch (see the module doc). ``log_level`` defaults to the level of
    the ``monitor`` logger here; ``log_file`` is where the worker logs (else stderr)."""
    return revisit_streams([messages], log_level=log_level, log_file=log_file)


def revisit_streams(streams: Sequence[Iterable[dict | str]], *, log_level: int | None = None,
                    log_file: Path | None = None,
                    results: list[dict] | None = None) -> Iterator[Observation]:
    """The observations of several batches, each revisited by a worker process of its own, in the
    order they arrive; each worker's result line (its counts, its peak memory) is appended to
    ``results``."""
    level = log_level or logging.getLogger("monitor").level or logging.INFO
    workers = [_Worker.start(messages, level, log_file) for messages in streams]
    selector = selectors.DefaultSelector()
    try:
        for worker in workers:
            selector.register(worker.out, selectors.EVENT_READ, worker)
        while selector.get_map():
            for key, _ in selector.select():
                worker = key.data
                chunk = os.read(worker.out, PIPE_SIZE)
                if not chunk:
                    selector.unregister(worker.out)
                    worker.code = worker.child.wait()
                    continue
                yield from worker.lines(chunk)
    except BaseException:  # the caller failed or stopped reading: so do the workers
        for worker in workers:
            worker.child.kill()
        for worker in workers:
            worker.child.wait()
        raise
    finally:
        selector.close()
        for worker in workers:
            worker.feeder.join(timeout=10)
            if worker.child.stdout is not None:
                worker.child.stdout.close()
    for worker in workers:
        if worker.feeder.error is not None:
            raise worker.feeder.error
    for worker in workers:
        if results is not None and worker.result is not None:
            results.append(worker.result)
        _check(worker.code, worker.result, worker.received, log_file)


@dataclass
class _Worker:
    """One worker process: its pipes, its feeder, and what it has said so far."""

    child: subprocess.Popen
    out: int  # its stdout's descriptor, read a chunk at a time when the selector says so
    feeder: _Feeder
    code: int | None = None
    result: dict | None = None
    received: int = 0
    partial: bytes = b""  # the start of a line whose end has not arrived

    @classmethod
    def start(cls, messages: Iterable[dict | str], level: int, log_file: Path | None) -> _Worker:
        command = [sys.executable, "-P", "-m", "monitor.crawl.scrapy_run", "--log-level", str(level),
                   "--parent", str(os.getpid())]
        if log_file is not None:
            command += ["--log-file", str(log_file)]
        # -P: never put the working directory on sys.path. Run from a checkout (cron's
        # `cd /srv/monitor && monitor crawl`), `-m` would otherwise import ./monitor instead of the
        # installed package.
        # Unbuffered: a line written is a line the worker may read (see INPUT_PIPE_SIZE).
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        assert child.stdin is not None and child.stdout is not None
        out = child.stdout.fileno()
        if hasattr(fcntl, "F_SETPIPE_SZ"):
            with suppress(OSError):
                fcntl.fcntl(out, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
                fcntl.fcntl(child.stdin.fileno(), fcntl.F_SETPIPE_SZ, INPUT_PIPE_SIZE)
        feeder = _Feeder(child.stdin, messages)
        feeder.start()
        return cls(child, out, feeder)

    def lines(self, chunk: bytes) -> Iterator[Observation]:
        """The observations completed by this chunk; a result line is kept."""
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        for line in complete:
            try:
                message = loads(line)
            except ProtocolError:
                continue
            if "observation" in message:
                self.received += 1
                yield Observation.from_json(message["observation"])
            elif "result" in message:
                self.result = message["result"]


def _check(code: int | None, result: dict | None, received: int, log_file: Path | None) -> None:
    where = f" ({log_file})" if log_file else ""
    if code != 0 or result is None:
        raise CrawlProcessError(f"the crawling process failed (exit code {code}); its messages are in the log{where}")
    if result.get("input_error"):
        raise CrawlProcessError(f"the crawling process could not read its batch: {result['input_error']}")
    if result.get("item_errors"):
        raise CrawlProcessError(f"{result['item_errors']} observations could not be handed over; see the log{where}")
    if result.get("finish_reason") != "finished":
        raise CrawlProcessError(f"the crawl stopped early ({result.get('finish_reason')})")
    if result.get("urls") != received:
        raise CrawlProcessError(f"the crawling process made {result.get('urls')} observations, {received} arrived")
    missing = int(result.get("read", 0)) - received
    if missing > 0 or result.get("spider_errors"):
        log.warning("%d URLs have no state this crawl: %d responses could not be handled; see the log%s",
                    max(missing, 0), result.get("spider_errors", 0), where)


class _Feeder(threading.Thread):
    """Writes the messages to the worker's stdin, then closes it. A daemon: should everything else
    fail, it never keeps the process alive."""

    def __init__(self, stdin: IO[bytes], messages: Iterable[dict | str]) -> None:
        super().__init__(name="monitor-batch-feeder", daemon=True)
        self.stdin = stdin
        self.messages = messages
        self.error: BaseException | None = None

    def run(self) -> None:
        messages = iter(self.messages)
        try:
            for message in messages:  # an error here: the batch could not be read (the store?)
                line = message if isinstance(message, str) else dumps(message)
                try:
                    data = memoryview((line if line.endswith("\n") else line + "\n").encode("utf-8"))
                    while data:  # an unbuffered write may take part of a long line
                        data = data[self.stdin.write(data) or 0:]
                except OSError:  # BrokenPipeError: the worker is gone; its exit says why
                    return
        except BaseException as error:
            self.error = error
        finally:
            close = getattr(messages, "close", None)  # a generator: let it close what it opened
            if close is not None:
                with suppress(Exception):
                    close()
            with suppress(OSError):
                self.stdin.close()
