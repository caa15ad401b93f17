"""Per-service rate limits for the network lookups (RDAP registries): callers wait their turn.

A limiter spaces requests at least ``60 / per_minute`` seconds apart. It is a minimum-interval
limiter rather than a token bucket on purpose: registries publish limits as "N queries a
minute" and punish bursts (LACNIC blocks for a while), so a burst allowance would only earn us a
429. Each caller *reserves* the next free slot under the lock and sleeps outside it, so threads
queue up fairly and the lock is never held while sleeping.

``defer(seconds)`` pushes the next free slot back, which is how a 429 with Retry-After pauses
every request to that registry, not only the one that was refused. A scheduler that must not
block (the RDAP client's, which runs fetches in threads) asks ``delay()`` and ``take()``s a slot
when it is free. Clock and sleep can be given, so that tests never wait for real.

    limits = RateLimits({"lacnic": 10.0}, default=60.0)
    limits.acquire("lacnic")   # returns at once the first time, then every 6 s
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["DEFAULT_PER_MINUTE", "RateLimiter", "RateLimits"]

DEFAULT_PER_MINUTE = 60.0


class RateLimiter:
    """At most ``per_minute`` acquisitions a minute, evenly spaced; thread-safe."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not per_minute > 0:
            raise ValueError(f"a rate limit must be more than 0 a minute, got {per_minute!r}")
        self.per_minute = float(per_minute)
        self.interval = 60.0 / self.per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = float("-inf")  # the first caller never waits

    def acquire(self) -> float:
        """Wait until this caller may send its request; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_free)
            self._next_free = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def delay(self) -> float:
        """Seconds until the next free slot (0: one is free now); reserves nothing."""
        with self._lock:
            return max(self._next_free - self._clock(), 0.0)

    def take(self) -> None:
        """Reserve the next slot without waiting for it (after ``delay()`` said 0)."""
        with self._lock:
            self._next_free = max(self._clock(), self._next_free) + self.interval

    def defer(self, seconds: float) -> None:
        """Let nobody through for ``seconds`` from now (a server asked us to back off)."""
        with self._lock:
            self._next_free = max(self._next_free, self._clock() + max(seconds, 0.0))


class RateLimits:
    """One RateLimiter per key (registry), created on first use; unknown keys get ``default``."""

    def __init__(
        self,
        per_minute: Mapping[str, float],
        *,
        default: float = DEFAULT_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._per_minute = dict(per_minute)
        self._default = default
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, key: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = RateLimiter(self._per_minute.get(key, self._default), clock=self._clock,
                                      sleep=self._sleep)
                self._limiters[key] = limiter
            return limiter

    def acquire(self, key: str) -> float:
        return self.limiter(key).acquire()

    def defer(self, key: str, seconds: float) -> None:
        self.limiter(key).defer(seconds)
