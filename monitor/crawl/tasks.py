"""The worker's side of a crawl on many machines: the Celery app, its one task, `monitor worker`.

    monitor worker --broker redis://:PASSWORD@10.0.0.2:6379/0 [--concurrency N] [--name NAME]
    MONITOR_BROKER=redis://... celery -A monitor.crawl.tasks inspect active     # what runs now

A worker needs this package and the broker URL, nothing else: no database, no config file, no
.mmdb files. A task is one batch: the JSON messages of ``monitor.crawl.protocol``, built by the
coordinator (``monitor.crawl.distributed``) with the worker's name left out. The worker writes
its own name into the settings, revisits the batch with ``revisit`` (a Scrapy child process, as a
crawl on one machine does) and returns the observations as JSON objects, each naming the worker.

Choices, and why:

- Pool: threads (``--concurrency`` of them, default one per core). A task spends its time
  waiting on its Scrapy child's pipe; the child does the work, on a core of its own. With
  threads the Scrapy children are children of the worker process itself, and they watch it
  (``scrapy_run --parent``): a worker killed with SIGKILL leaves no crawl running behind it.
- Delivery: late acknowledgement, one message per free thread (prefetch multiplier 1), and
  rejection when a worker is lost. A batch's message is acknowledged only after its observations
  were returned, so a worker that dies before never acknowledged it: RabbitMQ hands it to another
  worker as soon as the dead one's connection drops; Redis does so after the visibility timeout
  (``VISIBILITY_TIMEOUT``, long on purpose so that a long batch is not handed out twice while it
  runs). Either way the coordinator sends a batch again after ``crawl.batch_timeout`` and takes
  the first answer; each message expires, so a stale batch of a finished crawl is dropped.
- JSON only, both ways: a worker never unpickles what a broker hands it.
- Results: in Redis itself for a Redis broker; for RabbitMQ, Celery's ``rpc://`` backend (replies
  come back as messages to the coordinator that sent the task).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery

from ..config import broker_url
from .protocol import ProtocolError, worker_name
from .revisit import revisit

ENV_BROKER = "MONITOR_BROKER"
QUEUE = "monitor.revisit"  # our own queue: a broker shared with other Celery apps keeps them apart
TASK = "monitor.revisit"
NODE_PREFIX = "monitor@"  # Celery's node name is monitor@NAME; observations name NAME
# Seconds before Redis hands an unacknowledged batch to another worker (RabbitMQ does so when the
# connection drops). Longer than any batch should take; the coordinator's re-send is the quick path.
VISIBILITY_TIMEOUT = 3_600
# What the Scrapy children log to the worker's stderr (the journal): warnings and errors only.
CHILD_LOG_LEVEL = logging.WARNING

log = logging.getLogger("monitor.worker")


def result_backend(broker: str) -> str:
    """Where results go: Redis keeps them itself; with RabbitMQ they come back as messages."""
    return broker if broker.startswith(("redis://", "rediss://")) else "rpc://"


def make_app(broker: str | None) -> Celery:
    """A Celery app for this broker (None: Celery's default, for `celery -A` with `-b URL`)."""
    app = Celery("monitor", set_as_current=False)
    app.conf.update(
        broker_url=broker,
        result_backend=result_backend(broker) if broker else None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_pool="threads",
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,  # a worker waits for its broker (systemd order)
    )
    app.task(name=TASK, bind=True)(revisit_batch)
    return app


def revisit_batch(task: Any, messages: list) -> list[dict]:
    """The task: one batch's messages in, its observations (JSON objects) out."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict) \
            or not isinstance(messages[0].get("settings"), dict):
        raise ProtocolError("a batch is a list of messages, its settings first")
    name = node_worker(task.request.hostname)
    batch = [{"settings": {**messages[0]["settings"], "worker": name}}, *messages[1:]]
    started = time.monotonic()
    observations = [observation.to_json() for observation in revisit(batch, log_level=CHILD_LOG_LEVEL)]
    log.info("batch %s: %d observations in %.1f s", task.request.id, len(observations), time.monotonic() - started)
    return observations


def node_worker(node: str | None) -> str:
    """The worker's name (``--name``) from Celery's node name."""
    if not node:
        return worker_name()
    return node.removeprefix(NODE_PREFIX)


def run_worker(broker: str, *, concurrency: int | None = None, name: str | None = None,
               loglevel: str = "INFO") -> int:
    """Run a worker in this process until it is stopped (SIGTERM: after its running batches;
    a second SIGTERM or SIGQUIT: at once). Its exit code."""
    broker_url(broker)  # ValueError: not a broker URL
    app = make_app(broker)
    worker = app.Worker(hostname=NODE_PREFIX + (name or worker_name()), concurrency=concurrency or os.cpu_count() or 1,
                        loglevel=loglevel, queues=[QUEUE])
    # Celery logs each task's return value when it succeeds: here a batch's every URL. The task
    # logs a line of counts instead; failures are still logged, at ERROR.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    worker.start()
    return worker.exitcode or 0


# `celery -A monitor.crawl.tasks ...` (inspect, status, purge): the broker from $MONITOR_BROKER or -b.
app = make_app(os.environ.get(ENV_BROKER) or None)
