"""The thread controls over HTTP and the WebSocket: /api/models, /api/personas, /api/settings,
/api/retry, /api/undo, /api/stop, /api/usage and the {"type": "stop"} frame."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from adapters.web import WebDoor
from bot.app import Chatlink, open_chatlink
from bot.conversation.replying import STOPPED
from tests.fakes.model_apis import Plan
from tests.fakes.prompt_cache import PromptCache
from tests.support.models import ANTHROPIC_KEY_ENV, Models, model_servers
from tests.support.people import dm
from tests.support.settings import PASSWORD, FakeClock
from tests.support.web import csrf_of, post_form, register_on_the_page

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")


@pytest.fixture
async def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Models]:
    monkeypatch.setenv(ANTHROPIC_KEY_ENV, "sk-ant-test")
    async with model_servers(tmp_path) as found:
        yield found


@pytest.fixture
async def app(models: Models, clock: FakeClock) -> AsyncIterator[Chatlink]:
    async with open_chatlink(models.settings(rate_limit_per_minute=20), clock=clock) as chatlink:
        yield chatlink


@pytest.fixture
async def api(web: WebDoor) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as alice (bearer token)."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web.port}", trust_env=False, timeout=30
    ) as client:
        created = await client.post(
            "/api/register", json={"username": "alice", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        token = await client.post("/api/token", data={"username": "alice", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


async def test_models_and_personas_are_listed(api: httpx.AsyncClient) -> None:
    models = (await api.get("/api/models")).json()
    assert [m["name"] for m in models] == ["small", "large", "claude"]  # no admin-only one
    assert models[0]["default"] and models[0]["current"] and models[1]["max_tokens"] == 333
    assert "base_url" not in models[0]
    personas = (await api.get("/api/personas")).json()
    assert [(p["name"], p["model"], p["current"]) for p in personas] == [
        ("pirate", None, False),
        ("poet", "claude", False),
    ]
    assert "prompt" not in personas[0]


@pytest.mark.parametrize(
    "body",
    [
        {"model": "nonsense"},
        {"model": "secret"},
        {"persona": "nobody"},
        {"system_prompt": "x" * 4001},
        {"model": "claude", "persona": "nobody"},  # all or nothing
        {"colour": "red"},
        {"model": 5},
    ],
)
async def test_bad_settings_are_422_and_change_nothing(
    api: httpx.AsyncClient, models: Models, body: object
) -> None:
    before = (await api.get("/api/settings")).json()
    response = await api.put("/api/settings", json=body)
    assert response.status_code == 422, response.text
    assert (await api.get("/api/settings")).json() == before
    await api.post("/api/chat", json={"message": "hi"})
    assert models.openai.requests[-1]["model"] == "small-1"


async def test_settings_put_and_a_switch_on_telegram_holds_on_the_web(
    api: httpx.AsyncClient, app: Chatlink, models: Models
) -> None:
    changed = await api.put(
        "/api/settings", json={"model": "large", "persona": "pirate", "system_prompt": "Be brief."}
    )
    assert changed.json() == {"model": "large", "persona": "pirate", "system_prompt": "Be brief."}
    # Link a Telegram DM to alice: the private thread (and its settings) is shared.
    account = await app.accounts.by_username("alice")
    assert account is not None
    issued = await app.links.issue_for_account(account.id)
    await app.core.handle(dm(f"/link {issued.code}"))
    await app.core.handle(dm("on telegram"))
    body = models.openai.requests[-1]
    assert body["model"] == "large-2"
    system = "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
    assert "pirate" in system and "Be brief." in system
    await app.core.handle(dm("/model claude"))
    assert (await api.get("/api/settings")).json()["model"] == "claude"
    await api.post("/api/chat", json={"message": "on the web"})
    assert models.anthropic.requests[-1]["model"] == "claude-x"
    cleared = await api.put("/api/settings", json={"persona": None, "system_prompt": None})
    assert cleared.json() == {"model": "claude", "persona": None, "system_prompt": None}
    default = await api.put("/api/settings", json={"model": None})
    assert default.json()["model"] == "small"


async def test_retry_undo_and_usage(api: httpx.AsyncClient, models: Models) -> None:
    models.openai.plans = [Plan(text="First."), Plan(text="Second.")]
    await api.post("/api/chat", json={"message": "question"})
    retried = await api.post("/api/retry")
    assert retried.status_code == 200 and retried.json()["reply"] == "Second."
    history = (await api.get("/api/history")).json()["messages"]
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "question"),
        ("assistant", "Second."),
    ]
    usage = (await api.get("/api/usage")).json()
    assert usage["tokens_today"] == 36 and usage["by_model"] == [
        {
            "model": "small",
            "tokens": 36,
            "calls": 2,
            "cache_read_tokens": 0,  # the stand-in's fixed usage reports no cache
            "cache_write_tokens": 0,
        }
    ]
    assert usage["cache_read_tokens_today"] == usage["cache_write_tokens_today"] == 0
    assert usage["messages_this_minute"] == 2 and usage["rate_limit_per_minute"] == 20
    assert usage["model"] == "small" and usage["persona"] is None
    undone = await api.post("/api/undo")
    assert "question" in undone.json()["reply"]
    assert (await api.get("/api/history")).json()["messages"] == []
    assert (await api.post("/api/stop")).json() == {"stopped": False}


async def test_stop_over_http_and_the_websocket(
    api: httpx.AsyncClient, web: WebDoor, models: Models
) -> None:
    slow = Plan(text="A long story that never ends", hold=asyncio.Event(), hold_after=1)
    models.openai.plans = [slow]
    try:
        talking = asyncio.create_task(api.post("/api/chat", json={"message": "story"}))
        await slow.at_hold.wait()
        assert (await api.post("/api/stop")).json() == {"stopped": True}
        answered = await talking
        assert answered.json()["reply"] == STOPPED
        # The WebSocket: a stop frame reaches the reply being written.
        slow.at_hold.clear()
        models.openai.plans = [slow, Plan(text="Quick.")]
        url = f"ws://127.0.0.1:{web.port}/api/ws"
        auth = {"Authorization": api.headers["Authorization"]}
        async with connect(url, additional_headers=auth) as socket:
            await socket.send(json.dumps({"message": "another story"}))
            await slow.at_hold.wait()
            await socket.send(json.dumps({"type": "stop"}))
            frames = []
            while not any(f["type"] == "reply" for f in frames):
                frames.append(json.loads(await socket.recv()))
            assert {"type": "stopped", "stopped": True} in frames
            assert frames[-1]["text"] == STOPPED
            await socket.send(json.dumps({"message": "next"}))
            while (frame := json.loads(await socket.recv()))["type"] != "reply":
                pass
            assert frame["text"] == "Quick."
    finally:
        slow.hold.set()  # type: ignore[union-attr]
    history = (await api.get("/api/history")).json()["messages"]
    assert [m["content"] for m in history if m["role"] == "assistant"] == ["Quick."]


async def test_the_chat_pages_settings_panel(web: WebDoor, models: Models) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web.port}", trust_env=False, timeout=30
    ) as page:
        await register_on_the_page(page)
        chat = await page.get("/chat")
        assert 'action="/chat/settings"' in chat.text and '<option value="large"' in chat.text
        assert '<option value="secret"' not in chat.text  # admin-only
        saved = await post_form(
            page, "/chat", "/chat/settings", model="large", persona="pirate", system_prompt=""
        )
        assert saved.status_code == 303
        chat = await page.get("/chat")
        assert "Settings saved" in chat.text
        assert '<option value="large" selected>' in chat.text
        assert '<option value="pirate" selected>' in chat.text
        refused = await post_form(
            page, "/chat", "/chat/settings", model="nonsense", persona="off", system_prompt="x"
        )
        assert refused.status_code == 303
        chat = await page.get("/chat")
        assert "no model" in chat.text and '<option value="large" selected>' in chat.text
        await post_form(page, "/chat", "/chat", message="hello")
        assert models.openai.requests[-1]["model"] == "large-2"


async def test_the_chat_pages_stop_button(web: WebDoor, app: Chatlink, models: Models) -> None:
    slow = Plan(text="A long story that never ends", hold=asyncio.Event(), hold_after=1)
    models.openai.plans = [slow]
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web.port}", trust_env=False, timeout=30
    ) as page:
        await register_on_the_page(page)
        idle = await post_form(page, "/chat", "/chat/stop")
        assert idle.status_code == 303
        assert "Nothing is being written" in (await page.get("/chat")).text
        try:
            csrf = csrf_of(await page.get("/chat"))
            talking = asyncio.create_task(
                page.post("/chat", data={"csrf_token": csrf, "message": "story"})
            )
            await slow.at_hold.wait()
            stop = await page.post("/chat/stop", data={"csrf_token": csrf})
            assert stop.status_code == 303
            await talking
            # Both answers flash a notice in the one session cookie: whichever came last shows.
            shown = (await page.get("/chat")).text
            assert "Stopping that reply" in shown or "Stopped. Nothing" in shown
        finally:
            slow.hold.set()  # type: ignore[union-attr]
        chat = await page.get("/chat")
        assert "A long story" not in chat.text


async def test_usage_over_http_counts_cached_tokens_apart(
    api: httpx.AsyncClient, models: Models
) -> None:
    models.openai.cache = PromptCache()  # measured usage, with OpenAI's automatic prefix cache
    models.openai.default = Plan(text="A long enough answer. " * 60, chunk_chars=400)
    for n in range(5):
        sent = await api.post("/api/chat", json={"message": f"{n}: " + "go on " * 300})
        assert sent.status_code == 200, sent.text
    read = sum(u["prompt_tokens_details"]["cached_tokens"] for u in models.openai.usages)
    assert read > 0
    usage = (await api.get("/api/usage")).json()
    assert usage["cache_read_tokens_today"] == read and usage["cache_write_tokens_today"] == 0
    [small] = usage["by_model"]
    assert small["cache_read_tokens"] == read and small["calls"] == 5
    assert usage["tokens_today"] == sum(u["total_tokens"] for u in models.openai.usages)
