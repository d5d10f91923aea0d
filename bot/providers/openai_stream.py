"""A streamed chat completion read as plain JSON, without the SDK's models.

The request goes out through `OpenAIClient.stream_chat` (the SDK's headers, retries and
errors, over aiohttp). The SDK's `AsyncStream` would build a pydantic object for every chunk
(`construct_type`), which measured about 0.4 ms of CPU per chunk here: 16 ms of the 28 ms
the server spent on a 40-piece reply (benchmarks/streaming.py). A chunk is read here with
`json.loads` and handed on as the dict it is; what the SDK checks while reading (an `error`
object in the stream, `[DONE]`) is checked here the same way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from openai import APIError

from bot.providers.openai_client import OpenAIClient

DONE = "[DONE]"
STREAM_ERROR = "An error occurred during streaming"


async def stream_chunks(
    client: OpenAIClient, *, model: str, **body: Any
) -> AsyncIterator[dict[str, Any]]:
    """Each chunk of `chat.completions.create(model=..., stream=True, **body)` as a dict,
    in order. The body (messages, tools, options) is already JSON as the API takes it."""
    async with client.stream_chat({"model": model, "stream": True, **body}) as lines:
        async for data in sse_data(lines):
            if data.startswith(DONE):
                break
            chunk = json.loads(data)
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise APIError(
                    message if isinstance(message, str) and message else STREAM_ERROR,
                    client.chat_request,
                    body=error,
                )
            yield chunk


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each server-sent event: its `data:` lines joined by newlines.

    As the SSE format has it: an empty line ends an event, a line starting with `:` is a
    comment, one space after the field's colon is not part of the value, and an event with
    no data is not dispatched."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a stream that ends without the last empty line
        yield "\n".join(data)


def choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunk's choices that are objects (a missing or null list is none)."""
    found = chunk.get("choices")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def delta(choice: dict[str, Any]) -> dict[str, Any]:
    """The choice's delta (an empty one when it has none)."""
    found = choice.get("delta")
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of one tool call: which call (`index`), and what this chunk adds to it."""

    index: int
    id: str
    name: str
    arguments: str


def tool_call_deltas(change: dict[str, Any]) -> list[ToolCallDelta]:
    """The delta's `tool_calls` pieces (the id and name come once, the arguments in parts)."""
    found = change.get("tool_calls")
    pieces: list[ToolCallDelta] = []
    for part in found if isinstance(found, list) else ():
        if not isinstance(part, dict):
            continue
        function = part.get("function")
        function = function if isinstance(function, dict) else {}
        index = part.get("index")
        pieces.append(
            ToolCallDelta(
                index=index if isinstance(index, int) else 0,
                id=_text(part.get("id")),
                name=_text(function.get("name")),
                arguments=_text(function.get("arguments")),
            )
        )
    return pieces


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
