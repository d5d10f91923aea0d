"""Counts in Redis through the `limits` library, seen by every replica (REDIS_URL).

Imported only when REDIS_URL is set: a single process counts in `local`, without loading
`limits` and its storages at start.
"""

from __future__ import annotations

import time
from functools import cache

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.storage import storage_from_string

from bot.limits.windows import Window

ITEMS: dict[str, type[RateLimitItem]] = {
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}


def redis_storage(redis_url: str) -> Storage:
    """The `limits` storage for the Redis at `redis_url`."""
    # redis-py (a dependency) rather than limits' default client, coredis.
    storage = storage_from_string(f"async+{redis_url}", implementation="redispy")
    assert isinstance(storage, Storage)
    return storage


@cache
def item(window: Window) -> RateLimitItem:
    """The library's item for `window` (its keys are the window's own)."""
    return ITEMS[window.unit](window.amount, window.multiples, window.namespace)


class SharedCounts:
    """Counts in a `limits` storage (Redis), seen by every replica; same calls as LocalCounts."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._moving = MovingWindowRateLimiter(storage)
        self._fixed = FixedWindowRateLimiter(storage)

    def now(self) -> float:
        return time.time()

    async def hit(self, window: Window, key: tuple[str, ...]) -> float | None:
        limit = item(window)
        if await self._moving.hit(limit, *key):
            return None
        return (await self._moving.get_window_stats(limit, *key)).reset_time - self.now()

    async def counted(self, window: Window, key: tuple[str, ...]) -> int:
        stats = await self._moving.get_window_stats(item(window), *key)
        return window.amount - stats.remaining

    async def clear(self, window: Window, key: tuple[str, ...]) -> None:
        await self._moving.clear(item(window), *key)

    async def spend(self, window: Window, cost: int, key: tuple[str, ...]) -> None:
        limit = item(window)
        if not await self._fixed.hit(limit, *key, cost=cost):
            # Over the top: record what fits, so the window shows as used up.
            remaining = (await self._fixed.get_window_stats(limit, *key)).remaining
            if remaining > 0:
                await self._fixed.hit(limit, *key, cost=remaining)

    async def remaining(self, window: Window, key: tuple[str, ...]) -> tuple[int, float]:
        stats = await self._fixed.get_window_stats(item(window), *key)
        return stats.remaining, stats.reset_time
