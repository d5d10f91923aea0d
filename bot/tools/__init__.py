"""Tools for the model through MCP servers: MCP_SERVERS_FILE, the servers kept connected,
the policy of who is offered what, and the loop of tool calls within one reply."""

from __future__ import annotations

from bot.tools.config import ServerConfig, load_servers
from bot.tools.connection import ServerStatus
from bot.tools.loop import run_tool_loop
from bot.tools.registry import OfferedTool, ToolRegistry

__all__ = [
    "OfferedTool",
    "ServerConfig",
    "ServerStatus",
    "ToolRegistry",
    "load_servers",
    "run_tool_loop",
]
