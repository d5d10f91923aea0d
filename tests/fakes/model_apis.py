"""Stand-ins for the OpenAI chat-completions and Anthropic Messages APIs, with SSE streaming.

Each request takes the next `Plan` from a queue (or the default one): answer a text, fail with
a status, stream slowly, hold the stream until the test lets it go, or cut the stream midway.
Requests are recorded with their bodies.

With a `PromptCache` (tests/fakes/prompt_cache.py) the usage is measured instead of fixed:
prompt tokens counted, and the cached ones reported as each API does.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.prompt_cache import PromptCache, count_tokens, marks_refused


@dataclass
class Plan:
    """What to do with one request."""

    text: str = "Hello from the model."
    status: int = 200
    first_token_delay: float = 0.0
    piece_delay: float = 0.0  # between two pieces
    headers_delay: float = 0.0  # before the response's headers
    cut_after: int | None = None  # chunks sent before the connection drops
    chunk_chars: int = 4
    no_end: bool = False  # the stream stops cleanly, without its closing events
    retry_after_s: float | None = None  # for errors: a Retry-After in seconds, as real servers
    error_code: str | None = None  # for errors: the OpenAI `code` / Anthropic error `type`
    hold: asyncio.Event | None = None  # after `hold_after` chunks, wait until this is set
    hold_after: int = 0
    held: int = 0  # streams waiting at the hold right now (several requests may share a plan)
    at_hold: asyncio.Event = field(default_factory=asyncio.Event)  # set when one reaches it


class StreamCut(Exception):
    """Raised inside the response body: the server drops the connection mid-stream."""


@dataclass
class FakeModel:
    """Shared state: the plans to follow and the requests seen. A request whose body holds
    the text of a `when` entry follows that entry's plan (every time), before the queue."""

    plans: list[Plan] = field(default_factory=list)
    default: Plan = field(default_factory=Plan)
    when: list[tuple[str, Plan]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    cache: PromptCache | None = None  # measured usage, with cached tokens, instead of fixed
    usages: list[dict[str, Any]] = field(default_factory=list)  # the usage each reply reported
    respond: Callable[[dict[str, Any]], Plan | None] | None = None  # asked first, per request

    def next_plan(self) -> Plan:
        return self.plans.pop(0) if self.plans else self.default

    async def _take(self, request: Request) -> tuple[dict[str, Any], Plan]:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        plan = self.respond(body) if self.respond is not None else None
        if plan is None:
            text = json.dumps(body)
            chosen = next((when for needle, when in self.when if needle in text), None)
            plan = chosen or self.next_plan()
        if plan.headers_delay:
            await asyncio.sleep(plan.headers_delay)
        return body, plan

    # --- OpenAI ---------------------------------------------------------------------------
    def openai_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    async def _models(self, request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "us"}]}
        )

    async def _openai(self, request: Request) -> Response:
        body, plan = await self._take(request)
        if (wrong := _bad_image_parts(body, "openai")) is not None:
            return JSONResponse({"error": {"message": wrong, "type": "invalid_request_error"}}, 400)
        if plan.status != 200:
            error = {"error": {"message": f"status {plan.status}", "type": "server_error"}}
            if plan.error_code is not None:
                error["error"]["code"] = plan.error_code
            return JSONResponse(error, plan.status, headers=_retry_headers(plan))
        if not body.get("stream"):
            return JSONResponse(_openai_completion(plan.text))
        usage = None if self.cache is None else self.cache.openai_usage(body, plan.text)
        if usage is not None:
            self.usages.append(usage)
        return StreamingResponse(self._openai_events(plan, usage), media_type="text/event-stream")

    async def _openai_events(
        self, plan: Plan, measured: dict[str, Any] | None = None
    ) -> AsyncIterator[bytes]:
        async for index, piece in _pieces(plan):
            delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
            yield _sse(_openai_chunk([{"index": 0, "finish_reason": None, "delta": delta}]))
        if plan.no_end:
            return
        yield _sse(_openai_chunk([{"index": 0, "finish_reason": "stop", "delta": {}}]))
        usage = measured or {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        yield _sse(_openai_chunk([], usage=usage))
        yield b"data: [DONE]\n\n"

    # --- Anthropic ------------------------------------------------------------------------
    def anthropic_app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self._anthropic, methods=["POST"])])

    async def _anthropic(self, request: Request) -> Response:
        body, plan = await self._take(request)
        if (wrong := _bad_image_parts(body, "anthropic")) is not None:
            error = {"type": "error", "error": {"type": "invalid_request_error", "message": wrong}}
            return JSONResponse(error, 400)
        if plan.status != 200:
            kind = plan.error_code or "api_error"
            error = {"type": "error", "error": {"type": kind, "message": "busy"}}
            return JSONResponse(error, plan.status, headers=_retry_headers(plan))
        refused = marks_refused(body)
        if refused is not None:
            error = {"type": "invalid_request_error", "message": refused}
            return JSONResponse({"type": "error", "error": error}, 400)
        usage = None if self.cache is None else self.cache.anthropic_usage(body)
        if usage is not None:
            self.usages.append(usage)
        return StreamingResponse(
            self._anthropic_events(plan, usage), media_type="text/event-stream"
        )

    async def _anthropic_events(
        self, plan: Plan, measured: dict[str, Any] | None = None
    ) -> AsyncIterator[bytes]:
        usage = {**(measured or {"input_tokens": 13}), "output_tokens": 1}
        message = {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "fake",
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage,
        }  # fmt: skip
        yield _event("message_start", message=message)
        yield _event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        async for _, piece in _pieces(plan):
            yield _event(
                "content_block_delta", index=0, delta={"type": "text_delta", "text": piece}
            )
        if plan.no_end:
            return
        yield _event("content_block_stop", index=0)
        stop = {"stop_reason": "end_turn", "stop_sequence": None}
        out = 9 if measured is None else count_tokens(plan.text)
        yield _event("message_delta", delta=stop, usage={"output_tokens": out})
        yield _event("message_stop")


async def _pieces(plan: Plan) -> AsyncIterator[tuple[int, str]]:
    if plan.first_token_delay:
        await asyncio.sleep(plan.first_token_delay)
    text = plan.text
    pieces = [text[i : i + plan.chunk_chars] for i in range(0, len(text), plan.chunk_chars)]
    for index, piece in enumerate(pieces):
        if plan.hold is not None and index == plan.hold_after:
            plan.held += 1
            plan.at_hold.set()
            try:
                await plan.hold.wait()
            finally:
                plan.held -= 1
        if plan.cut_after is not None and index >= plan.cut_after:
            raise StreamCut()
        yield index, piece
        await asyncio.sleep(plan.piece_delay)


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _retry_headers(plan: Plan) -> dict[str, str]:
    if plan.retry_after_s is not None:
        return {"retry-after": str(plan.retry_after_s)}
    return {"retry-after-ms": "10"}  # keeps the tests quick


def _event(kind: str, **fields: Any) -> bytes:
    return _sse({"type": kind, **fields}, kind)


def _openai_chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "fake"}
    return {**chunk, "choices": choices, **extra}


def _openai_completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }  # fmt: skip


IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def _bad_image_parts(body: dict[str, Any], api: str) -> str | None:
    """What the real API would refuse in a request's image parts (None: nothing): OpenAI
    `image_url` parts with a base64 data URL, Anthropic `image` blocks with a base64 source,
    of a type the API reads."""
    for message in body.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if api == "openai" and part.get("type") == "image_url":
                url = part.get("image_url", {}).get("url", "")
                header, _, data = url.partition(",")
                kind = header.removeprefix("data:").removesuffix(";base64")
                if not header.startswith("data:") or not header.endswith(";base64"):
                    return "image_url must be a base64 data URL here"
            elif api == "anthropic" and part.get("type") == "image":
                source = part.get("source", {})
                kind, data = source.get("media_type", ""), source.get("data", "")
                if source.get("type") != "base64":
                    return "image source must be base64"
            else:
                continue
            if message.get("role") != "user" or kind not in IMAGE_TYPES:
                return f"images go in user messages, as one of {sorted(IMAGE_TYPES)}"
            try:
                base64.b64decode(data, validate=True)
            except ValueError:
                return "image data is not valid base64"
    return None
