"""Tools on OpenAI-compatible chat completions: `tools`, streamed `tool_calls` deltas, and
the results as `role: "tool"` messages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from bot.providers.base import IncompleteReply, Turn, Usage
from bot.providers.openai_client import OpenAIClient
from bot.providers.openai_stream import choices, delta, stream_chunks, tool_call_deltas
from bot.providers.prompt_cache import add_openai_usage
from bot.providers.tool_calls import ToolCall, ToolRequest, ToolRound, ToolSpec


class Chat(Protocol):
    """What a round needs of the provider (bot.providers.openai_chat, which imports this)."""

    client: OpenAIClient
    model: str
    temperature: float
    max_tokens: int

    def messages(self, history: Sequence[Turn]) -> list[dict[str, Any]]: ...


def tool_params(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """The `tools` parameter: one function each."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def round_messages(rounds: Sequence[ToolRound]) -> list[dict[str, Any]]:
    """Each round as the assistant's message with its `tool_calls`, then one tool message
    per call, answering its id."""
    messages: list[dict[str, Any]] = []
    for done in rounds:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.raw_arguments},
            }
            for c in done.calls
        ]
        messages.append({"role": "assistant", "content": done.text or None, "tool_calls": calls})
        for result in done.results:
            content = f"Error: {result.content}" if result.is_error else result.content
            messages.append({"role": "tool", "tool_call_id": result.call_id, "content": content})
    return messages


async def stream_openai_tools(
    provider: Chat, history: Sequence[Turn], request: ToolRequest, usage: Usage
) -> AsyncIterator[str | ToolCall]:
    """Stream one round: text deltas as they come, then the calls assembled from their deltas."""
    turns = provider.messages(history) + round_messages(request.rounds)
    extra: dict[str, Any] = {}
    if request.tools:
        extra["tools"] = tool_params(request.tools)
        if request.final:
            extra["tool_choice"] = "none"
    finished = False
    calls: dict[int, list[str]] = {}  # by index: id, name, the arguments' JSON so far
    reported = None  # the round's usage chunk
    async for chunk in stream_chunks(
        provider.client,
        model=provider.model,
        messages=turns,
        temperature=provider.temperature,
        max_tokens=provider.max_tokens,
        stream_options={"include_usage": True},
        **extra,
    ):
        reported = chunk.get("usage") or reported
        for choice in choices(chunk):
            change = delta(choice)
            content = change.get("content")
            if isinstance(content, str) and content:
                yield content
            for part in tool_call_deltas(change):
                call = calls.setdefault(part.index, ["", "", ""])
                call[0] = part.id or call[0]
                call[1] += part.name
                call[2] += part.arguments
            finished = finished or choice.get("finish_reason") is not None
    add_openai_usage(usage, reported)
    if not finished:
        raise IncompleteReply()
    for index in sorted(calls):
        call_id, name, raw = calls[index]
        yield ToolCall.parsed(call_id or f"call_{index}", name, raw)
