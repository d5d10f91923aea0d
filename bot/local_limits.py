"""Limits counted in this process: moving and fixed windows at constant cost per event."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from limits import RateLimitItem

SWEEP_EVERY_S = 60.0


class LocalCounts:
    """The in-process counterpart of limits' storages, for one process without Redis.

    limits' own MemoryStorage walks every key (and hops to a thread per moving window)
    on each event, so its cost grows with the number of accounts. Here an event costs a
    dictionary lookup; expired keys are swept once a minute, so memory stays bounded by
    the keys active within their windows.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # key -> (period, event times oldest first)
        self._moving: dict[str, tuple[float, deque[float]]] = {}
        self._fixed: dict[str, tuple[float, int]] = {}  # key -> (window end, count)
        self._next_sweep = clock() + SWEEP_EVERY_S

    async def hit(self, item: RateLimitItem, key: tuple[str, ...]) -> float | None:
        """Count one event in a moving window; None, or (refused) when to retry, in seconds."""
        now = self._tick()
        period = item.get_expiry()
        name = item.key_for(*key)
        entry = self._moving.get(name)
        if entry is None:
            entry = self._moving[name] = (period, deque(maxlen=item.amount))
        events = entry[1]
        while events and events[0] <= now - period:
            events.popleft()
        if len(events) >= item.amount:
            return events[0] + period - now
        events.append(now)
        return None

    async def clear(self, item: RateLimitItem, key: tuple[str, ...]) -> None:
        name = item.key_for(*key)
        self._moving.pop(name, None)
        self._fixed.pop(name, None)

    async def spend(self, item: RateLimitItem, cost: int, key: tuple[str, ...]) -> None:
        """Add `cost` to a fixed window, stopping at its limit."""
        now = self._tick()
        name = item.key_for(*key)
        end, count = self._window(item, name, now)
        self._fixed[name] = (end, min(item.amount, count + cost))

    async def remaining(self, item: RateLimitItem, key: tuple[str, ...]) -> tuple[int, float]:
        """What is left in a fixed window, and the unix time it resets."""
        now = self._tick()
        end, count = self._window(item, item.key_for(*key), now)
        return item.amount - count, end

    def __len__(self) -> int:
        return len(self._moving) + len(self._fixed)

    def _window(self, item: RateLimitItem, name: str, now: float) -> tuple[float, int]:
        window = self._fixed.get(name)
        if window is None or window[0] <= now:
            return now + item.get_expiry(), 0
        return window

    def _tick(self) -> float:
        now = self.clock()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_S
            for name in [k for k, (end, _) in self._fixed.items() if end <= now]:
                del self._fixed[name]
            spent = [k for k, (p, e) in self._moving.items() if not e or e[-1] <= now - p]
            for name in spent:
                del self._moving[name]
        return now
