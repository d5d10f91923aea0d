"""What a provider needs to offer tools to its model and hand back what they answered.

A reply with tools is a few rounds: the model writes (maybe) some text and asks for tool
calls; the calls' results go back with the next request. Each provider turns `ToolRound`s
into its API's native form (OpenAI `tool_calls` and `role: "tool"` messages, Anthropic
`tool_use` and `tool_result` blocks); the rounds live for one reply only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.providers.base import Turn, Usage


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as the model sees it: a name the APIs accept, a description, a JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]
    title: str = ""  # what people read: "time.get_current_time"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for. `arguments` is None when its JSON did not parse."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str = "{}"

    @classmethod
    def parsed(cls, id: str, name: str, raw: str) -> ToolCall:
        """A call from the arguments' JSON text as the model streamed it."""
        try:
            value = json.loads(raw or "{}")
        except ValueError:
            return cls(id, name, None, raw)
        return cls(id, name, value if isinstance(value, dict) else None, raw)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call gave back (text), or why it failed (`is_error`)."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ToolRound:
    """One round of a reply: the model's text and calls, then the calls' results."""

    text: str
    calls: tuple[ToolCall, ...]
    results: tuple[ToolResult, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """The tools offered for one model request; `final` forbids calling them (the last round)."""

    tools: Sequence[ToolSpec]
    rounds: Sequence[ToolRound] = ()
    final: bool = False


@runtime_checkable
class ToolingProvider(Protocol):
    """A provider whose model can call tools."""

    name: str

    def stream_tools(
        self, history: Sequence[Turn], request: ToolRequest, usage: Usage
    ) -> AsyncIterator[str | ToolCall]:
        """Yield text pieces, then the tool calls the model asked for (none: it is done)."""
        ...
