"""Time travel for in-process rate limits, so a test can pass a lockout without sleeping.

The shortest lockout the settings allow is a minute (LOGIN_LOCKOUT_MINUTES >= 1, and the
per-client window is a minute), too long to wait for in a test. The limits count in real
time, so this moves the clock they read instead: real time plus an offset the test advances.
"""

from __future__ import annotations

import time

import pytest

from bot.limits.limiter import Limiter
from bot.limits.local import LocalCounts


class LimiterClock:
    """Real time plus an offset, read by the in-process limit counts."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def install(limiter: Limiter, monkeypatch: pytest.MonkeyPatch) -> LimiterClock:
    """Put a LimiterClock behind `limiter` (counting in this process) for the rest of the test."""
    assert isinstance(limiter._counts, LocalCounts), "only counts kept in this process can move"
    clock = LimiterClock()
    monkeypatch.setattr(limiter._counts, "clock", clock.time)
    return clock
