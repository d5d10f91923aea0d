"""Serve an ASGI app (a stand-in for some outside service) on 127.0.0.1, on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def free_port() -> int:
    """A TCP port nobody listens on right now, for servers that must bind it themselves
    (redis-server, PostgreSQL). Another process may take it before they do: their start-up
    tries again with another port when that happens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port held bound but never listening, so connecting to it is refused for as long
    as the block runs (nobody else can take it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) while `app` is served, on `sock` (bound,
    not yet listening: a service that comes up late on a known port) or a free port."""
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
