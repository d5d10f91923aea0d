"""Limits: counted in this process or in Redis, and the per-account usage limits on top."""

from __future__ import annotations

from bot.limits.limiter import Limiter
from bot.limits.usage import UsageLimits
from bot.limits.windows import PerDay, PerHour, PerMinute, Window

__all__ = ["Limiter", "PerDay", "PerHour", "PerMinute", "UsageLimits", "Window"]
