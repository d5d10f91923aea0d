"""The callers of a shared commit or query told of its outcome, a slice each loop turn.

A thousand callers woken at once would all take their next step in the same turn of the
event loop, one after the other, while every stream and timer waits for the lot (a turn of
half a second here, benchmarks/streaming.py). Told WAKE_SLICE at a time, one slice a turn,
they share the loop with the rest. A commit or query of no more than that many (every
batch of the core's own benchmark) wakes its callers at once, with no turn more to wait.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")

WAKE_SLICE = 128


def wake(outcomes: list[tuple[asyncio.Future[T], T]]) -> None:
    """Give each waiting future its value (those given up on are passed over), WAKE_SLICE
    now and the rest in the next turns, in order."""
    for done, value in outcomes[:WAKE_SLICE]:
        if not done.done():
            done.set_result(value)
    if len(outcomes) > WAKE_SLICE:
        asyncio.get_running_loop().call_soon(wake, outcomes[WAKE_SLICE:])
