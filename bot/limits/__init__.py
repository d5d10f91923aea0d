"""Limits: counted in this process or in Redis, and the per-account usage limits on top."""

from __future__ import annotations

from bot.limits.limiter import (
    Limiter,
    RateLimitItemPerDay,
    RateLimitItemPerHour,
    RateLimitItemPerMinute,
)
from bot.limits.usage import UsageLimits

__all__ = [
    "Limiter",
    "RateLimitItemPerDay",
    "RateLimitItemPerHour",
    "RateLimitItemPerMinute",
    "UsageLimits",
]
