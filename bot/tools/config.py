"""MCP_SERVERS_FILE: the MCP servers whose tools models may call, in the usual client JSON.

`{"mcpServers": {"time": {"command": "mcp-server-time", "args": [], "env": {}},
"search": {"url": "https://example.org/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}}}}`
with `${VAR}` taken from the environment, and per server, optionally, `allowed_tools`,
`admin_only`, `groups` (offered in group chats too; default: private chats only) and
`timeout_s`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

# Tool names the model sees are `server_tool`, and both APIs want [A-Za-z0-9_-]{1,64}.
SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,23}")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FIELDS: dict[str, tuple[type, ...]] = {
    "command": (str,),
    "args": (list,),
    "env": (dict,),
    "cwd": (str,),
    "url": (str,),
    "headers": (dict,),
    "allowed_tools": (list,),
    "admin_only": (bool,),
    "groups": (bool,),
    "timeout_s": (int, float),
    # Left by other MCP clients' files; harmless here.
    "type": (str,),
    "transport": (str,),
    "disabled": (bool,),
}


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One server: a command to run (stdio) or a URL (streamable HTTP), and its policy."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    allowed_tools: frozenset[str] | None = None  # None: every tool the server lists
    admin_only: bool = False
    groups: bool = False
    timeout_s: float | None = None  # None: TOOL_TIMEOUT_S

    @property
    def transport(self) -> str:
        """ "stdio" or "http"."""
        return "stdio" if self.command is not None else "http"

    def allows(self, tool: str) -> bool:
        """Whether the operator lets the model see this tool of the server."""
        return self.allowed_tools is None or tool in self.allowed_tools


def expand(text: str, where: str, environ: Mapping[str, str]) -> str:
    """`${VAR}` replaced by the variable's value; ConfigError naming a variable not set."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(f"{where}: the variable {name} is not set")
        return environ[name]

    return VARIABLE.sub(value, text)


def load_servers(path: Path, environ: Mapping[str, str] | None = None) -> list[ServerConfig]:
    """Every server of the file, in its order; ConfigError naming the server and problem."""
    environ = os.environ if environ is None else environ
    setting = f"MCP_SERVERS_FILE {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{setting}: not UTF-8 text") from None
    except ValueError as exc:
        raise ConfigError(f"{setting}: bad JSON: {exc}") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f'{setting}: no "mcpServers" object')
    found = []
    for name, entry in servers.items():
        where = f"{setting}: server {name!r}"
        if not SERVER_NAME.fullmatch(name):
            raise ConfigError(f"{where}: a name is 1-24 characters of A-Z a-z 0-9 -")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be an object")
        if entry.get("disabled") is True:
            continue
        found.append(_server(name, entry, where, environ))
    return found


def _server(name: str, entry: dict[str, Any], where: str, env: Mapping[str, str]) -> ServerConfig:
    for key, value in entry.items():
        kinds = _FIELDS.get(key)
        if kinds is None:
            raise ConfigError(f"{where}: unknown field {key!r}")
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(f"{where}: {key} must be a {_kind(kinds[0])}")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ConfigError(f"{where}: give either command (stdio) or url (streamable HTTP)")
    if url is not None and not str(url).startswith(("http://", "https://")):
        raise ConfigError(f"{where}: url must start with http:// or https://")
    timeout = entry.get("timeout_s")
    if timeout is not None and not 0 < timeout <= 3600:
        raise ConfigError(f"{where}: timeout_s must be above 0 and at most 3600")
    return ServerConfig(
        name=name,
        command=None if command is None else expand(command, where, env),
        args=tuple(expand(_text(a, where, "args"), where, env) for a in entry.get("args", [])),
        env=_strings(entry.get("env", {}), where, "env", env),
        cwd=None if entry.get("cwd") is None else expand(entry["cwd"], where, env),
        url=None if url is None else expand(url, where, env),
        headers=_strings(entry.get("headers", {}), where, "headers", env),
        allowed_tools=(
            None
            if "allowed_tools" not in entry
            else frozenset(_text(t, where, "allowed_tools") for t in entry["allowed_tools"])
        ),
        admin_only=bool(entry.get("admin_only", False)),
        groups=bool(entry.get("groups", False)),
        timeout_s=None if timeout is None else float(timeout),
    )


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must hold strings only")
    return value


def _strings(
    values: dict[str, Any], where: str, key: str, env: Mapping[str, str]
) -> dict[str, str]:
    return {str(k): expand(_text(v, where, key), where, env) for k, v in values.items()}


def _kind(kind: type) -> str:
    return {"str": "string", "list": "list", "dict": "object", "bool": "boolean"}.get(
        kind.__name__, "number"
    )
