"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from anthropic import AsyncAnthropic, omit
from anthropic.types import MessageParam, TextBlockParam

from bot.providers.anthropic_tools import stream_anthropic_tools
from bot.providers.base import IncompleteReply, Turn, Usage
from bot.providers.content import anthropic_content
from bot.providers.prompt_cache import add_anthropic_usage, anthropic_messages, anthropic_system
from bot.providers.tool_calls import ToolCall, ToolRequest


class AnthropicProvider:
    """Streams `messages.stream` text deltas; the SDK retries 429/5xx/timeouts itself.

    The Messages API of the anthropic SDK 2.x takes no sampling temperature, so
    LLM_TEMPERATURE applies to OpenAI-compatible servers only.
    """

    name = "anthropic"

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None,
        system_prompt: str,
        max_tokens: int,
        timeout_s: float,
        max_retries: int,
        client: AsyncAnthropic | None = None,
    ) -> None:
        # A client passed in is shared by several models of one server, and closed by its owner.
        self._owns_client = client is None
        self.client = client or AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )
        self.model = model
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens

    async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        """Yield text deltas; input and output tokens go into `usage`."""
        system, turns = self.request(history)
        messages = cast("list[MessageParam]", turns)
        async with self.client.messages.stream(
            model=self.model,
            system=system or omit,
            messages=messages,
            max_tokens=self.max_tokens,
        ) as events:
            async for text in events.text_stream:
                yield text
            final = await events.get_final_message()
            add_anthropic_usage(usage, final.usage)
            if final.stop_reason is None:  # ended without message_delta/message_stop
                raise IncompleteReply()

    def request(self, history: Sequence[Turn]) -> tuple[list[TextBlockParam], list[dict[str, Any]]]:
        """The system blocks and the messages for `history`, with prompt-cache breakpoints."""
        # System turns (persona, a conversation summary) join the system prompt: the Messages
        # API takes instructions there, not among the messages.
        system = anthropic_system(
            self.system_prompt, [t.content for t in history if t.role == "system"]
        )
        turns = cast(
            "list[MessageParam]",
            [{"role": t.role, "content": anthropic_content(t)} for t in _alternating(history)],
        )
        # cache breakpoints: see prompt_cache
        return system, cast("list[dict[str, Any]]", anthropic_messages(turns))

    def stream_tools(
        self, history: Sequence[Turn], request: ToolRequest, usage: Usage
    ) -> AsyncIterator[str | ToolCall]:
        """One round with tools offered (see `anthropic_tools`)."""
        return stream_anthropic_tools(self, history, request, usage)

    async def check(self) -> str:
        """Ask for one token: proves the key, the address and the model together."""
        await self.client.messages.create(
            model=self.model, max_tokens=1, messages=[{"role": "user", "content": "ping"}]
        )
        return f"anthropic, model {self.model}"

    async def close(self) -> None:
        """Close the SDK's connection pool (unless it is shared)."""
        if self._owns_client:
            await self.client.close()


def _alternating(history: Sequence[Turn]) -> list[Turn]:
    # The Messages API wants user/assistant turns alternating and starting with the user:
    # merge neighbours of one role (a reply lost to a model failure leaves two user turns).
    merged: list[Turn] = []
    for turn in (t for t in history if t.role != "system"):
        if merged and merged[-1].role == turn.role:
            previous = merged[-1]
            content = "\n\n".join(c for c in (previous.content, turn.content) if c)
            merged[-1] = Turn(turn.role, content, previous.images + turn.images)
        else:
            merged.append(turn)
    while merged and merged[0].role != "user":
        merged.pop(0)
    return merged
