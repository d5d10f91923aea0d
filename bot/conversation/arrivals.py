"""Arrival order inside one process: numbers handed out before the first await, and a gate
that lets each message take its next step only after every earlier message has."""

from __future__ import annotations

import asyncio
import itertools


class ArrivalGate:
    """Messages get a number on arrival; `wait(n)` returns once no earlier number is still
    before the gate, and `leave(n)` lets the next one through. What runs before `wait`
    (lookups) overlaps; what runs between `wait` and `leave` happens in arrival order."""

    def __init__(self) -> None:
        self._numbers = itertools.count()
        # In arrival order (numbers only grow): the waiting ones hold a future.
        self._before: dict[int, asyncio.Future[None] | None] = {}

    def arrive(self) -> int:
        """A number for a message that just arrived (call it before any await)."""
        number = next(self._numbers)
        self._before[number] = None
        return number

    async def wait(self, number: int) -> None:
        """Wait until every earlier arrival has left."""
        if next(iter(self._before)) != number:
            future = asyncio.get_running_loop().create_future()
            self._before[number] = future
            try:
                await future
            except BaseException:
                self.leave(number)
                raise

    def leave(self, number: int) -> None:
        """Stop holding up later arrivals (passed, or answered without a turn)."""
        if self._before.pop(number, 0) == 0:
            return  # gone already
        if self._before:
            first = self._before[next(iter(self._before))]
            if first is not None and not first.done():
                first.set_result(None)

    def __len__(self) -> int:
        return len(self._before)
