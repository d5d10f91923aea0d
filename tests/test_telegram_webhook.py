"""The Telegram webhook as a route of the web app: doors built by the composition root, a Bot
API stand-in on 127.0.0.1, updates POSTed to /telegram/webhook on the web port."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.compose import build_doors
from adapters.telegram_bot import TelegramDoor
from adapters.web import WebDoor
from bot.app import Chatlink, open_chatlink
from bot.conversation import HELP
from bot.delivery import Door
from tests.fakes.serve import serve
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.support.settings import FakeClock, make_settings

SECRET = "s3cret_value"
# What the TLS proxy in front of chatlink shows Telegram; it forwards to WEB_PORT.
PUBLIC_HOOK = "https://bot.example.org/telegram/webhook"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class Webhooked:
    """chatlink with its web and Telegram doors started, and a client for the web port."""

    fake: FakeTelegram
    app: Chatlink
    web: WebDoor
    telegram: TelegramDoor
    client: httpx.AsyncClient

    async def post(self, body: Any, secret: str | None = SECRET, **headers: str) -> httpx.Response:
        """POST `body` (JSON-encoded unless bytes) to the webhook route, as Telegram does."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **headers}
        if secret is not None:
            sent[HEADER] = secret
        return await self.client.post("/telegram/webhook", content=content, headers=sent)


def listening_ports() -> set[int]:
    """The TCP ports this process listens on, read from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def settings_for(tmp_path: Path, api: str, **extra: Any) -> Any:
    return make_settings(
        tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url=f"{api}/bot", **extra
    )


async def start(doors: list[Door]) -> None:
    for door in doors:
        await door.start()


@pytest.fixture
async def webhooked(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Webhooked]:
    fake = FakeTelegram()
    async with serve(fake.app()) as api:
        settings = settings_for(
            tmp_path, api, telegram_mode="webhook", telegram_webhook_url=PUBLIC_HOOK,
            telegram_webhook_secret=SECRET,
        )  # fmt: skip
        async with open_chatlink(settings, clock=clock) as app:
            before = listening_ports()
            doors = build_doors(app)
            [web, telegram] = doors
            assert isinstance(web, WebDoor) and isinstance(telegram, TelegramDoor)
            try:
                await start(doors)
                # One new listening socket, the web port's: PTB opened no server of its own.
                assert listening_ports() - before == {web.port}
                assert telegram.application.updater is None
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{web.port}", trust_env=False, timeout=30
                ) as client:
                    yield Webhooked(fake, app, web, telegram, client)
            finally:
                for door in reversed(doors):
                    await door.stop()


async def test_webhook_mode(webhooked: Webhooked) -> None:
    fake = webhooked.fake
    [set_webhook] = [c for c in fake.calls if c.method == "setWebhook"]
    assert set_webhook.params["url"] == PUBLIC_HOOK
    assert set_webhook.params["secret_token"] == SECRET
    assert set_webhook.params["allowed_updates"] == ["message", "callback_query"]
    assert "getUpdates" not in fake.methods()
    # Refused calls come first: had one been queued, its /help would be answered first.
    refused = {"update_id": 1, **fake.message("/help")}
    assert (await webhooked.post(refused, secret="wrong")).status_code == 403
    missing = await webhooked.post({**refused, "update_id": 2}, secret=None)
    assert missing.status_code == 403 and "secret" in missing.json()["detail"]
    update = {"update_id": 3, **fake.message("hello via webhook")}
    accepted = await webhooked.post(update)
    assert accepted.status_code == 200 and accepted.content == b""
    assert accepted.headers["x-content-type-options"] == "nosniff"  # the web app's middleware
    [reply] = await fake.wait_sent(1)
    assert "/link" in reply and reply != HELP


async def test_bad_bodies_get_a_short_answer_and_change_nothing(webhooked: Webhooked) -> None:
    fake, post = webhooked.fake, webhooked.post
    for body in (b"{not json", b"\xff\xfe", json.dumps([1, 2]).encode(), b"{}"):
        answer = await post(body)
        assert answer.status_code == 400, body
        assert answer.json() == {"detail": "The body is not a JSON update object."}
    update = {"update_id": 7, **fake.message("/help")}
    as_text = await post(update, **{"Content-Type": "text/plain"})
    assert as_text.status_code == 415 and "application/json" in as_text.json()["detail"]
    limit = webhooked.app.settings.max_request_bytes
    huge = {"update_id": 8, **fake.message("x" * limit)}
    assert (await post(huge)).status_code == 413
    assert (await webhooked.client.get("/telegram/webhook")).status_code == 405
    # None of those was queued: the first answer in the chat is to this one.
    assert (await post({"update_id": 9, **fake.message("hello")})).status_code == 200
    [reply] = await fake.wait_sent(1)
    assert "/link" in reply and reply != HELP


async def test_a_stopped_telegram_door_answers_503_and_queues_nothing(
    webhooked: Webhooked,
) -> None:
    await webhooked.telegram.stop()
    answer = await webhooked.post({"update_id": 1, **webhooked.fake.message("hello")})
    assert answer.status_code == 503 and answer.headers["retry-after"]  # Telegram sends again
    # Stopped, the application drains nothing: a queued update would still be there.
    assert webhooked.telegram.application.update_queue.qsize() == 0
    assert (await webhooked.post({}, secret="wrong")).status_code == 403  # secret first


async def test_draining_web_door_answers_503(webhooked: Webhooked) -> None:
    webhooked.web.drain.draining.set()  # what the web door's stop does first
    answer = await webhooked.post({"update_id": 1, **webhooked.fake.message("hello")})
    assert answer.status_code == 503
    webhooked.web.drain.draining.clear()


async def test_no_webhook_route_when_polling(tmp_path: Path, clock: FakeClock) -> None:
    fake = FakeTelegram()
    async with serve(fake.app()) as api:
        async with open_chatlink(settings_for(tmp_path, api), clock=clock) as app:
            [telegram, web] = build_doors(app)  # polling: the web door last, as before
            assert isinstance(telegram, TelegramDoor) and telegram.webhook is None
            await web.start()  # the web door alone: no need to poll here
            try:
                assert isinstance(web, WebDoor)
                async with httpx.AsyncClient(trust_env=False) as client:
                    answer = await client.post(
                        f"http://127.0.0.1:{web.port}/telegram/webhook",
                        json={"update_id": 1, **fake.message("hello")},
                        headers={HEADER: "anything"},
                    )
                assert answer.status_code == 404 and answer.json() == {"detail": "Not Found"}
            finally:
                await web.stop()
        assert fake.calls == []


async def test_a_retired_port_setting_is_warned_about_at_start(
    tmp_path: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_WEBHOOK_PORT", "8443")  # what an older install still has
    async with open_chatlink(make_settings(tmp_path), clock=clock) as app:
        with caplog.at_level(logging.WARNING, logger="chatlink"):
            build_doors(app)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("TELEGRAM_WEBHOOK_PORT is no longer read")
    assert "WEB_PORT at /telegram/webhook" in warning
