"""Time travel for in-process rate limits, so a test can pass a lockout without sleeping.

The shortest lockout the settings allow is a minute (LOGIN_LOCKOUT_MINUTES >= 1, and the
per-client window is a minute), too long to wait for in a test. The limits count in real
time, so this moves the clock they read instead: real time plus an offset the test advances.
"""

from __future__ import annotations

import time

import limits.aio.storage.memory
import pytest

import bot.ratelimit
from bot.ratelimit import Limiter


class LimiterClock:
    """Real time plus an offset; stands in for the `time` module where the limits read it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def install(limiter: Limiter, monkeypatch: pytest.MonkeyPatch) -> LimiterClock:
    """Put a LimiterClock behind `limiter` (counting in this process) for the rest of the test."""
    assert not limiter.shared, "only counts kept in this process can be moved"
    clock = LimiterClock()
    counts = getattr(limiter, "_counts", None)
    if counts is not None and hasattr(counts, "clock"):
        # Counts of chatlink's own, which read an injected clock.
        monkeypatch.setattr(counts, "clock", clock.time)
    else:
        # The `limits` library's MemoryStorage, which reads `time.time()` at each event.
        monkeypatch.setattr(limits.aio.storage.memory, "time", clock)
    monkeypatch.setattr(bot.ratelimit, "time", clock)  # for the "try again in" figure
    return clock
