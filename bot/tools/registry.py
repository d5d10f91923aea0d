"""The MCP servers of MCP_SERVERS_FILE, their tools as models see them, and the policy that
says who is offered which: `admin_only`, `groups`, `allowed_tools`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.monitoring import Metrics
from bot.providers import ToolResult, ToolSpec
from bot.tools.config import ServerConfig
from bot.tools.connection import Connection, ServerDown, ServerStatus

if TYPE_CHECKING:
    from mcp_types import CallToolResult

log = logging.getLogger(__name__)

FIRST_CONNECT_S = 5.0  # how long a reply waits for an HTTP server's first connection
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
CUT_NOTE = "\n\n[Cut: the result had {total:,} characters; only the first {kept:,} are shown.]"


@dataclass(frozen=True, slots=True)
class OfferedTool:
    """A tool of one server, as offered to a model."""

    spec: ToolSpec
    server: str
    tool: str
    timeout_s: float


class ToolRegistry:
    """Starts and stops the servers, lists what a person may use, and makes the calls."""

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        timeout_s: float,
        result_max_chars: int,
        max_steps: int,
        metrics: Metrics | None = None,
        connect_timeout_s: float = 20.0,
    ) -> None:
        self.servers = list(servers)
        self.timeout_s = timeout_s
        self.result_max_chars = result_max_chars
        self.max_steps = max_steps
        self.metrics = metrics or Metrics()
        self.connect_timeout_s = connect_timeout_s
        self._connections = {
            s.name: Connection(s, connect_timeout_s=connect_timeout_s) for s in servers
        }

    @property
    def configured(self) -> bool:
        """Whether any server is configured."""
        return bool(self.servers)

    async def start(self) -> None:
        """Start the stdio servers and wait (bounded) for each one's first answer, so the
        first messages find their tools; HTTP servers wait for their first use."""
        stdio = [self._connections[s.name] for s in self.servers if s.command is not None]
        if stdio:
            await asyncio.gather(*(c.ensure(self.connect_timeout_s) for c in stdio))

    async def close(self) -> None:
        """Disconnect every server (stdio servers stop)."""
        await asyncio.gather(*(c.close() for c in self._connections.values()))

    def permits(self, server: ServerConfig, *, is_admin: bool, private: bool) -> bool:
        """Whether the server's tools are for this person in this chat."""
        return (is_admin or not server.admin_only) and (private or server.groups)

    async def offered(self, *, is_admin: bool, private: bool) -> list[OfferedTool]:
        """The tools of the servers that answer, for this person in this chat."""
        servers = [s for s in self.servers if self.permits(s, is_admin=is_admin, private=private)]
        await asyncio.gather(*(self._connections[s.name].ensure(FIRST_CONNECT_S) for s in servers))
        found: list[OfferedTool] = []
        names: set[str] = set()
        for server in servers:
            status = self._connections[server.name].status
            for tool in status.tools:
                if not server.allows(tool.name):
                    continue
                name = _exposed(server.name, tool.name, names)
                names.add(name)
                spec = ToolSpec(
                    name=name,
                    description=(tool.description or tool.title or tool.name)[:1024],
                    parameters=tool.input_schema or {"type": "object", "properties": {}},
                    title=f"{server.name}.{tool.name}",
                )
                timeout = server.timeout_s or self.timeout_s
                found.append(OfferedTool(spec, server.name, tool.name, timeout))
        return found

    def statuses(self) -> list[ServerStatus]:
        """Every server as it stands."""
        return [self._connections[s.name].status for s in self.servers]

    async def connect(self, name: str) -> ServerStatus:
        """Connect a server now if it is not (for `chatlink doctor`); its status after."""
        connection = self._connections[name]
        await connection.ensure(self.connect_timeout_s)
        return connection.status

    async def call(
        self, tool: OfferedTool, call_id: str, arguments: dict[str, Any], *, account_id: int
    ) -> ToolResult:
        """Call the tool; a failure or timeout is an error result for the model, never an
        exception (but a cancellation, /stop, goes through). Arguments and results are
        never logged: they may hold personal data."""
        started = time.perf_counter()
        outcome = "cancelled"
        try:
            from mcp.shared.exceptions import MCPError  # see connection.py

            try:
                result = await self._connections[tool.server].call(
                    tool.tool, arguments, tool.timeout_s
                )
            except TimeoutError:
                outcome = "timeout"
                return ToolResult(
                    call_id, f"The tool did not answer within {tool.timeout_s:g} s.", True
                )
            except ServerDown:
                outcome = "down"
                return ToolResult(call_id, "The tool's server is not available right now.", True)
            except MCPError as exc:
                outcome = "error"
                return ToolResult(call_id, f"The tool failed: {exc.error.message}", True)
            except Exception as exc:
                outcome = "error"
                return ToolResult(call_id, f"The tool failed ({type(exc).__name__}).", True)
            outcome = "error" if result.is_error else "ok"
            return ToolResult(call_id, self.bounded(result_text(result)), result.is_error)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.tool_calls.labels(tool.server, tool.tool, outcome).inc()
            self.metrics.tool_seconds.observe(seconds)
            log.info(
                "tool call: account_id=%s server=%s tool=%s outcome=%s ms=%.0f",
                account_id,
                tool.server,
                tool.tool,
                outcome,
                seconds * 1000,
            )

    def bounded(self, text: str) -> str:
        """At most TOOL_RESULT_MAX_CHARS of a result, with a note saying it was cut."""
        limit = self.result_max_chars
        if len(text) <= limit:
            return text
        return text[:limit] + CUT_NOTE.format(total=len(text), kept=limit)


def result_text(result: CallToolResult) -> str:
    from mcp_types import EmbeddedResource, ImageContent, TextContent  # see connection.py

    """A result's content as text: text blocks as they are, others named."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, ImageContent):
            parts.append(f"[an image, {block.mime_type}]")
        elif isinstance(block, EmbeddedResource):
            text = getattr(block.resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[a resource, {block.resource.uri}]")
        else:
            parts.append(f"[{getattr(block, 'type', 'content')}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def _exposed(server: str, tool: str, taken: set[str]) -> str:
    # Both APIs take [A-Za-z0-9_-]{1,64} as a tool's name.
    base = UNSAFE.sub("_", f"{server}_{tool}")[:64]
    name, n = base, 2
    while name in taken:
        suffix = f"_{n}"
        name, n = base[: 64 - len(suffix)] + suffix, n + 1
    return name
