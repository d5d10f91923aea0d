"""Per-account limits: messages per minute and an optional daily token budget."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.errors import RateLimited
from bot.ratelimit import Limiter, RateLimitItemPerDay, RateLimitItemPerMinute

# Without a budget, tokens are still counted (for /whoami) against a limit never reached.
UNLIMITED = 10**15


@dataclass(frozen=True, slots=True)
class Today:
    """An account's model tokens today (UTC) and its budget, if any."""

    tokens: int
    budget: int | None


class UsageLimits:
    """RATE_LIMIT_PER_MINUTE and DAILY_TOKEN_BUDGET, shared through Redis when configured."""

    def __init__(self, limiter: Limiter, *, per_minute: int, daily_budget: int | None) -> None:
        self.limiter = limiter
        self.daily_budget = daily_budget
        self._messages = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._tokens = RateLimitItemPerDay(daily_budget or UNLIMITED)

    async def admit(self, account_id: int) -> None:
        """Count one message; RateLimited (with when to retry) when over either limit."""
        if self.daily_budget is not None:
            remaining, reset = await self.limiter.remaining(self._tokens, "tokens", str(account_id))
            if remaining <= 0:
                hours = max(1, round((reset - time.time()) / 3600))
                raise RateLimited.custom(
                    f"Today's token budget is used up. It resets at 00:00 UTC "
                    f"(in about {hours} hour{'s' if hours != 1 else ''}).",
                    reset - time.time(),
                )
        if self._messages is not None:
            await self.limiter.hit(self._messages, "messages", "messages", str(account_id))

    async def record(self, account_id: int, tokens: int) -> None:
        """Add the tokens a reply cost to today's count."""
        await self.limiter.spend(self._tokens, tokens, "tokens", str(account_id))

    async def today(self, account_id: int) -> Today:
        """Tokens used today and the budget."""
        remaining, _ = await self.limiter.remaining(self._tokens, "tokens", str(account_id))
        limit = self.daily_budget or UNLIMITED
        return Today(limit - remaining, self.daily_budget)
