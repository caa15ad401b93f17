"""Real brokers for the Celery tests: Redis at 127.0.0.1:6379 and RabbitMQ at 127.0.0.1:5672
(guest/guest), started here if nothing listens on their port, each test in a space of its own (a
Redis database number it claims, a RabbitMQ virtual host it creates), and `monitor worker`
processes started as users start them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

REDIS_PORT = 6379
AMQP_PORT = 5672
START_WAIT = 90.0  # seconds a broker may take to start listening
READY_WAIT = 60.0  # seconds a worker may take to say it is ready
CLAIM = "monitor-tests:claimed"  # the key a test sets in the Redis database it uses
OURS = "monitor-tests:ours"  # marks a database as the tests' (one a test left behind may be reused)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound and released: free for a moment)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_running(name: str, port: int, starts: list[list[str]]) -> None:
    """The broker listens on its port, started by the first of ``starts`` that works if it did not;
    else the test fails saying so (these tests never skip: the brokers are part of the setup)."""
    if listening(port):
        return
    tried = []
    for command in starts:
        if shutil.which(command[0]) is None:
            tried.append(f"{command[0]}: not installed")
            continue
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=START_WAIT)
        except subprocess.TimeoutExpired:
            tried.append(f"{' '.join(command)}: still running after {START_WAIT:g} s")
            continue
        tried.append(f"{' '.join(command)}: exit {done.returncode} {done.stderr.strip()[-200:]}")
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if listening(port):
                return
            time.sleep(0.5)
    pytest.fail(f"{name} is not listening on 127.0.0.1:{port} and could not be started ({'; '.join(tried)}); "
                "start it as .ci/run does", pytrace=False)


def ensure_redis() -> None:
    ensure_running("Redis", REDIS_PORT, [
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--daemonize", "yes"],
        ["service", "redis-server", "start"],
    ])


def ensure_rabbitmq() -> None:
    ensure_running("RabbitMQ", AMQP_PORT, [
        ["service", "rabbitmq-server", "start"],
        ["rabbitmq-server", "-detached"],
    ])


@contextmanager
def redis_database():
    """A Redis broker URL on a database number of this test's own: one that is empty or was left
    by these tests (never someone else's data), claimed with a key that expires (so that test
    runs side by side keep apart), emptied before and after."""
    import redis

    ensure_redis()
    for number in range(1, 16):
        client = redis.Redis(host="127.0.0.1", port=REDIS_PORT, db=number)
        if (client.dbsize() == 0 or client.exists(OURS)) and client.set(CLAIM, os.getpid(), nx=True, ex=900):
            break
        client.close()
    else:
        pytest.fail("no Redis database 1-15 is free for the tests: each holds data or a test's claim "
                    f"({CLAIM})", pytrace=False)
    try:
        client.flushdb()
        client.set(OURS, 1)
        client.set(CLAIM, os.getpid(), ex=900)
        yield f"redis://127.0.0.1:{REDIS_PORT}/{number}"
    finally:
        client.flushdb()
        client.close()


def rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}", pytrace=False)


@contextmanager
def rabbitmq_vhost():
    """A RabbitMQ broker URL on a virtual host of this test's own, deleted after it."""
    ensure_rabbitmq()
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not installed: the tests make a virtual host each with it", pytrace=False)
    vhost = f"monitor-test-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:{AMQP_PORT}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


@contextmanager
def broker(kind: str):
    with (redis_database() if kind == "redis" else rabbitmq_vhost()) as url:
        yield url


def clean_env() -> dict[str, str]:
    """This process's environment without the variables that would point monitor elsewhere."""
    return {k: v for k, v in os.environ.items() if k not in ("MONITOR_BROKER", "MONITOR_CONFIG")}


class Worker:
    """`python -P -m monitor worker` in a process of its own, its log in a file."""

    def __init__(self, broker_url: str, name: str, folder: Path, concurrency: int = 1,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = folder / f"worker-{name}.log"
        self.output = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "monitor", "worker", "--broker", broker_url, "--name", name,
             "--concurrency", str(concurrency)],
            stdout=self.output, stderr=subprocess.STDOUT, cwd=folder, env={**clean_env(), **(env or {})})

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WAIT
        while f"monitor@{self.name} ready." not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker {self.name} did not start:\n{self.text()[-3000:]}", pytrace=False)
            time.sleep(0.2)

    def children(self) -> list[int]:
        """Its child processes (the Scrapy children of its batches), from /proc."""
        found: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
        return found

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.output.close()


@contextmanager
def workers(broker_url: str, folder: Path, *names: str, concurrency: int = 1, env: dict[str, str] | None = None):
    started = [Worker(broker_url, name, folder, concurrency, env) for name in names]
    try:
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.stop()
