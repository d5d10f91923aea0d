"""Limits counted in this process: moving and fixed windows at constant cost per event."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

from bot.limits.windows import Window

# (window end, count) of a fixed window; the event times, oldest first, of a moving one.
Fixed = tuple[float, int]
Moving = deque[float]


class LocalCounts:
    """The in-process counterpart of limits' storages, for one process without Redis.

    limits' own MemoryStorage walks every key (and hops to a thread per moving window) on
    each event, so its cost grows with the number of accounts. Here an event costs a
    dictionary lookup. Keys are kept per window length in the order they were last used,
    so the oldest are at the front: spent ones are dropped from there as time passes, at a
    cost that grows with the keys dropped, never with the keys kept.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._moving: dict[float, OrderedDict[str, Moving]] = {}
        self._fixed: dict[float, OrderedDict[str, Fixed]] = {}

    def now(self) -> float:
        """The unix time the windows are counted in."""
        return self.clock()

    async def hit(self, item: Window, key: tuple[str, ...]) -> float | None:
        """Count one event in a moving window; None, or (refused) when to retry, in seconds."""
        now = self._tick()
        period = item.get_expiry()
        name = item.key_for(*key)
        keys = self._moving.setdefault(period, OrderedDict())
        events = keys.get(name)
        if events is None:
            events = keys[name] = deque(maxlen=item.amount)
        else:
            keys.move_to_end(name)
        while events and events[0] <= now - period:
            events.popleft()
        if len(events) >= item.amount:
            return events[0] + period - now
        events.append(now)
        return None

    async def counted(self, item: Window, key: tuple[str, ...]) -> int:
        """Events in a moving window now (counting none)."""
        now = self._tick()
        period = item.get_expiry()
        events = self._moving.get(period, OrderedDict()).get(item.key_for(*key))
        return sum(1 for at in events or () if at > now - period)

    async def clear(self, item: Window, key: tuple[str, ...]) -> None:
        name, period = item.key_for(*key), item.get_expiry()
        if period in self._moving:
            self._moving[period].pop(name, None)
        if period in self._fixed:
            self._fixed[period].pop(name, None)

    async def spend(self, item: Window, cost: int, key: tuple[str, ...]) -> None:
        """Add `cost` to a fixed window, stopping at its limit."""
        now = self._tick()
        keys, name = self._fixed.setdefault(item.get_expiry(), OrderedDict()), item.key_for(*key)
        end, count = self._window(item, name, now)
        if count == 0:
            keys.pop(name, None)  # a new window: to the back, in order of window end
        keys[name] = (end, min(item.amount, count + cost))

    async def remaining(self, item: Window, key: tuple[str, ...]) -> tuple[int, float]:
        """What is left in a fixed window, and the unix time it resets."""
        now = self._tick()
        end, count = self._window(item, item.key_for(*key), now)
        return item.amount - count, end

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._moving.values()) + sum(
            len(keys) for keys in self._fixed.values()
        )

    def _window(self, item: Window, name: str, now: float) -> Fixed:
        keys = self._fixed.get(item.get_expiry())
        window = None if keys is None else keys.get(name)
        if window is None or window[0] <= now:
            return now + item.get_expiry(), 0
        return window

    def _tick(self) -> float:
        now = self.clock()
        for period, moving in self._moving.items():
            # The front key was used longest ago: once its newest event left the window,
            # every event of it did.
            while moving:
                name, events = next(iter(moving.items()))
                if events and events[-1] > now - period:
                    break
                del moving[name]
        for fixed in self._fixed.values():
            while fixed:
                name, (end, _) = next(iter(fixed.items()))
                if end > now:
                    break
                del fixed[name]
        return now
