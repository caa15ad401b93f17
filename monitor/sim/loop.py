"""What the simulated servers share: their lifecycle and their log of what they received.

``Server`` is started and stopped by hand or used as a context manager, and keeps a
``RequestLog``. ``LoopServer`` is a Server whose asyncio event loop runs in a background thread
of its own (a ``LoopThread``), so that its callers, tests and benchmarks, stay synchronous.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

__all__ = ["LoopServer", "LoopThread", "RequestLog", "Server", "daemon_thread"]

_T = TypeVar("_T")


def daemon_thread(name: str, target: Callable[..., object], **kwargs: Any) -> threading.Thread:
    """A started daemon thread running ``target(**kwargs)``."""
    thread = threading.Thread(target=target, kwargs=kwargs, name=name, daemon=True)
    thread.start()
    return thread


class LoopThread:
    """An asyncio event loop running in a daemon thread, from construction until ``stop()``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = daemon_thread(name, self.loop.run_forever)

    def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for its result (or exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        """Stop the loop, wait for its thread to end, and close it."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class RequestLog(Generic[_T]):
    """What a server received, in order: appended from its threads, read from any other.

    ``changed`` guards the entries (and may guard what else the server keeps with them); it is
    notified at every append.
    """

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self._entries: list[_T] = []

    def append(self, entry: _T) -> None:
        with self.changed:
            self._entries.append(entry)
            self.changed.notify_all()

    def entries(self) -> list[_T]:
        """A copy of the entries."""
        with self.changed:
            return list(self._entries)

    def clear(self) -> None:
        with self.changed:
            self._entries.clear()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until the log holds at least ``count`` entries; False on timeout."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self._entries) >= count, timeout)

    def __len__(self) -> int:
        with self.changed:
            return len(self._entries)


class Server:
    """Call ``start()`` and ``stop()``, or use as a context manager that does.

    What it received is logged in ``_log``, which a subclass creates.
    """

    _log: RequestLog[Any]

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reset_log(self) -> None:
        self._log.clear()


class LoopServer(Server):
    """A Server serving from an asyncio loop in a background thread.

    A subclass's ``start()`` binds its sockets, then calls ``_start_loop``; ``stop()`` runs
    the subclass's ``_close()`` on the loop, then ends the loop and its thread.
    """

    _runner: LoopThread | None = None

    def _start_loop(
        self,
        name: str,
        opening: Callable[[], Coroutine[Any, Any, None]],
        on_failure: Callable[[], None],
    ) -> None:
        """Start the loop in a thread called ``name`` and run ``opening()`` on it.

        When that fails, call ``on_failure()`` (the loop still running), end the loop and
        re-raise.
        """
        self._runner = LoopThread(name)
        try:
            self._runner.call(opening())
        except BaseException:
            on_failure()
            self._halt()
            raise

    def stop(self) -> None:
        if self._runner is None:
            return
        self._runner.call(self._close())
        self._halt()

    def _halt(self) -> None:
        assert self._runner is not None
        self._runner.stop()
        self._runner = None

    async def _close(self) -> None:
        raise NotImplementedError
