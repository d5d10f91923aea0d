"""Tools on Anthropic's Messages API: `tools`, streamed `tool_use` blocks (input_json_delta),
and the results as `tool_result` blocks in the next user message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, cast

from anthropic import AsyncAnthropic, omit
from anthropic.types import MessageParam, TextBlockParam

from bot.providers.base import IncompleteReply, Turn, Usage
from bot.providers.prompt_cache import add_anthropic_usage
from bot.providers.tool_calls import ToolCall, ToolRequest, ToolRound, ToolSpec


class Messages(Protocol):
    """What a round needs of the provider (bot.providers.anthropic_messages, which imports
    this)."""

    client: AsyncAnthropic
    model: str
    max_tokens: int

    def request(
        self, history: Sequence[Turn]
    ) -> tuple[list[TextBlockParam], list[dict[str, Any]]]: ...


def tool_params(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """The `tools` parameter."""
    return [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]


def round_messages(rounds: Sequence[ToolRound]) -> list[dict[str, Any]]:
    """Each round as an assistant message (its text, its `tool_use` blocks), then a user
    message of `tool_result` blocks answering them: the turns keep alternating."""
    messages: list[dict[str, Any]] = []
    for done in rounds:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": done.text}] if done.text else []
        blocks += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments or {}}
            for c in done.calls
        ]
        messages.append({"role": "assistant", "content": blocks})
        results = [
            {
                "type": "tool_result",
                "tool_use_id": r.call_id,
                "content": r.content,
                "is_error": r.is_error,
            }
            for r in done.results
        ]
        messages.append({"role": "user", "content": results})
    return messages


async def stream_anthropic_tools(
    provider: Messages, history: Sequence[Turn], request: ToolRequest, usage: Usage
) -> AsyncIterator[str | ToolCall]:
    """Stream one round: text deltas as they come, then the `tool_use` blocks of the message."""
    system, messages = provider.request(history)
    messages += round_messages(request.rounds)
    extra: dict[str, Any] = {}
    if request.tools:
        extra["tools"] = tool_params(request.tools)
        if request.final:
            extra["tool_choice"] = {"type": "none"}
    async with provider.client.messages.stream(
        model=provider.model,
        system=system or omit,
        messages=cast("list[MessageParam]", messages),
        max_tokens=provider.max_tokens,
        **extra,
    ) as events:
        async for event in events:
            if event.type == "text":
                yield event.text
        final = await events.get_final_message()
    add_anthropic_usage(usage, final.usage)
    if final.stop_reason is None:
        raise IncompleteReply()
    for block in final.content:
        if block.type == "tool_use":
            arguments = block.input if isinstance(block.input, dict) else None
            yield ToolCall(block.id, block.name, arguments, json.dumps(block.input))
