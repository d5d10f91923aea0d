"""One MCP server kept connected: a stdio server is started and restarted when it dies (with
backoff, logged once per outage); a streamable HTTP server is connected on first use.

The SDK's `Client` is an async context held open by one keeper task per server (its task
groups must be entered and left in one task); calls from reply tasks go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.tools.config import ServerConfig

if TYPE_CHECKING:
    from mcp import Client
    from mcp_types import CallToolResult, Tool

# The SDK (and httpx2 for HTTP servers) is imported when a server is first used, not with
# this module: a bot with no TOOLS_FILE starts without it (about 0.5 s; benchmarks/startup.py).

log = logging.getLogger(__name__)

BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
WATCH_S = 0.5  # how often a connection is looked at for having closed under us
LIST_PAGES = 20
MAX_EVENT_BYTES = 32 * 1024 * 1024


class ServerDown(Exception):
    """The server is not connected right now."""


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What `chatlink doctor` and the registry read about a server."""

    name: str
    transport: str
    up: bool
    tried: bool  # whether a connection was attempted yet (HTTP servers connect on first use)
    tools: tuple[Tool, ...]
    error: str | None
    starts: int  # connections made so far: more than one means it was restarted


class Connection:
    """One server, connected by a keeper task: `status`, `ensure`, `call`, `close`."""

    def __init__(self, config: ServerConfig, *, connect_timeout_s: float = 20.0) -> None:
        self.config = config
        self.connect_timeout_s = connect_timeout_s
        self._client: Client | None = None
        self._tools: tuple[Tool, ...] = ()
        self._error: str | None = None
        self._starts = 0
        self._tried = False
        self._keeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._broken = False
        self._wake = asyncio.Event()  # stopping, or a call saw the connection close
        self._attempt = asyncio.Event()  # set after each attempt, whatever it gave

    @property
    def status(self) -> ServerStatus:
        """The server as it stands now."""
        return ServerStatus(
            self.config.name,
            self.config.transport,
            self._client is not None,
            self._tried,
            self._tools if self._client is not None else (),
            self._error,
            self._starts,
        )

    def start(self) -> None:
        """Start the keeper (once): it connects, and reconnects whenever the server goes."""
        if self._keeper is None and not self._stopping.is_set():
            self._keeper = asyncio.create_task(self._keep(), name=f"mcp:{self.config.name}")

    async def ensure(self, wait_s: float) -> bool:
        """Start the keeper if need be and wait up to `wait_s` for a first attempt; whether
        the server is connected now."""
        self.start()
        if self._client is None and not self._tried:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._attempt.wait()
        return self._client is not None

    async def call(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallToolResult:
        """Call a tool; ServerDown, TimeoutError or the SDK's errors when it fails."""
        import httpx2
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED

        client = self._client
        if client is None:
            raise ServerDown()
        try:
            async with asyncio.timeout(timeout_s):
                return await client.call_tool(tool, arguments)
        except TimeoutError:
            raise  # an OSError too, but the server may well be fine
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._reconnect()
                raise ServerDown() from None
            raise
        except (OSError, httpx2.TransportError):
            self._reconnect()
            raise ServerDown() from None

    def _reconnect(self) -> None:
        # The connection went under a call: the keeper reconnects now, not at its next look.
        self._broken = True
        self._wake.set()

    async def close(self) -> None:
        """Disconnect (stopping a stdio server) and end the keeper."""
        self._stopping.set()
        self._wake.set()
        keeper, self._keeper = self._keeper, None
        if keeper is None:
            return
        try:
            async with asyncio.timeout(10):
                await asyncio.shield(keeper)
        except TimeoutError:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                async with self._connected() as client:
                    self._tools = await _list_tools(client)
                    self._client, self._error = client, None
                    self._starts += 1
                    if failures:
                        log.info("MCP server %s is back after %d tries", self.config.name, failures)
                    else:
                        log.info(
                            "MCP server %s connected (%s, %d tools)",
                            self.config.name,
                            self.config.transport,
                            len(self._tools),
                        )
                    failures = 0
                    self._attempted()
                    await self._until_closed(client)
            except Exception as exc:
                self._error = _describe(exc)
            finally:
                self._client = None
            if self._stopping.is_set():
                break
            failures += 1
            if failures == 1:  # once per outage: the rest of the tries are quiet
                log.warning(
                    "MCP server %s is down (%s); its tools are left out until it answers, "
                    "trying again with backoff",
                    self.config.name,
                    self._error or "connection closed",
                )
            self._attempted()
            delay = BACKOFF_S[min(failures - 1, len(BACKOFF_S) - 1)]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    def _attempted(self) -> None:
        self._tried = True
        self._attempt.set()

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[Client]:
        import httpx2
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters, stdio_client
        from mcp.client.streamable_http import streamable_http_client

        config = self.config
        async with contextlib.AsyncExitStack() as stack:
            if config.command is not None:
                # The server's own chatter (which may quote arguments) is not our log.
                errlog = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
                params = StdioServerParameters(
                    command=config.command,
                    args=list(config.args),
                    env=dict(config.env) or None,
                    cwd=config.cwd,
                )
                transport: Any = stdio_client(params, errlog=errlog)
            else:
                assert config.url is not None
                http = await stack.enter_async_context(
                    httpx2.AsyncClient(
                        headers=dict(config.headers), timeout=httpx2.Timeout(30, read=300)
                    )
                )
                # Results are cut to TOOL_RESULT_MAX_CHARS later; the SDK's 1 MiB event cap
                # would fail a big one outright.
                transport = streamable_http_client(
                    config.url, http_client=http, max_sse_event_size=MAX_EVENT_BYTES
                )
            async with asyncio.timeout(self.connect_timeout_s):
                client = await stack.enter_async_context(Client(transport))
            yield client

    async def _until_closed(self, client: Client) -> None:
        self._broken = False
        while not self._stopping.is_set() and not self._broken and not _closed(client):
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_S):
                    await self._wake.wait()


async def _list_tools(client: Client) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            break
    return tuple(tools)


def _closed(client: Client) -> bool:
    # The SDK fails calls in flight with CONNECTION_CLOSED when the stream ends, but says
    # nothing to an idle client: its dispatcher's flag is the one sign (mcp 2.3).
    dispatcher = getattr(client.session, "_dispatcher", None)
    return bool(getattr(dispatcher, "_closed", False))


def _describe(exc: BaseException) -> str:
    from mcp.shared.exceptions import MCPError

    if isinstance(exc, BaseExceptionGroup):
        return _describe(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    if isinstance(exc, MCPError):  # "Connection closed": it exited, or spoke no MCP
        return f"MCP error: {exc.error.message[:120]}"
    return type(exc).__name__
