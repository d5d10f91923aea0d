"""Waking many waiters a slice at a time, so that one wake-up does not hold the event loop.

A group commit or a group read answers up to a thousand callers at once. Woken together,
they all take their next step in one turn of the event loop: for a thousand replies that
step (each asking its model) held the loop for a third of a second, with every timer and
every socket waiting behind it (benchmarks/streaming.py, its event-loop lag). Woken a slice
at a time, with a turn of the loop between slices, the same work goes in short turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

T = TypeVar("T")

WAKE_SLICE = 64  # callers woken in one turn of the event loop


async def in_slices(items: Iterable[T], size: int = WAKE_SLICE) -> AsyncIterator[T]:
    """Each item in turn, with a turn of the loop after every `size` of them (not after the
    last): the caller wakes one waiter per item."""
    for count, item in enumerate(items):
        if count and count % size == 0:
            await asyncio.sleep(0)
        yield item
