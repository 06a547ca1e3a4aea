"""Staying within the Cloud Logging read quota: a request rate limit, backoff with jitter, and
what counts as worth retrying.

The quota is about 60 `entries.list` requests per minute per project, and the REST transport
retries nothing. Time comes from a `Clock`, so tests replace waiting by recording.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Protocol


class Retryable(Exception):
    """A request that may succeed when tried again; `reason` says what happened, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Clock(Protocol):
    """Wall time for windows and `pulled_at`, monotonic time and sleep for waiting."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class RateLimiter:
    """At most `per_second` requests per second: each request waits for its slot."""

    def __init__(self, per_second: float, clock: Clock) -> None:
        if per_second <= 0:
            raise ValueError("the request rate must be positive")
        self.interval = 1.0 / per_second
        self.clock = clock
        self._next: float | None = None

    def acquire(self) -> float:
        """Wait until the next request may go; returns the seconds waited."""
        now = self.clock.monotonic()
        wait = 0.0 if self._next is None else max(0.0, self._next - now)
        if wait:
            self.clock.sleep(wait)
        self._next = now + wait + self.interval
        return wait


class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of base·2ⁿ (capped).

    Jitter keeps many CI jobs that hit the quota together from retrying in lockstep.
    """

    def __init__(self, base_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first retry)."""
        ceiling = min(self.max_s, self.base_s * 2.0**attempt)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
