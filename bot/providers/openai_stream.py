"""A streamed chat completion read as plain JSON, without the SDK's models.

The request goes out through `OpenAIClient.stream_chat` (the SDK's headers, retries and
errors, over aiohttp). The SDK's `AsyncStream` would build a pydantic object for every chunk
(`construct_type`), which measured about 0.4 ms of CPU per chunk here: 16 ms of the 28 ms
the server spent on a 40-piece reply (benchmarks/streaming.py). A chunk is read here with
`json.loads` and handed on as the dict it is; what the SDK checks while reading (an `error`
object in the stream, `[DONE]`) is checked here the same way. The events are cut from the
body as it arrives (`Events`): one wake-up of the reply for whatever came meanwhile, where
reading line by line woke it two or three times an event.
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
# The longest server-sent line read (one event's JSON, a few hundred bytes as a rule).
MAX_LINE_BYTES = 4 * 1024 * 1024


async def stream_chunks(
    client: OpenAIClient, *, model: str, **body: Any
) -> AsyncIterator[dict[str, Any]]:
    """Each chunk of `chat.completions.create(model=..., stream=True, **body)` as a dict,
    in order. The body (messages, tools, options) is already JSON as the API takes it."""
    async with client.stream_chat({"model": model, "stream": True, **body}) as received:
        try:
            async for data in sse_data(received):
                if data.startswith(DONE):
                    break
                chunk = json.loads(data)
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("error"):
                    raise _stream_error(chunk["error"], client)
                yield chunk
        except LineTooLong as error:
            raise APIError(str(error), client.chat_request, body=None) from None


def _stream_error(error: object, client: OpenAIClient) -> APIError:
    """An `error` object sent in the stream, as the SDK raises it."""
    message = error.get("message") if isinstance(error, dict) else None
    return APIError(
        message if isinstance(message, str) and message else STREAM_ERROR,
        client.chat_request,
        body=error,
    )


async def sse_data(received: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The data of each server-sent event in a body that arrives in pieces (see Events)."""
    events = Events()
    async for piece in received:
        for data in events.feed(piece):
            yield data
    for data in events.end():
        yield data


class LineTooLong(ValueError):
    """The server sent a line longer than the reader takes."""


class Events:
    """Server-sent events decoded from a stream's bytes, however they are split.

    As the SSE format has it: a line ends with LF (a CR before it is dropped), an empty line
    ends an event, a line starting with `:` is a comment, one space after the field's colon
    is not part of the value, an event's `data:` lines are joined by newlines, and an event
    with no data is not dispatched. A line longer than MAX_LINE_BYTES is LineTooLong."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._begun: list[bytes] = []  # the line begun, its end not arrived yet
        self._begun_bytes = 0
        self._data: list[str] = []  # the event's data lines so far

    def feed(self, piece: bytes) -> list[str]:
        """The data of the events this piece completes."""
        *ended, rest = piece.split(b"\n")
        if ended and self._begun:
            ended[0] = b"".join([*self._begun, ended[0]])
            self._begun, self._begun_bytes = [], 0
        if rest:
            self._begun.append(rest)
            self._begun_bytes += len(rest)
            if self._begun_bytes > self.max_line_bytes:
                raise LineTooLong(f"a server-sent line over {self.max_line_bytes:,} bytes")
        found: list[str] = []
        for line in ended:
            self._line(line, found)
        return found

    def end(self) -> list[str]:
        """The data of the event the stream ended in, without its last empty line."""
        found: list[str] = []
        if self._begun:
            self._line(b"".join(self._begun), found)
            self._begun, self._begun_bytes = [], 0
        self._line(b"", found)
        return found

    def _line(self, line: bytes, found: list[str]) -> None:
        text = line.rstrip(b"\r").decode()
        if not text:
            if self._data:
                found.append("\n".join(self._data))
                self._data = []
            return
        field, _, value = text.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)


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
