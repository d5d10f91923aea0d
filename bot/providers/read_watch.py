"""The read timeout of streamed response bodies, kept by one watch for all of them.

aiohttp keeps a read timeout (`sock_read`) with a timer for each connection that it cancels
and schedules anew every time data arrives: a `call_later` and a `cancel` for every piece
of a streamed reply, about a tenth of the CPU of reading one (benchmarks/streaming.py's
model stand-in: a thousand replies at once, forty pieces each). A stream read under a
`ReadWatch` has that timer turned off once its headers are in; the watch looks at every
stream it holds each `tick_s` instead, and one that received nothing for `timeout_s` fails
as aiohttp's own timeout would (`ServerTimeoutError`, a TimeoutError): between `timeout_s`
and `timeout_s + tick_s` after its last byte. The watch's task runs only while streams are
open, so nothing is left behind between replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import aiohttp

STALLED = "Timeout on reading data from socket"  # aiohttp's words for its own


@dataclass(slots=True)
class _Watched:
    received: int  # the body's bytes so far when last looked at
    since: float  # when that count was first seen


class ReadWatch:
    """Fails a watched body that stalls for `timeout_s` (see the module's docstring)."""

    def __init__(
        self,
        timeout_s: float,
        *,
        tick_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self.tick_s = tick_s if tick_s is not None else min(1.0, timeout_s / 4)
        self.clock = clock
        self._bodies: dict[aiohttp.StreamReader, _Watched] = {}
        self._ticker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def watching(self, response: aiohttp.ClientResponse) -> Iterator[None]:
        """Watch `response`'s body while it is read, instead of aiohttp's per-piece timer."""
        if response.connection is not None and response.connection.protocol is not None:
            response.connection.protocol.read_timeout = None  # off from its next piece on
        body = response.content
        self._bodies[body] = _Watched(body.total_bytes, self.clock())
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="read-watch")
        try:
            yield
        finally:
            del self._bodies[body]

    def look(self) -> None:
        """Fail every body that received nothing for `timeout_s`."""
        now = self.clock()
        for body, watched in list(self._bodies.items()):
            if body.total_bytes != watched.received:
                watched.received, watched.since = body.total_bytes, now
            elif now - watched.since >= self.timeout_s and body.exception() is None:
                body.set_exception(aiohttp.ServerTimeoutError(STALLED))

    async def _tick(self) -> None:
        while self._bodies:
            await asyncio.sleep(self.tick_s)
            self.look()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
