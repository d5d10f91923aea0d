"""Per-account limits: messages per minute and an optional daily (UTC) token budget."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.clock import Clock, unix_time, utcnow
from bot.errors import RateLimited
from bot.limits.limiter import Limiter
from bot.limits.windows import PerDay, PerMinute

log = logging.getLogger(__name__)

# Tokens are counted (for /whoami, and against the budget) in a window never filled up.
COUNTER = PerDay(10**15)


@dataclass(frozen=True, slots=True)
class Today:
    """An account's model tokens today (UTC) and its budget, if any."""

    tokens: int
    budget: int | None


def _utc_day(now: float) -> tuple[str, float]:
    """Today's date (UTC) as a key, and when tomorrow starts (unix time)."""
    today = datetime.fromtimestamp(now, UTC).date()
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    return today.isoformat(), midnight.timestamp()


class UsageLimits:
    """RATE_LIMIT_PER_MINUTE and DAILY_TOKEN_BUDGET, shared through Redis when configured.

    If the limit storage (Redis) is unreachable, messages are let through and a warning is
    logged: a chat that keeps answering beats one that refuses everybody.
    """

    def __init__(
        self,
        limiter: Limiter,
        *,
        per_minute: int,
        daily_budget: int | None,
        clock: Clock = utcnow,
    ) -> None:
        self.limiter = limiter
        self.daily_budget = daily_budget
        self.clock = clock
        self.per_minute = per_minute
        self._messages = PerMinute(per_minute) if per_minute > 0 else None

    async def admit(self, account_id: int) -> None:
        """Count one message; RateLimited (with when to retry) when over either limit."""
        try:
            if self.daily_budget is not None:
                today = await self.today(account_id)
                if today.tokens >= self.daily_budget:
                    now = unix_time(self.clock)
                    reset = _utc_day(now)[1] - now
                    hours = max(1, round(reset / 3600))
                    raise RateLimited.custom(
                        f"Today's token budget is used up. It resets at 00:00 UTC "
                        f"(in about {hours} hour{'s' if hours != 1 else ''}).",
                        reset,
                    )
            if self._messages is not None:
                await self.limiter.hit(self._messages, "messages", "messages", str(account_id))
        except RateLimited:
            raise
        except Exception as exc:
            log.warning("limits unavailable, letting a message through: %s", type(exc).__name__)

    async def record(self, account_id: int, tokens: int) -> None:
        """Add the tokens a model call cost to today's count."""
        day, _ = _utc_day(unix_time(self.clock))
        await self.limiter.spend(COUNTER, tokens, "tokens", str(account_id), day)

    async def today(self, account_id: int) -> Today:
        """Tokens used today (UTC) and the budget."""
        day, _ = _utc_day(unix_time(self.clock))
        remaining, _ = await self.limiter.remaining(COUNTER, "tokens", str(account_id), day)
        return Today(COUNTER.amount - remaining, self.daily_budget)

    async def this_minute(self, account_id: int) -> int | None:
        """Messages counted against RATE_LIMIT_PER_MINUTE now (None: no limit set)."""
        if self._messages is None:
            return None
        return await self.limiter.counted(self._messages, "messages", str(account_id))

    def day_start(self) -> datetime:
        """When today (UTC) began, as the naive UTC time the database stores."""
        day, _ = _utc_day(unix_time(self.clock))
        return datetime.fromisoformat(day)
