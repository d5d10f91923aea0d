"""MCP servers and tool-calling model stand-ins for the tools tests: the MCP_SERVERS_FILE and
MODELS_FILE that point chatlink at them."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.mcp_tools import STDIO_SCRIPT
from tests.fakes.serve import serve
from tests.fakes.tool_model import ToolModel
from tests.support.settings import make_settings

KEY_ENV = "TEST_TOOLS_ANTHROPIC_KEY"
BIN = Path(sys.executable).parent
# The official reference server, over stdio; its zone is fixed so the test needs no tzdata guess.
TIME_SERVER = {"command": str(BIN / "mcp-server-time"), "args": ["--local-timezone", "UTC"]}
# The tests' own server as a child process (pid, exit, echo ...).
STDIO_TOOLS = {"command": sys.executable, "args": [STDIO_SCRIPT]}


def models_toml(openai_url: str, anthropic_url: str) -> str:
    return f"""
[[models]]
name = "gpt"
provider = "openai"
model = "gpt-tools"
base_url = "{openai_url}/v1"
tools = true

[[models]]
name = "claude"
provider = "anthropic"
model = "claude-tools"
base_url = "{anthropic_url}"
api_key_env = "{KEY_ENV}"
tools = true

[[models]]
name = "plain"
provider = "openai"
model = "plain-1"
base_url = "{openai_url}/v1"
"""


class ToolModels:
    """Both tool-calling stand-ins, and the settings that use them with some MCP servers."""

    def __init__(self, tmp_path: Path, openai: ToolModel, anthropic: ToolModel) -> None:
        self.tmp_path = tmp_path
        self.openai = openai
        self.anthropic = anthropic
        self.models_file = tmp_path / "models.toml"
        self.servers_file = tmp_path / "mcp.json"

    def settings(self, servers: dict[str, Any], **extra: Any) -> Any:
        self.servers_file.write_text(json.dumps({"mcpServers": servers}))
        values: dict[str, Any] = {
            "models_file": str(self.models_file),
            "mcp_servers_file": str(self.servers_file),
            "llm_timeout_s": 10,
            "llm_max_retries": 0,
        }
        return make_settings(self.tmp_path, **(values | extra))


@asynccontextmanager
async def tool_models(tmp_path: Path) -> AsyncIterator[ToolModels]:
    """Both stand-ins on 127.0.0.1 (KEY_ENV must be set before the app opens)."""
    openai, anthropic = ToolModel(), ToolModel()
    async with serve(openai.openai_app()) as o_url, serve(anthropic.anthropic_app()) as a_url:
        found = ToolModels(tmp_path, openai, anthropic)
        found.models_file.write_text(models_toml(o_url, a_url))
        yield found


async def until(condition: Callable[[], bool], within: float = 60) -> None:
    """Wait until `condition()` holds (a server restarted, a process gone): what it watches
    is a child process and a keeper task's state, with no event to wait on."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
