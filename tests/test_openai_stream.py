"""The OpenAI-compatible stream read as plain JSON (bot/providers/openai_stream.py), through
the real SDK, against a server on 127.0.0.1 that writes the event stream byte for byte, the
ways servers other than OpenAI's write it too (comments, CRLF, data on two lines)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai import APIError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from bot.providers import ToolCall, ToolRequest, ToolSpec, Turn, Usage
from bot.providers.base import IncompleteReply
from bot.providers.openai_chat import OpenAIChatProvider
from bot.providers.openai_stream import MAX_LINE_BYTES, Events, LineTooLong
from tests.fakes.serve import serve


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    return json.dumps({**body, "choices": choices, **extra})


def event(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


class Scripted:
    """Answers every completion with the bytes given; keeps the request bodies."""

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.requests: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def completions(request: Request) -> StreamingResponse:
            self.requests.append(await request.json())

            async def stream() -> AsyncIterator[bytes]:
                for part in self.body:
                    yield part

            return StreamingResponse(stream(), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, OpenAIChatProvider]]:
    scripted = Scripted()
    async with serve(scripted.app()) as url:
        provider = OpenAIChatProvider(
            model="m",
            api_key="k",
            base_url=f"{url}/v1",
            system_prompt="Be brief.",
            temperature=0.2,
            max_tokens=100,
            timeout_s=5,
            max_retries=0,
        )
        yield scripted, provider
        await provider.close()


async def read(provider: OpenAIChatProvider, usage: Usage | None = None) -> list[str]:
    return [piece async for piece in provider.stream([Turn("user", "hi")], usage or Usage())]


async def test_text_and_usage_arrive_whatever_the_framing(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server
    usage = {"prompt_tokens": 1200, "completion_tokens": 3, "total_tokens": 1203}
    usage["prompt_tokens_details"] = {"cached_tokens": 1024}  # type: ignore[assignment]
    scripted.body = [
        b": keep-alive comment\n\n",
        event(chunk({"role": "assistant", "content": "Hel"})),
        f"data:{chunk({'content': 'lo'})}\r\n\r\n".encode(),  # no space, CRLF
        # one event whose JSON comes on two data lines (joined by a newline: still JSON)
        b'data: {"id": "c", "choices": [{"index": 0,\ndata: "delta": {"content": " you"}}]}\n\n',
        event(chunk({"content": None})),  # a null piece is no piece
        event(chunk({}, "stop")),
        event(chunk(None, usage=usage)),
        event("[DONE]"),
        event("this is after the end and never read"),
    ]
    counted = Usage()
    assert await read(provider, counted) == ["Hel", "lo", " you"]
    assert (counted.input_tokens, counted.output_tokens, counted.cache_read_tokens) == (
        1200,
        3,
        1024,
    )
    sent = scripted.requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


async def test_the_last_event_counts_without_its_blank_line(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server
    scripted.body = [event(chunk({"content": "Hi"})), f"data: {chunk({}, 'stop')}".encode()]
    assert await read(provider) == ["Hi"]


def test_events_are_the_same_however_the_bytes_are_split() -> None:
    """The network may cut the body anywhere: inside a line, between CR and LF, inside a
    character of several bytes."""
    whole = (
        b': comment\r\n\r\ndata: {"a": "h\xc3\xa9llo \xf0\x9f\x91\x8b"}\r\n\r\n'
        b"data:one\ndata: two\n\nevent: ping\n\ndata: last"
    )
    expected = ['{"a": "h\u00e9llo \U0001f44b"}', "one\ntwo", "last"]
    for cut in range(len(whole) + 1):
        events = Events()
        found = events.feed(whole[:cut]) + events.feed(whole[cut:]) + events.end()
        assert found == expected, cut
    events = Events()
    one_byte_each = [d for i in range(len(whole)) for d in events.feed(whole[i : i + 1])]
    assert one_byte_each + events.end() == expected


def test_a_line_past_the_limit_is_refused_before_it_is_all_kept() -> None:
    events = Events(max_line_bytes=10)
    assert events.feed(b"data: 1234\n\n") == ["1234"]
    with pytest.raises(LineTooLong):
        for _ in range(3):
            events.feed(b"data: 12")  # no line end in sight


async def test_a_body_written_a_byte_at_a_time_reads_the_same(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server
    whole = event(chunk({"content": "h\u00e9llo \U0001f44b"})) + event(chunk({}, "stop"))
    scripted.body = [whole[i : i + 1] for i in range(len(whole))]
    assert await read(provider) == ["h\u00e9llo \U0001f44b"]


async def test_a_line_too_long_fails_the_reply(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server
    scripted.body = [event(chunk({"content": "Hi"})), b"data: " + b"x" * (MAX_LINE_BYTES + 1)]
    with pytest.raises(APIError, match="server-sent line over"):
        await read(provider)


async def test_an_error_in_the_stream_is_an_api_error(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server
    error = {"message": "The server had an error", "type": "server_error"}
    scripted.body = [event(chunk({"content": "Hal"})), event(json.dumps({"error": error}))]
    pieces: list[str] = []
    with pytest.raises(APIError, match="The server had an error") as raised:
        async for piece in provider.stream([Turn("user", "hi")], Usage()):
            pieces.append(piece)
    assert pieces == ["Hal"] and raised.value.body == error


async def test_broken_json_fails_the_reply(server: tuple[Scripted, OpenAIChatProvider]) -> None:
    scripted, provider = server
    scripted.body = [event(chunk({"content": "Hi"})), event('{"choices": [')]
    with pytest.raises(ValueError):
        await read(provider)


async def test_odd_shapes_are_skipped_not_fatal(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server
    scripted.body = [
        event("[1, 2]"),  # not an object
        event(json.dumps({"choices": None})),
        event(json.dumps({"choices": ["x", {"delta": None}, {"delta": {"content": 5}}]})),
        event(chunk({"content": "ok"}, "stop")),
        event(chunk(None, usage={"prompt_tokens": "many", "completion_tokens": True})),
    ]
    usage = Usage()
    assert await read(provider, usage) == ["ok"]
    assert usage.total == 0  # counts that are not whole numbers are not counted


async def test_tool_calls_are_put_together_from_their_pieces(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server

    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    scripted.body = [
        event(chunk({"content": "Let me look."})),
        event(chunk(call(0, id="call_a", type="function", function={"name": "now"}))),
        event(chunk(call(1, id="call_b", type="function", function={"name": "convert"}))),
        event(chunk(call(0, function={"arguments": '{"tz": '}))),
        event(chunk(call(1, function={"arguments": "{}"}))),
        event(chunk(call(0, function={"arguments": '"UTC"}'}))),
        event(chunk({}, "tool_calls")),
    ]
    spec = ToolSpec("now", "The time.", {"type": "object"})
    request = ToolRequest(tools=[spec])
    got = [p async for p in provider.stream_tools([Turn("user", "time?")], request, Usage())]
    assert got == [
        "Let me look.",
        ToolCall("call_a", "now", {"tz": "UTC"}, '{"tz": "UTC"}'),
        ToolCall("call_b", "convert", {}, "{}"),
    ]
    assert scripted.requests[0]["tools"][0]["function"]["name"] == "now"


async def test_a_stream_without_a_finish_reason_is_not_a_reply(
    server: tuple[Scripted, OpenAIChatProvider],
) -> None:
    scripted, provider = server
    scripted.body = [event(chunk({"content": "Hal"})), event("[DONE]")]
    with pytest.raises(IncompleteReply):
        await read(provider)
