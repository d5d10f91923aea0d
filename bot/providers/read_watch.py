"""The read timeout of streamed response bodies, kept by one watch for all of them.

aiohttp keeps a read timeout (`sock_read`) with a timer for each connection that it cancels
and schedules anew every time data arrives: a `call_later` and a `cancel` for every piece
of a streamed reply, about a tenth of the CPU of reading one (benchmarks/provider_stream.py).
A body read under a `ReadWatch` has that timer turned off once its headers are in; its
reader notes when it starts waiting for the next piece and when one comes, and the watch
looks at every body it holds each `tick_s`: one whose reader has waited `timeout_s` fails
as aiohttp's own timeout would (`ServerTimeoutError`, a TimeoutError), between `timeout_s`
and `timeout_s + tick_s` after its last piece. As with aiohttp's, only the reader's waiting
counts: a reader busy with what it has (or done with the body) is never timed out. The
watch's task runs only while bodies are read, so nothing is left behind between replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp

STALLED = "Timeout on reading data from socket"  # aiohttp's words for its own


class Watched:
    """One body being read, and since when its reader has waited for data (None: not)."""

    __slots__ = ("body", "clock", "waiting_since")

    def __init__(self, body: aiohttp.StreamReader, clock: Callable[[], float]) -> None:
        self.body, self.clock = body, clock
        self.waiting_since: float | None = None

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body as it arrives, whatever came meanwhile each time (aiohttp's iter_any)."""
        body = self.body
        while True:
            self.waiting_since = self.clock()
            try:
                data = await body.readany()
            finally:
                self.waiting_since = None
            if not data:
                return
            yield data


class ReadWatch:
    """Fails a watched body whose reader waits `timeout_s` (see the module's docstring)."""

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
        self._bodies: set[Watched] = set()
        self._ticker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def watching(self, response: aiohttp.ClientResponse) -> Iterator[Watched]:
        """Watch `response`'s body while it is read (through the `Watched` given), instead
        of aiohttp's timer."""
        if response.connection is not None and response.connection.protocol is not None:
            response.connection.protocol.read_timeout = None  # off from its next piece on
        watched = Watched(response.content, self.clock)
        self._bodies.add(watched)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="read-watch")
        try:
            yield watched
        finally:
            self._bodies.discard(watched)

    def look(self) -> None:
        """Fail every body whose reader has waited `timeout_s` for its next piece."""
        now = self.clock()
        for watched in self._bodies:
            since, body = watched.waiting_since, watched.body
            if since is not None and now - since >= self.timeout_s and body.exception() is None:
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
