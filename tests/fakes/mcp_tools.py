"""An MCP server of the tests' own, built with the SDK's server side (MCPServer): served over
streamable HTTP on 127.0.0.1 in the test's loop, or run over stdio as a child process
(`python -m tests.fakes.mcp_tools`, or this file as a script).

Tools: echo(text), hang() (never answers; says when it started and when it was cancelled),
fail() (raises), big() (1 MB of text), pid() (the process id), exit() (the process dies
mid-call).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mcp.server.mcpserver import MCPServer

BIG_CHARS = 1_000_000


@dataclass
class ToolEvents:
    """What the test can wait for or look at (HTTP only: same process)."""

    hang_started: asyncio.Event = field(default_factory=asyncio.Event)
    hang_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[str] = field(default_factory=list)


def build_server(events: ToolEvents | None = None) -> MCPServer:
    """The server and its tools."""
    seen = events or ToolEvents()
    server = MCPServer("testtools")

    @server.tool(description="Say the text back.")
    def echo(text: str) -> str:
        seen.calls.append("echo")
        return f"echo: {text}"

    @server.tool(description="Never answers.")
    async def hang() -> str:
        seen.calls.append("hang")
        seen.hang_started.set()
        try:
            await asyncio.Event().wait()
        except BaseException:
            seen.hang_cancelled.set()
            raise
        return "never"

    @server.tool(description="Always fails.")
    def fail() -> str:
        seen.calls.append("fail")
        raise ValueError("the fail tool failed, as it always does")

    @server.tool(description="A megabyte of text.")
    def big() -> str:
        seen.calls.append("big")
        return "B" * BIG_CHARS

    @server.tool(description="The server's process id.")
    def pid() -> str:
        return str(os.getpid())

    @server.tool(description="Ends the server's process in the middle of the call.")
    def exit() -> str:
        sys.stdout.flush()
        os._exit(3)

    return server


@asynccontextmanager
async def serve_http(events: ToolEvents, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """The server over streamable HTTP on 127.0.0.1 (on `sock`, bound and not listening, if
    given: a server coming back on its port); yields its endpoint URL."""
    from tests.fakes.serve import serve

    server = build_server(events)
    app = server.streamable_http_app()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def run() -> None:
        # One task enters and leaves the session manager (its task group insists), and
        # serve() runs apps without their lifespan: the manager is run here instead.
        try:
            async with server.session_manager.run(), serve(app, sock) as base:
                ready.set_result(f"{base}/mcp")
                await done.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    task = asyncio.create_task(run())
    try:
        yield await ready
    finally:
        done.set()
        await task


STDIO_SCRIPT = os.path.abspath(__file__)

if __name__ == "__main__":
    build_server().run("stdio")
