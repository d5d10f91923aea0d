"""A Telegram Bot API stand-in: form-encoded POSTs in, `{"ok": ..., "result": ...}` out.

It keeps a queue of updates for getUpdates (long polling with offset and timeout), records
every call the bot makes, and can be told to fail the next calls of a method with an HTTP
status (429 with retry_after, 500, 409 ...), as the real server does. sendMessage and
editMessageText check the text and its formatting as the real Bot API does and refuse what
it refuses with its 400 "Bad Request: can't parse entities" (see `telegram_checks`).
getFile answers as Telegram does (file_path and file_size; 400 "Bad Request: invalid file_id"
for an id it never gave, "file is too big" over the Bot API's 20 MB), and the files are served
under /file/bot<token>/<file_path>, each request recorded (`files.fetched`; see served_files).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.served_files import FileShelf
from tests.fakes.telegram_checks import problem

TOKEN = "123456:TEST-token-value"
BOT_ID = 999
BOT_USERNAME = "chatlink_bot"
GET_FILE_LIMIT = 20 * 1024 * 1024  # the cloud Bot API hands out files up to 20 MB


def me() -> dict[str, Any]:
    """The bot's own user, as getMe returns it."""
    return {
        "id": BOT_ID, "is_bot": True, "first_name": "Chatlink", "username": BOT_USERNAME,
        "can_join_groups": True, "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }  # fmt: skip


def sent_message(message_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """The Message that sendMessage returns for `text` sent into `chat_id`."""
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "g"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Chatlink", "username": BOT_USERNAME},
        "text": text,
    }


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    ok: bool = True


@dataclass
class FakeTelegram:
    """State of the stand-in server."""

    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _next_update_id: int = 1
    _next_message_id: int = 1000
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    files: FileShelf = field(default_factory=FileShelf)
    _file_ids: dict[str, str] = field(default_factory=dict)  # file_id -> file_path

    def app(self) -> Starlette:
        """The ASGI app serving /bot<token>/<method> and /file/bot<token>/<file_path>."""
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    # --- files -----------------------------------------------------------------------
    def add_file(
        self,
        data: bytes,
        *,
        stated: int | None = None,
        hang: bool = False,
        padding: int = 0,
        folder: str = "doc",
    ) -> dict[str, Any]:
        """Keep a file to serve (see served_files for `stated`, `hang`, `padding`); returns the
        fields a message's Document, Voice or PhotoSize carries for it (file_id,
        file_unique_id, file_size as stated)."""
        number = len(self._file_ids)
        file_id, path = f"AgAC-file-{number}", f"{folder}/file_{number}"
        self._file_ids[file_id] = path
        served = self.files.put(path, data, stated=stated, hang=hang, padding=padding)
        fields: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u{number}"}
        if served.stated is not None:
            fields["file_size"] = served.stated
        return fields

    def photo(self, *sizes: tuple[bytes, int, int, int | None]) -> list[dict[str, Any]]:
        """A message's `photo`: one PhotoSize per (bytes, width, height, stated size)."""
        return [
            {**self.add_file(data, stated=stated, folder="photos"), "width": w, "height": h}
            for data, w, h, stated in sizes
        ]

    def fetched(self, fields: dict[str, Any]) -> bool:
        """Whether the file of these fields was downloaded (requested at its file URL)."""
        return self._file_ids[fields["file_id"]] in self.files.fetched

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return PlainTextResponse("Not Found", 404)  # as Telegram answers a wrong token here
        return await self.files.respond(request.path_params["path"], request)

    # --- driving the bot -------------------------------------------------------------
    def user(self, user_id: int, first_name: str = "Alice") -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": first_name.lower(),
        }

    def message(
        self,
        text: str | None,
        user_id: int = 1001,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Alice",
        **extra: Any,
    ) -> dict[str, Any]:
        """A message update as Telegram would deliver it (not queued yet)."""
        chat_id = user_id if chat_id is None else chat_id
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = "Test group"
        self._next_message_id += 1
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id, first_name),
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0].encode("utf-16-le")) // 2
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"message": message}

    async def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        update = {"update_id": self._next_update_id, **update}
        self._next_update_id += 1
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return int(update["update_id"])

    async def say(self, text: str | None, **kwargs: Any) -> int:
        """Queue a message update."""
        return await self.push(self.message(text, **kwargs))

    def fail_next(
        self, method: str, status: int, *, description: str | None = None, **parameters: Any
    ) -> None:
        """Make the next call of `method` fail with `status` (and the Bot API's `description`)."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": description or f"Error {status}",
        }
        if parameters:
            body["parameters"] = parameters
        self.failures.setdefault(method, []).append((status, body))

    def sent(self, chat_id: int | None = None) -> list[str]:
        """Texts of the sendMessage calls that succeeded, optionally to one chat."""
        return [
            str(c.params["text"])
            for c in self.calls
            if c.method == "sendMessage"
            and c.ok
            and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]

    async def wait_sent(
        self, count: int, chat_id: int | None = None, within: float = 15
    ) -> list[str]:
        """Wait until `count` messages were sent (to `chat_id`), and return them."""
        deadline = time.monotonic() + within
        async with self._changed:
            while len(self.sent(chat_id)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} messages, got {self.sent(chat_id)}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return self.sent(chat_id)

    async def until(self, condition: Callable[[], bool], within: float = 15) -> bool:
        """Wait until `condition()` holds, checked at each call the bot makes; whether it did
        (the caller asserts, so its failure shows what was seen)."""
        deadline = time.monotonic() + within
        async with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def wait_calls(self, method: str, count: int, within: float = 15) -> list[Call]:
        """Wait until `method` was called `count` times, and return those calls."""
        deadline = time.monotonic() + within
        async with self._changed:
            while len(calls := [c for c in self.calls if c.method == method]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} {method} calls, got {len(calls)}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return calls

    def unconfirmed(self) -> list[int]:
        """Ids of the updates no getUpdates offset has confirmed (Telegram would send them
        again to the next process that polls)."""
        return [int(u["update_id"]) for u in self._updates]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    # --- the server --------------------------------------------------------------------
    async def _handle(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        method = request.path_params["method"]
        params = await _params(request)
        pending = self.failures.get(method)
        checked = method in ("sendMessage", "editMessageText") and not pending
        refused = problem(params) if checked else None
        async with self._changed:
            self.calls.append(Call(method, params, ok=not pending and not refused))
            self._changed.notify_all()
        if pending:
            status, body = pending.pop(0)
            return JSONResponse(body, status)
        if refused:
            return JSONResponse({"ok": False, "error_code": 400, "description": refused}, 400)
        handler = getattr(self, f"_{method}", None)
        result = await handler(params) if handler else True
        if isinstance(result, Response):
            self.calls[-1].ok = False
            return result  # the method's own refusal (getFile of an unknown file_id)
        return JSONResponse({"ok": True, "result": result})

    async def _getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return me()

    async def _getFile(self, params: dict[str, Any]) -> dict[str, Any] | JSONResponse:
        path = self._file_ids.get(str(params.get("file_id")))
        if path is None:
            return _bad_request("Bad Request: invalid file_id")
        served = self.files.files[path]
        if served.stated is not None and served.stated > GET_FILE_LIMIT:
            return _bad_request("Bad Request: file is too big")
        result: dict[str, Any] = {
            "file_id": params["file_id"], "file_unique_id": "u" + path.rsplit("_", 1)[-1],
            "file_path": path,
        }  # fmt: skip
        if served.stated is not None:
            result["file_size"] = served.stated
        return result

    async def _getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)
        deadline = time.monotonic() + timeout
        async with self._changed:
            if offset:  # as Telegram does: an offset confirms every update before it
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0:
                    return ready[: int(params.get("limit") or 100)]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def _sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        self._next_message_id += 1
        return sent_message(self._next_message_id, int(params["chat_id"]), params["text"])

    async def _editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        message = await self._sendMessage(params)
        return message | {"message_id": int(params["message_id"]), "edit_date": int(time.time())}

    def edits(self, chat_id: int | None = None) -> list[tuple[int, str]]:
        """(message id, text) of every successful edit, optionally in one chat."""
        return [
            (int(c.params["message_id"]), str(c.params["text"]))
            for c in self.calls
            if c.method == "editMessageText"
            and c.ok
            and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]


def _bad_request(description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": 400, "description": description}, 400)


async def _params(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        return dict(json.loads(body)) if body else {}
    form = await request.form()
    params: dict[str, Any] = {}
    for key, value in form.items():
        text = value if isinstance(value, str) else ""
        try:
            params[key] = json.loads(text) if text[:1] in "[{" else text
        except ValueError:
            params[key] = text
    return params
