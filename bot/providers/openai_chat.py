"""OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from bot.providers.base import IncompleteReply, Turn, Usage
from bot.providers.content import openai_content
from bot.providers.openai_client import OpenAIClient, openai_client
from bot.providers.openai_stream import choices, delta, stream_chunks
from bot.providers.openai_tools import stream_openai_tools
from bot.providers.prompt_cache import add_openai_usage
from bot.providers.tool_calls import ToolCall, ToolRequest


class OpenAIChatProvider:
    """Streams `chat.completions` through `OpenAIClient` (the official SDK's client; the
    streamed request goes over aiohttp with the SDK's retries of 429/5xx/timeouts)."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None,
        system_prompt: str,
        temperature: float,
        max_tokens: int,
        timeout_s: float,
        max_retries: int,
        client: OpenAIClient | None = None,
    ) -> None:
        # A client passed in is shared by several models of one server, and closed by its owner.
        self._owns_client = client is None
        self.client = client or openai_client(api_key, base_url, timeout_s, max_retries)
        self.model = model
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens

    async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        """Yield content deltas; the final chunk's usage (when sent) goes into `usage`.

        System turns first, then the history: the layout that keeps the prefix identical
        from turn to turn, for servers that cache prompt prefixes (see prompt_cache)."""
        finished = False
        reported = None  # the usage chunk (the last one wins, should a server send several)
        async for chunk in stream_chunks(
            self.client,
            model=self.model,
            messages=self.messages(history),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            stream_options={"include_usage": True},
        ):
            reported = chunk.get("usage") or reported
            for choice in choices(chunk):
                content = delta(choice).get("content")
                if isinstance(content, str) and content:
                    yield content
                finished = finished or choice.get("finish_reason") is not None
        add_openai_usage(usage, reported)
        if not finished:  # the connection closed early but cleanly: not a whole reply
            raise IncompleteReply()

    def messages(self, history: Sequence[Turn]) -> list[dict[str, Any]]:
        """The request's messages: the base prompt, then the history."""
        turns = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return turns + [{"role": t.role, "content": openai_content(t)} for t in history]

    def stream_tools(
        self, history: Sequence[Turn], request: ToolRequest, usage: Usage
    ) -> AsyncIterator[str | ToolCall]:
        """One round with tools offered (see `openai_tools`)."""
        return stream_openai_tools(self, history, request, usage)

    async def check(self) -> str:
        """List the server's models; the configured one should be among them."""
        models = [m.id async for m in self.client.models.list()]
        if models and self.model not in models:
            raise LookupError(f"{self.model} is not among the server's models")
        return f"openai-compatible, model {self.model}"

    async def close(self) -> None:
        """Close the SDK's connection pool (unless it is shared)."""
        if self._owns_client:
            await self.client.close()
