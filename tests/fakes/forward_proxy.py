"""An HTTP forward proxy on 127.0.0.1, for clients that take theirs from HTTP_PROXY."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1: takes absolute-form requests (`POST
    http://host:port/path HTTP/1.1`, as clients send them to a proxy for http:// URLs),
    passes each to its server in origin form and relays the answer."""

    def __init__(self) -> None:
        self.targets: list[str] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, version = head[0].split(" ")
        self.targets.append(target)
        headers = [line for line in head[1:] if line]
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length")),
            0,
        )
        body = await reader.readexactly(length)
        host_port, _, path = target.removeprefix("http://").partition("/")
        host, _, port = host_port.partition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        kept = [h for h in headers if not h.lower().startswith(("connection", "proxy-"))]
        lines = [f"{method} /{path} {version}", *kept, "Connection: close", "", ""]
        up_writer.write("\r\n".join(lines).encode("latin-1") + body)
        writer.write(await up_reader.read())  # the server closes: the whole answer
        up_writer.close()
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        async with server:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
