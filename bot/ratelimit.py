"""Moving-window limits on top of the `limits` library (in-process memory storage)."""

from __future__ import annotations

import time

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from bot.errors import RateLimited

__all__ = ["Limiter", "RateLimitItem", "RateLimitItemPerHour", "RateLimitItemPerMinute"]


class Limiter:
    """Counts events per key and refuses with RateLimited once a limit is reached."""

    def __init__(self, storage: Storage | None = None) -> None:
        self.storage = storage or MemoryStorage()
        self._strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, what: str, *key: str) -> None:
        """Count one event, or raise RateLimited (counting nothing) when over the limit."""
        if not await self._strategy.hit(item, *key):
            stats = await self._strategy.get_window_stats(item, *key)
            raise RateLimited(what, stats.reset_time - time.time())

    async def clear(self, item: RateLimitItem, *key: str) -> None:
        """Forget the events counted for a key."""
        await self._strategy.clear(item, *key)

    async def close(self) -> None:
        """Stop the storage's background expiry task."""
        timer = getattr(self.storage, "timer", None)
        if timer is not None:
            timer.cancel()
