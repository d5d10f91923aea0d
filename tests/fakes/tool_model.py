"""OpenAI- and Anthropic-style stand-ins whose model calls tools, following a script.

Each request takes the next `Step` (or `default`): ask for tool calls, streamed as the real
APIs stream them (OpenAI `tool_calls` deltas with the arguments in pieces; Anthropic
`tool_use` blocks with `input_json_delta`), or answer a text, where `{result}` stands for the
content of the last tool result the request carried. Requests are checked the way the real
services check them (a tool result answers a call of the message before; a call's name is one
of the tools offered, or the API says 400) and recorded.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.model_apis import _event, _openai_chunk, _sse

TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
PIECE = 7  # characters of the arguments' JSON per delta


@dataclass
class Step:
    """One model turn: `calls` (name, arguments) to ask for, with `text` before them; or,
    with no calls, the final `text`."""

    text: str = "Done: {result}"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def call(name: str, arguments: dict[str, Any] | None = None, text: str = "") -> Step:
    """A step asking for one tool call."""
    return Step(text=text, calls=[(name, arguments or {})])


@dataclass
class ToolModel:
    """The script, the requests seen, and the protocol errors answered with 400."""

    steps: list[Step] = field(default_factory=list)
    default: Step = field(default_factory=Step)
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # Some OpenAI-compatible servers (local ones) ignore tool_choice "none": False plays one.
    obeys_tool_choice: bool = True
    _ids: int = 0

    def _next(self) -> Step:
        return self.steps.pop(0) if self.steps else self.default

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:04d}"

    def _refuse(self, why: str, anthropic: bool = False) -> Response:
        self.refused.append(why)
        error: dict[str, Any] = {"error": {"message": why, "type": "invalid_request_error"}}
        if anthropic:
            error = {"type": "error", "error": {"type": "invalid_request_error", "message": why}}
        return JSONResponse(error, 400)

    # --- OpenAI ---------------------------------------------------------------------------
    def openai_app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._openai, methods=["POST"])])

    async def _openai(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        problem = openai_problem(body)
        if problem:
            return self._refuse(problem)
        step = self._next()
        # The model may name a tool it was not offered (they do): chatlink must cope.
        if body.get("tool_choice") == "none" and step.calls and self.obeys_tool_choice:
            step = Step(text="(no tools allowed, so:) " + step.text)
        result = last_openai_result(body)
        return StreamingResponse(self._openai_events(step, result), media_type="text/event-stream")

    async def _openai_events(self, step: Step, result: str) -> AsyncIterator[bytes]:
        text = step.text.replace("{result}", result)
        first = {"role": "assistant", "content": ""}
        yield _sse(_openai_chunk([{"index": 0, "finish_reason": None, "delta": first}]))
        for start in range(0, len(text), 5):
            delta = {"content": text[start : start + 5]}
            yield _sse(_openai_chunk([{"index": 0, "finish_reason": None, "delta": delta}]))
        for index, (name, arguments) in enumerate(step.calls):
            opening = {"index": index, "id": self._id("call_"), "type": "function",
                       "function": {"name": name, "arguments": ""}}  # fmt: skip
            delta = {"tool_calls": [opening]}
            yield _sse(_openai_chunk([{"index": 0, "finish_reason": None, "delta": delta}]))
            raw = json.dumps(arguments)
            for start in range(0, len(raw), PIECE):
                piece = {"index": index, "function": {"arguments": raw[start : start + PIECE]}}
                delta = {"tool_calls": [piece]}
                yield _sse(_openai_chunk([{"index": 0, "finish_reason": None, "delta": delta}]))
        finish = "tool_calls" if step.calls else "stop"
        yield _sse(_openai_chunk([{"index": 0, "finish_reason": finish, "delta": {}}]))
        usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        yield _sse(_openai_chunk([], usage=usage))
        yield b"data: [DONE]\n\n"

    # --- Anthropic ------------------------------------------------------------------------
    def anthropic_app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self._anthropic, methods=["POST"])])

    async def _anthropic(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        problem = anthropic_problem(body)
        if problem:
            return self._refuse(problem, anthropic=True)
        step = self._next()
        if body.get("tool_choice", {}).get("type") == "none" and step.calls:
            step = Step(text="(no tools allowed, so:) " + step.text)
        result = last_anthropic_result(body)
        events = self._anthropic_events(step, result)
        return StreamingResponse(events, media_type="text/event-stream")

    async def _anthropic_events(self, step: Step, result: str) -> AsyncIterator[bytes]:
        message = {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "fake",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 1},
        }  # fmt: skip
        yield _event("message_start", message=message)
        index = 0
        text = step.text.replace("{result}", result)
        if text:
            block = {"type": "text", "text": ""}
            yield _event("content_block_start", index=index, content_block=block)
            for start in range(0, len(text), 5):
                delta = {"type": "text_delta", "text": text[start : start + 5]}
                yield _event("content_block_delta", index=index, delta=delta)
            yield _event("content_block_stop", index=index)
            index += 1
        for name, arguments in step.calls:
            block = {"type": "tool_use", "id": self._id("toolu_"), "name": name, "input": {}}
            yield _event("content_block_start", index=index, content_block=block)
            raw = json.dumps(arguments)
            for start in range(0, len(raw), PIECE):
                delta = {"type": "input_json_delta", "partial_json": raw[start : start + PIECE]}
                yield _event("content_block_delta", index=index, delta=delta)
            yield _event("content_block_stop", index=index)
            index += 1
        stop = {"stop_reason": "tool_use" if step.calls else "end_turn", "stop_sequence": None}
        yield _event("message_delta", delta=stop, usage={"output_tokens": 12})
        yield _event("message_stop")


def openai_problem(body: dict[str, Any]) -> str | None:
    """What the real API would refuse in these messages and tools, if anything."""
    for tool in body.get("tools", []):
        if tool.get("type") != "function" or not TOOL_NAME.fullmatch(tool["function"]["name"]):
            return "tools: each needs type function and a name of [A-Za-z0-9_-]{1,64}"
    pending: set[str] = set()
    for message in body["messages"]:
        if message["role"] == "tool":
            if message.get("tool_call_id") not in pending:
                return "messages with role 'tool' must answer a preceding 'tool_calls'"
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            return "an assistant message with 'tool_calls' must be followed by tool messages"
        if message["role"] == "assistant" and message.get("tool_calls"):
            if not body.get("tools"):
                return "tool_calls in the messages need tools in the request"
            pending = {c["id"] for c in message["tool_calls"]}
    return "tool calls left unanswered" if pending else None


def anthropic_problem(body: dict[str, Any]) -> str | None:
    """What the real API would refuse in these messages and tools, if anything."""
    for tool in body.get("tools", []):
        if not TOOL_NAME.fullmatch(tool["name"]) or "input_schema" not in tool:
            return "tools: each needs a name of [A-Za-z0-9_-]{1,64} and an input_schema"
    roles = [m["role"] for m in body["messages"]]
    if not roles or roles[0] != "user" or any(a == b for a, b in itertools.pairwise(roles)):
        return "messages: roles must alternate, starting with user"
    uses: set[str] = set()
    for message in body["messages"]:
        blocks = message["content"] if isinstance(message["content"], list) else []
        results = {b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"}
        if (uses or results) and results != uses:
            return "each tool_use must be answered by a tool_result in the next message"
        uses = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        if (uses or results) and not body.get("tools"):
            return "requests which include tool_use or tool_result blocks must define tools"
    return "tool_use left unanswered" if uses else None


def last_openai_result(body: dict[str, Any]) -> str:
    tools = [m for m in body["messages"] if m["role"] == "tool"]
    return str(tools[-1]["content"]) if tools else ""


def last_anthropic_result(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if isinstance(message["content"], list):
            for block in message["content"]:
                if block.get("type") == "tool_result":
                    content = block["content"]
                    return content if isinstance(content, str) else json.dumps(content)
    return ""


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results a request carried, in either API's form: content and is_error."""
    found = []
    for message in body["messages"]:
        if message["role"] == "tool":
            content = message["content"]
            found.append({"content": content, "is_error": content.startswith("Error:")})
        elif isinstance(message["content"], list):
            for block in message["content"]:
                if block.get("type") == "tool_result":
                    found.append({"content": block["content"], "is_error": block["is_error"]})
    return found
