"""A TCP line between a browser and the web door that a test can cut and mend.

`cut()` drops every connection through it and stops listening, so to the browser the server
is gone (open sockets close, new ones are refused) while the server itself keeps running and
finishes what it was doing; `mend()` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib


class CuttableLine:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same one after a cut)."""
        self._server = await asyncio.start_server(
            self._connected, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Drop every connection and stop listening."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        await self._server.wait_closed()
        self._server = None

    async def mend(self) -> None:
        """Listen again on the same port."""
        await self.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target
            )
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, upstream_writer))
        await asyncio.gather(
            _pump(reader, upstream_writer, self._open), _pump(upstream_reader, writer, self._open)
        )


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, open_: set[asyncio.StreamWriter]
) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    # One side ended (or was cut): end the other too.
    open_.discard(writer)
    writer.transport.abort()
