"""Request layouts that let the providers' prompt caches serve the stable prefix of a turn.

Both APIs cache a prompt by its exact prefix. Each turn chatlink sends, in this order: the system
prompt (LLM_SYSTEM_PROMPT, then the thread's persona and custom prompt), the thread's summary
(MEMORY_SUMMARY), then the history window, whose start moves in blocks
(bot/conversation/window.py). Nothing that changes from turn to turn (a date, a count) comes
before the history, so between two moves of the window each request begins with the whole of
the previous one, byte for byte.

- OpenAI-compatible servers cache prefixes by themselves (OpenAI: prompts of 1,024 tokens or
  more, matched in 128-token steps, reported as `prompt_tokens_details.cached_tokens`): the
  messages go as they are, system turns first.
- Anthropic caches only up to blocks marked `cache_control` (at most 4 per request). Marked
  here: the last two system blocks (the instructions, and the summary when there is one), the
  new user message (written for the next turn) and the user message before it, where the
  previous request ended (read from the cache that request wrote).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from anthropic.types import MessageParam, TextBlockParam
from anthropic.types import Usage as AnthropicUsage

from bot.providers.base import Usage

EPHEMERAL = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4  # what the Messages API accepts in one request
SYSTEM_BREAKPOINTS = 2


def anthropic_system(prompt: str, system_turns: Sequence[str]) -> list[TextBlockParam]:
    """The system prompt as text blocks (one per part, empty parts left out), the last two
    marked as cache breakpoints."""
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": text} for text in (prompt, *system_turns) if text.strip()
    ]
    for block in blocks[-SYSTEM_BREAKPOINTS:]:
        block["cache_control"] = dict(EPHEMERAL)
    return cast("list[TextBlockParam]", blocks)


def anthropic_messages(
    messages: Sequence[MessageParam], breakpoints: int = MAX_BREAKPOINTS - SYSTEM_BREAKPOINTS
) -> list[MessageParam]:
    """The messages with a cache breakpoint at the end of the last `breakpoints` user
    messages (a copy; the messages given are left as they are)."""
    marked: list[MessageParam] = list(messages)
    users = [i for i, m in enumerate(marked) if m["role"] == "user"]
    for index in users[len(users) - breakpoints :] if breakpoints > 0 else []:
        marked[index] = _with_breakpoint(marked[index])
    return marked


def _with_breakpoint(message: MessageParam) -> MessageParam:
    content = message["content"]
    blocks: list[dict[str, Any]]
    if isinstance(content, str):
        blocks = [{"type": "text", "text": content}]
    else:
        blocks = [dict(cast("dict[str, Any]", block)) for block in content]
    if not blocks:
        return message
    blocks[-1]["cache_control"] = dict(EPHEMERAL)
    return cast("MessageParam", {**message, "content": blocks})


def add_anthropic_usage(usage: Usage, reported: AnthropicUsage) -> None:
    """Add one response's tokens to `usage`, the cache's reads and writes apart."""
    read = reported.cache_read_input_tokens or 0
    written = reported.cache_creation_input_tokens or 0
    # `input_tokens` counts only what came after the last breakpoint.
    usage.input_tokens += reported.input_tokens + read + written
    usage.cache_read_tokens += read
    usage.cache_write_tokens += written
    usage.output_tokens += reported.output_tokens


def add_openai_usage(usage: Usage, reported: dict[str, Any] | None) -> None:
    """Add one streamed response's tokens (its last usage chunk, if any) to `usage`."""
    if not reported:
        return
    usage.input_tokens += _count(reported, "prompt_tokens")
    usage.output_tokens += _count(reported, "completion_tokens")
    details = reported.get("prompt_tokens_details")  # automatic prefix caching
    if isinstance(details, dict):
        usage.cache_read_tokens += _count(details, "cached_tokens")


def _count(counts: dict[str, Any], key: str) -> int:
    """A token count as reported, 0 when it is missing or not a whole number."""
    value = counts.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
