"""Limits: counted in this process, or in Redis (through the `limits` library) for replicas."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.clock import Clock, unix_time, utcnow
from bot.errors import RateLimited
from bot.limits.local import LocalCounts
from bot.limits.windows import Window

if TYPE_CHECKING:
    from limits.aio.storage import Storage

    from bot.limits.shared import SharedCounts

__all__ = ["Limiter"]


class Limiter:
    """Counts events per key and refuses with RateLimited once a limit is reached.

    Counts kept in this process read `clock` (the assembly's one clock, so a test moves
    them with the rest); counts in Redis run on real time, as its keys expire by it.
    """

    def __init__(self, storage: Storage | None = None, *, clock: Clock = utcnow) -> None:
        self.storage = storage
        self._counts: LocalCounts | SharedCounts
        if storage is None:
            self._counts = LocalCounts(lambda: unix_time(clock))
        else:
            from bot.limits.shared import SharedCounts

            self._counts = SharedCounts(storage)

    @classmethod
    def from_url(cls, redis_url: str | None, *, clock: Clock = utcnow) -> Limiter:
        """Counts in this process, or in the Redis at `redis_url` (shared by every replica)."""
        if not redis_url:
            return cls(clock=clock)
        from bot.limits.shared import redis_storage

        return cls(redis_storage(redis_url), clock=clock)

    def now(self) -> float:
        """The unix time the windows are counted in (for turning a reset time into a wait)."""
        return self._counts.now()

    async def hit(self, item: Window, what: str, *key: str) -> None:
        """Count one event in a moving window, or raise RateLimited (counting nothing)."""
        retry_after = await self._counts.hit(item, key)
        if retry_after is not None:
            raise RateLimited(what, retry_after)

    async def clear(self, item: Window, *key: str) -> None:
        """Forget the events counted for a key."""
        await self._counts.clear(item, key)

    async def spend(self, item: Window, cost: int, *key: str) -> None:
        """Add `cost` to a fixed window (a daily budget), stopping at its limit."""
        if cost > 0:
            await self._counts.spend(item, cost, key)

    async def remaining(self, item: Window, *key: str) -> tuple[int, float]:
        """What is left in a fixed window, and the unix time it resets."""
        return await self._counts.remaining(item, key)

    async def counted(self, item: Window, *key: str) -> int:
        """Events counted in a moving window (what `hit` counts) right now."""
        return await self._counts.counted(item, key)

    @property
    def shared(self) -> bool:
        """Whether counts live in Redis (shared by replicas) rather than in this process."""
        return self.storage is not None

    async def ping(self) -> bool:
        """Whether the storage answers (always true in memory)."""
        if self.storage is None:
            return True
        try:
            return bool(await self.storage.check())
        except Exception:
            return False

    async def close(self) -> None:
        """Close the Redis connections."""
        # limits has no close(): its redis-py bridge keeps the client at bridge.storage.
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()
