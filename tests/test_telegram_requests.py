"""The door's Bot API requests over aiohttp (adapters/telegram_bot/requests.py), driven by
python-telegram-bot's own Bot against a server on 127.0.0.1 that answers as the Bot API does
and reads each request the way Telegram does: form fields, or multipart with files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from adapters.telegram_bot.requests import BotApiRequest
from tests.fakes.forward_proxy import ForwardProxy
from tests.fakes.serve import refusing_port, serve
from tests.fakes.telegram_api import TOKEN, me, sent_message


class Seen:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.delay_s = 0.0

    def app(self) -> Starlette:
        async def method(request: Request) -> JSONResponse:
            name = request.path_params["method"]
            fields: dict[str, Any] = {}
            async with request.form() as form:
                for key, value in form.multi_items():
                    fields[key] = value if isinstance(value, str) else await value.read()
            self.calls.append((name, request.headers.get("content-type", ""), fields))
            await asyncio.sleep(self.delay_s)
            if name == "getMe":
                return JSONResponse({"ok": True, "result": me()})
            if name == "sendMessage" and not fields.get("text"):
                error = {"ok": False, "error_code": 400, "description": "Bad Request: empty"}
                return JSONResponse(error, 400)
            chat = int(str(fields.get("chat_id", 1)))
            return JSONResponse({"ok": True, "result": sent_message(7, chat, "x")})

        return Starlette(routes=[Route("/bot{token}/{method}", method, methods=["POST"])])


@pytest.fixture
async def api() -> AsyncIterator[tuple[Seen, str]]:
    seen = Seen()
    async with serve(seen.app()) as url:
        yield seen, f"{url}/bot"


async def test_calls_go_as_forms_and_statuses_map_to_errors(api: tuple[Seen, str]) -> None:
    seen, base = api
    async with Bot(TOKEN, base_url=base, request=BotApiRequest()) as bot:
        await bot.send_message(42, "hello")
        with pytest.raises(BadRequest, match=r"(?i)empty"):
            await bot.send_message(42, "")
    name, kind, fields = seen.calls[-2]
    assert name == "sendMessage" and kind.startswith("application/x-www-form-urlencoded")
    assert fields == {"chat_id": "42", "text": "hello"}
    assert seen.calls[0][0] == "getMe" and seen.calls[0][2] == {}  # no parameters: no body


async def test_files_go_as_multipart(api: tuple[Seen, str]) -> None:
    seen, base = api
    async with Bot(TOKEN, base_url=base, request=BotApiRequest()) as bot:
        await bot.send_document(42, b"%PDF-1.4 tiny", filename="notes.pdf", caption="here")
    name, kind, fields = seen.calls[-1]
    assert name == "sendDocument" and kind.startswith("multipart/form-data")
    assert fields["caption"] == "here" and fields["chat_id"] == "42"
    assert b"%PDF-1.4 tiny" in [v for v in fields.values() if isinstance(v, bytes)]


async def test_a_slow_server_times_out(api: tuple[Seen, str]) -> None:
    seen, base = api
    request = BotApiRequest(read_timeout_s=0.2)
    async with Bot(TOKEN, base_url=base, request=request) as bot:
        seen.delay_s = 1.0
        with pytest.raises(TimedOut):
            await bot.send_message(42, "slow")
    assert seen.calls[-1][2] == {"chat_id": "42", "text": "slow"}


async def test_a_refused_connection_is_a_network_error() -> None:
    with refusing_port() as port:
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=BotApiRequest())
        with pytest.raises(NetworkError, match=r"aiohttp\.ClientConnectorError"):
            await bot.initialize()  # getMe
        await bot.shutdown()


async def test_the_proxy_comes_from_the_environment(
    api: tuple[Seen, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, base = api
    proxy = ForwardProxy()
    async with proxy.running() as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "")
        async with Bot(TOKEN, base_url=base, request=BotApiRequest()) as bot:
            await bot.send_message(42, "through the proxy")
        assert proxy.targets == [f"{base}{TOKEN}/getMe", f"{base}{TOKEN}/sendMessage"]
        assert [c[0] for c in seen.calls] == ["getMe", "sendMessage"]
        assert seen.calls[-1][2] == {"chat_id": "42", "text": "through the proxy"}

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # read when a request object starts
        async with Bot(TOKEN, base_url=base, request=BotApiRequest()) as bot:
            await bot.send_message(42, "straight")
        assert len(proxy.targets) == 2 and seen.calls[-1][2]["text"] == "straight"
