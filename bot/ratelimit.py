"""Limits on top of the `limits` library: in-process memory, or Redis shared by replicas."""

from __future__ import annotations

import time

from limits import (
    RateLimitItem,
    RateLimitItemPerDay,
    RateLimitItemPerHour,
    RateLimitItemPerMinute,
)
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.storage import storage_from_string

from bot.errors import RateLimited

__all__ = [
    "Limiter",
    "RateLimitItem",
    "RateLimitItemPerDay",
    "RateLimitItemPerHour",
    "RateLimitItemPerMinute",
]


class Limiter:
    """Counts events per key and refuses with RateLimited once a limit is reached."""

    def __init__(self, storage: Storage | None = None) -> None:
        self.storage = storage or MemoryStorage()
        self._moving = MovingWindowRateLimiter(self.storage)
        self._fixed = FixedWindowRateLimiter(self.storage)

    @classmethod
    def from_url(cls, redis_url: str | None) -> Limiter:
        """Memory storage, or the Redis at `redis_url` (shared by every replica)."""
        if not redis_url:
            return cls()
        # redis-py (a dependency) rather than limits' default client, coredis.
        storage = storage_from_string(f"async+{redis_url}", implementation="redispy")
        assert isinstance(storage, Storage)
        return cls(storage)

    async def hit(self, item: RateLimitItem, what: str, *key: str) -> None:
        """Count one event in a moving window, or raise RateLimited (counting nothing)."""
        if not await self._moving.hit(item, *key):
            stats = await self._moving.get_window_stats(item, *key)
            raise RateLimited(what, stats.reset_time - time.time())

    async def clear(self, item: RateLimitItem, *key: str) -> None:
        """Forget the events counted for a key."""
        await self._moving.clear(item, *key)

    async def spend(self, item: RateLimitItem, cost: int, *key: str) -> None:
        """Add `cost` to a fixed window (a daily budget), even past its limit."""
        if cost > 0 and not await self._fixed.hit(item, *key, cost=cost):
            # Over the top: record what fits, so the window shows as used up.
            remaining = (await self._fixed.get_window_stats(item, *key)).remaining
            if remaining > 0:
                await self._fixed.hit(item, *key, cost=remaining)

    async def remaining(self, item: RateLimitItem, *key: str) -> tuple[int, float]:
        """What is left in a fixed window, and the unix time it resets."""
        stats = await self._fixed.get_window_stats(item, *key)
        return stats.remaining, stats.reset_time

    @property
    def shared(self) -> bool:
        """Whether counts live in Redis (shared by replicas) rather than in this process."""
        return not isinstance(self.storage, MemoryStorage)

    async def ping(self) -> bool:
        """Whether the storage answers (always true in memory)."""
        try:
            return bool(await self.storage.check())
        except Exception:
            return False

    async def close(self) -> None:
        """Stop the memory storage's expiry task, or close the Redis connections."""
        timer = getattr(self.storage, "timer", None)
        if timer is not None:
            timer.cancel()
        # limits has no close(): its redis-py bridge keeps the client at bridge.storage.
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()
