"""`chatlink run` under load: SIGTERM drains it; kill -9 loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bot.delivery.runtime import SHUTTING_DOWN
from tests.fakes import discord_api, telegram_api
from tests.fakes.chatlink_process import ChatlinkRun, accounts, start_chatlink
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.model_apis import FakeModel, Plan
from tests.fakes.serve import serve
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")

CLIENTS = 20
REPLY = "A considered answer, streamed in small pieces."
SERVICE_RESTART = 1012
_CRASHES = "Exception in ASGI application"  # what uvicorn logs for a request that blew up


def _model_settings(model_url: str, grace_s: float) -> dict[str, str]:
    return {
        "LLM_PROVIDER": "openai", "LLM_BASE_URL": f"{model_url}/v1", "LLM_MODEL": "fake",
        "LLM_API_KEY": "k", "LLM_MAX_RETRIES": "0", "RATE_LIMIT_PER_MINUTE": "0",
        "SHUTDOWN_GRACE_S": str(grace_s),
    }  # fmt: skip


@asynccontextmanager
async def _held_model(hold_after: int) -> AsyncIterator[tuple[Plan, str]]:
    """An OpenAI-style model that streams `hold_after` chunks of REPLY, then waits for
    `plan.hold`; the hold is released on the way out so the server can stop."""
    plan = Plan(text=REPLY, hold=asyncio.Event(), hold_after=hold_after)
    assert plan.hold is not None
    try:
        async with serve(FakeModel(default=plan).openai_app()) as model_url:
            yield plan, model_url
    finally:
        plan.hold.set()


def _stored(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """Every stored message, per username, in order, read from the SQLite file itself."""
    with sqlite3.connect(folder / "data" / "chatlink.db") as db:
        rows = db.execute(
            "SELECT a.username, m.role, m.content FROM messages m "
            "JOIN threads t ON t.id = m.thread_id JOIN accounts a ON a.id = t.account_id "
            "ORDER BY m.id"
        ).fetchall()
    stored: dict[str, list[tuple[str, str]]] = {}
    for username, role, content in rows:
        stored.setdefault(username, []).append((role, content))
    return stored


async def _chat(
    client: httpx.AsyncClient, run: ChatlinkRun, auth: dict[str, str], text: str
) -> httpx.Response:
    return await client.post(f"{run.url}/api/chat", json={"message": text}, headers=auth)


async def _refused_health(client: httpx.AsyncClient, run: ChatlinkRun) -> httpx.Response:
    """/healthz once it no longer answers 200 (the process has begun to stop)."""
    for _ in range(400):
        health = await client.get(f"{run.url}/healthz")
        if health.status_code != 200:
            return health
        await asyncio.sleep(0.05)
    raise AssertionError(f"still healthy after SIGTERM:\n{run.log}")


async def test_sigterm_finishes_replies_in_flight_and_refuses_new_work(tmp_path: Path) -> None:
    names = [f"user{n:02d}" for n in range(CLIENTS)] + ["socket", "late"]
    auths = await accounts(tmp_path, names)
    async with (
        _held_model(hold_after=1) as (plan, model_url),
        httpx.AsyncClient(trust_env=False, timeout=60) as client,
    ):
        run = start_chatlink(tmp_path, _model_settings(model_url, grace_s=45))
        try:
            await run.healthy(client)
            ws = run.url.replace("http://", "ws://") + "/api/ws"
            busy = await connect(ws, additional_headers=auths["socket"])
            idle = await connect(ws, additional_headers=auths["late"])
            sends = [
                asyncio.create_task(_chat(client, run, auths[u], f"question of {u}"))
                for u in names[:CLIENTS]
            ]
            await busy.send('{"message": "question over the socket"}')
            # Every reply is in flight: its message stored, the model holding the rest.
            await run.until(lambda: plan.held == CLIENTS + 1)

            run.process.send_signal(signal.SIGTERM)
            # New work gets a short answer on a new connection: the balancer's health check,
            # a chat message, and a WebSocket that was idle is closed as "restarting".
            async with httpx.AsyncClient(trust_env=False, timeout=10) as fresh:
                health = await _refused_health(fresh, run)
                assert health.status_code == 503 and health.json() == {"detail": SHUTTING_DOWN}
                refused = await _chat(fresh, run, auths["late"], "too late")
                assert refused.status_code == 503, refused.text
                assert refused.json() == {"detail": SHUTTING_DOWN}
                assert refused.headers["retry-after"] == "5"
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(idle.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == SERVICE_RESTART
            # Nothing in flight was answered or cut while the model held it.
            assert not any(send.done() for send in sends) and run.process.poll() is None

            plan.hold.set()
            answers = await asyncio.gather(*sends)
            assert [a.status_code for a in answers] == [200] * CLIENTS
            assert all(a.json()["reply"] == REPLY for a in answers)
            frame: dict[str, str] = {}
            while frame.get("type") != "reply":  # streamed chunks, then the whole reply
                frame = json.loads(await asyncio.wait_for(busy.recv(), 10))
            assert frame["text"] == REPLY
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(busy.recv(), 10)  # the socket closes after its reply
            assert closed.value.rcvd is not None and closed.value.rcvd.code == SERVICE_RESTART

            assert await run.exit_code() == 0, run.log
        finally:
            run.kill()
    log = run.log
    assert "stopped cleanly" in log and "cut off" not in log and _CRASHES not in log, log
    stored = _stored(tmp_path)
    for username in names[:CLIENTS]:
        assert stored[username] == [("user", f"question of {username}"), ("assistant", REPLY)]
    assert stored["socket"] == [("user", "question over the socket"), ("assistant", REPLY)]
    assert "late" not in stored  # refused: nothing stored


async def test_work_past_the_grace_is_cut_off_cleanly(tmp_path: Path) -> None:
    names = [f"user{n:02d}" for n in range(CLIENTS)]
    auths = await accounts(tmp_path, names)
    async with (
        _held_model(hold_after=2) as (plan, model_url),  # part of the reply is out already
        httpx.AsyncClient(trust_env=False, timeout=60) as client,
    ):
        settings = _model_settings(model_url, grace_s=0.5)
        run = start_chatlink(tmp_path, settings)
        try:
            await run.healthy(client)
            sends = [
                asyncio.create_task(_chat(client, run, auths[u], f"question of {u}")) for u in names
            ]
            await run.until(lambda: plan.held == CLIENTS)
            run.process.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(*sends)  # the model never lets go of them
            assert [a.status_code for a in answers] == [503] * CLIENTS
            assert all(a.json() == {"detail": SHUTTING_DOWN} for a in answers)
            assert await run.exit_code() == 0, run.log
        finally:
            run.kill()
        log = run.log
        assert f"web: {CLIENTS} request(s) cut off after SHUTDOWN_GRACE_S=0.5s" in log, log
        assert "stopped cleanly" in log and _CRASHES not in log, log
        # Each message stored once (it is committed before the model is asked); no part of a
        # reply stored.
        stored = _stored(tmp_path)
        assert stored == {u: [("user", f"question of {u}")] for u in names}

        # The next start serves the same people at once: nothing was left locked or queued.
        plan.hold.set()
        again = start_chatlink(tmp_path, settings, log_name="log2")
        try:
            await again.healthy(client)
            answers = await asyncio.gather(
                *(_chat(client, again, auths[u], "once more") for u in names)
            )
            assert [a.status_code for a in answers] == [200] * CLIENTS
            assert all(a.json()["reply"] == REPLY for a in answers)
            again.process.send_signal(signal.SIGTERM)
            assert await again.exit_code() == 0, again.log
        finally:
            again.kill()


@pytest.mark.parametrize("cut", [False, True], ids=["finished", "cut-off"])
async def test_sigterm_drains_telegram_and_discord(tmp_path: Path, cut: bool) -> None:
    # In flight: a Telegram DM, a Discord DM and a Discord /chat, each its own account.
    auths = await accounts(tmp_path, ["tg", "dm", "slash"])
    telegram, discord = FakeTelegram(), FakeDiscord()
    async with (
        _held_model(hold_after=1) as (plan, model_url),
        serve(telegram.app()) as telegram_url,
        serve(discord.app()) as discord_url,
        httpx.AsyncClient(trust_env=False, timeout=30) as client,
    ):
        settings = _model_settings(model_url, grace_s=0.5 if cut else 45) | {
            "TELEGRAM_BOT_TOKEN": telegram_api.TOKEN,
            "TELEGRAM_API_BASE_URL": f"{telegram_url}/bot",
            "DISCORD_BOT_TOKEN": discord_api.TOKEN,
            "DISCORD_API_BASE_URL": f"{discord_url}/api/v10",
            "DISCORD_GATEWAY_URL": discord_url.replace("http://", "ws://") + "/gateway",
        }
        run = start_chatlink(tmp_path, settings)
        try:
            await run.healthy(client)
            await discord.wait_connected()
            codes = []
            for name in ("tg", "dm", "slash"):
                issued = await client.post(f"{run.url}/api/link-codes", headers=auths[name])
                codes.append(issued.json()["code"])
            await telegram.say(f"/link {codes[0]}")
            await discord.command("link", {"code": codes[1]}, guild=False)
            await discord.command("link", {"code": codes[2]}, author_id=1002, guild=False)
            await telegram.wait_sent(1)
            await discord.wait_for(2)

            await telegram.say("question on telegram")
            await discord.message("question in a discord dm")
            await discord.command("chat", {"message": "question by /chat"}, author_id=1002)
            await run.until(lambda: plan.held == 3)
            sent_before = len(discord.sent())

            run.process.send_signal(signal.SIGTERM)
            await run.until(lambda: "telegram: taking no new updates" in run.log)
            late = await telegram.say("anyone there?", user_id=1003)
            if not cut:  # (with a tiny grace these could arrive after the cut-off)
                await discord.message("one more thing", author_id=1001)
                refused = await discord.wait_for(sent_before + 1)
                assert refused[-1].body["content"] == SHUTTING_DOWN
                command = await discord.command("whoami", guild=False)
                await run.until(lambda: bool(discord.calls_to("POST", f"interactions/{command}")))
                [answer] = discord.calls_to("POST", f"interactions/{command}")
                assert answer.body["data"]["content"] == SHUTTING_DOWN
                plan.hold.set()
            assert await run.exit_code() == 0, run.log
        finally:
            run.kill()
    log = run.log
    assert "stopped cleanly" in log and _CRASHES not in log, log
    # The update sent after polling stopped was never taken: Telegram still holds it.
    assert late in telegram.unconfirmed() and telegram.sent(1003) == []
    answer_text = SHUTTING_DOWN if cut else REPLY
    assert telegram.sent(1001)[-1] == answer_text
    dm_channel = str(discord.dm_channel_id(1001))
    dm_texts = [c.body["content"] for c in discord.sent() if dm_channel in c.path]
    assert answer_text in dm_texts
    followups = [c.body for c in discord.sent() if c.path.startswith("webhooks/")]
    assert followups[-1]["content"] == answer_text
    stored = _stored(tmp_path)
    questions = {"tg": "on telegram", "dm": "in a discord dm", "slash": "by /chat"}
    for name, question in questions.items():
        asked = ("user", f"question {question}")
        exchange = [asked] if cut else [asked, ("assistant", REPLY)]
        assert stored[name] == exchange, stored
    if cut:
        for door in ("telegram: 1 update(s)", "discord: 2 answer(s)"):
            assert f"{door} cut off after SHUTDOWN_GRACE_S=0.5s" in log, log


async def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    settings = {"RATE_LIMIT_PER_MINUTE": "0"}  # the offline echo provider
    names = [f"user{n:02d}" for n in range(CLIENTS)]
    sent: dict[str, list[str]] = {u: [] for u in names}
    # "Got a reply": the client received a 200 with the reply text.
    replied: dict[str, dict[str, str]] = {u: {} for u in names}
    auths = await accounts(tmp_path, names)
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        run = start_chatlink(tmp_path, settings)
        try:
            await run.healthy(client)

            async def talk(username: str) -> None:
                while True:  # one message after the other, until the server is gone
                    text = f"{username} says {len(sent[username])}"
                    sent[username].append(text)
                    try:
                        answer = await _chat(client, run, auths[username], text)
                    except httpx.TransportError:
                        return
                    assert answer.status_code == 200, answer.text
                    replied[username][text] = answer.json()["reply"]

            talkers = [asyncio.create_task(talk(u)) for u in names]
            await run.until(lambda: sum(map(len, replied.values())) >= 10 * CLIENTS)
            run.process.kill()  # SIGKILL, with every client's next message on its way
            assert await run.exit_code() == -signal.SIGKILL
            await asyncio.wait_for(asyncio.gather(*talkers), 30)
            # Each client's last message was the one on its way: no reply to it.
            assert all(len(replied[u]) == len(sent[u]) - 1 for u in names)
        finally:
            run.kill()

        again = start_chatlink(tmp_path, settings, log_name="log2")
        try:
            await again.healthy(client)
            with sqlite3.connect(tmp_path / "data" / "chatlink.db") as db:
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            for username in names:
                page = await client.get(
                    f"{again.url}/api/history?limit=200", headers=auths[username]
                )
                assert page.status_code == 200, page.text
                history = [(m["role"], m["content"]) for m in page.json()["messages"]]
                _check_history(history, sent[username], replied[username])
            # The clients carry on where they were.
            answers = await asyncio.gather(
                *(_chat(client, again, auths[u], f"{u} is back") for u in names)
            )
            assert [a.status_code for a in answers] == [200] * CLIENTS
            assert all(a.json()["reply"].startswith(f"Echo: {u} is back") for a, u in
                       zip(answers, names, strict=True))  # fmt: skip
            again.process.send_signal(signal.SIGTERM)
            assert await again.exit_code() == 0, again.log
        finally:
            again.kill()


def _check_history(
    history: list[tuple[str, str]], sent: list[str], replied: dict[str, str]
) -> None:
    """What one client's thread must hold after a crash: every acknowledged exchange, in
    the order sent, nothing twice, and no reply without its message."""
    users = [text for role, text in history if role == "user"]
    assert len(users) == len(set(users)), f"a message stored twice: {users}"
    assert users == [text for text in sent if text in users], "stored out of order or unsent"
    for text, reply in replied.items():
        assert ("user", text) in history, f"acknowledged message lost: {text!r}"
        at = history.index(("user", text))
        assert history[at + 1 : at + 2] == [("assistant", reply)], f"reply lost: {text!r}"
    for at, (role, text) in enumerate(history):
        if role == "assistant":  # each reply right after its own message, once
            assert at > 0 and history[at - 1][0] == "user", history
            assert text.startswith(f"Echo: {history[at - 1][1]}\n"), history
