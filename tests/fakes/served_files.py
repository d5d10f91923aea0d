"""Files a stand-in serves for download (Telegram's file URLs, Discord's CDN), recording every
request and how many bytes went out, so a test can tell whether a file was fetched at all.

A file may state a size other than its real one (the platform says 1 KB, the server streams
`padding` more bytes, hundreds of MB if need be: then no Content-Length is sent, as a server
streaming an unknown length does), or hang after its first bytes until the stand-in is
released (a slow download).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

CHUNK = 64 * 1024


@dataclass
class Served:
    """One file: its bytes (then `padding` zero bytes made as they are sent), the size the
    platform states for it, and whether it hangs."""

    data: bytes
    stated: int | None
    hang: bool = False
    padding: int = 0

    @property
    def length(self) -> int:
        return len(self.data) + self.padding


@dataclass
class FileShelf:
    """The files by path, the paths requested (in order) and the bytes sent for each."""

    files: dict[str, Served] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    _asked: asyncio.Condition = field(default_factory=asyncio.Condition)

    def put(
        self,
        path: str,
        data: bytes,
        *,
        stated: int | None = None,
        hang: bool = False,
        padding: int = 0,
    ) -> Served:
        """Serve `data` (and `padding`) at `path`; `stated` defaults to its real size."""
        served = Served(data, len(data) + padding if stated is None else stated, hang, padding)
        self.files[path] = served
        return served

    def release(self) -> None:
        """Let hanging downloads end (call before the server stops)."""
        self.released.set()

    async def wait_fetched(self, count: int, within: float = 15) -> list[str]:
        """Wait until `count` requests came in, and return their paths."""
        async with self._asked:
            await asyncio.wait_for(self._asked.wait_for(lambda: len(self.fetched) >= count), within)
        return self.fetched

    async def respond(self, path: str, request: Request) -> Response:
        async with self._asked:
            self.fetched.append(path)
            self._asked.notify_all()
        served = self.files.get(path)
        if served is None:
            return PlainTextResponse("Not Found", 404)
        headers = {"Content-Type": "application/octet-stream"}
        if served.stated == served.length and not served.hang:
            headers["Content-Length"] = str(served.length)
        return StreamingResponse(self._body(path, served, request), headers=headers)

    async def _body(self, path: str, served: Served, request: Request) -> AsyncIterator[bytes]:
        # uvicorn drops what is sent after the client went away: stop then, so `sent` counts
        # what the client could have read.
        self.sent.setdefault(path, 0)
        for start in range(0, len(served.data), CHUNK):
            chunk = served.data[start : start + CHUNK]
            self.sent[path] += len(chunk)
            yield chunk
            if served.hang:
                await self.released.wait()
                return
        zeros = bytes(CHUNK)
        for start in range(0, served.padding, CHUNK):
            if await request.is_disconnected():
                return
            chunk = zeros[: min(CHUNK, served.padding - start)]
            self.sent[path] += len(chunk)
            yield chunk
