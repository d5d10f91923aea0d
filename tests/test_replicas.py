"""Two real `chatlink run` processes on one PostgreSQL and one Redis, as behind a load balancer."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.app import open_chatlink
from storage import Database
from tests.fakes import postgres_server
from tests.fakes.chatlink_process import start_chatlink
from tests.fakes.model_apis import FakeModel, Plan
from tests.fakes.redis_server import REDIS, redis_server
from tests.fakes.serve import serve
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.support.settings import PASSWORD, SECRET, make_settings

# The one public address of the webhook; the balancer forwards it to each replica's WEB_PORT.
PUBLIC_HOOK = "https://bot.example.org/telegram/webhook"

pytestmark = pytest.mark.skipif(
    postgres_server.BIN is None or REDIS is None,
    reason="needs Debian's postgresql and redis-server (.ci/run installs both)",
)


@pytest.fixture
def shared(postgres: str | None, tmp_path: Path) -> Iterator[dict[str, str]]:
    """One fresh PostgreSQL database and one Redis, as every replica sees them."""
    assert postgres is not None
    database = postgres_server.create_database(postgres, f"replicas_{uuid.uuid4().hex[:16]}")
    with redis_server(tmp_path) as redis_url:
        yield {"DATABASE_URL": database, "REDIS_URL": redis_url, "SECRET_KEY": SECRET}


@asynccontextmanager
async def replicas(tmp_path: Path, env: dict[str, str], count: int = 2) -> AsyncIterator[list[str]]:
    """Start `count` `chatlink run` processes at once; yield their base URLs."""
    runs = [start_chatlink(tmp_path / f"replica{n}", env) for n in range(count)]
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            for run in runs:
                await run.healthy(client)
        yield [run.url for run in runs]
    finally:
        for run in runs:
            run.process.terminate()
        for run in runs:
            assert await run.exit_code(30) == 0, run.log


async def token_for(client: httpx.AsyncClient, url: str, username: str = "alice") -> dict[str, str]:
    await client.post(f"{url}/api/register", json={"username": username, "password": PASSWORD})
    response = await client.post(
        f"{url}/api/token", data={"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_replicas_migrate_at_once_and_report_health(
    shared: dict[str, str], tmp_path: Path
) -> None:
    async with replicas(tmp_path, shared) as urls, httpx.AsyncClient(trust_env=False) as client:
        for url in urls:
            health = (await client.get(f"{url}/healthz")).json()
            assert health == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_one_code_redeemed_once_across_replicas(
    shared: dict[str, str], tmp_path: Path
) -> None:
    async with replicas(tmp_path, shared) as urls:
        settings = make_settings(tmp_path, database_url=shared["DATABASE_URL"])
        async with open_chatlink(settings) as app:
            issued = await app.links.issue_for_identity("telegram", "1001", "Al", "1001")
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            auth = await token_for(client, urls[0])
            results = await asyncio.gather(
                *(client.post(f"{urls[n % 2]}/api/links/{issued.code}", headers=auth)
                  for n in range(50))
            )  # fmt: skip
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200] + [409] * 49, statuses


async def test_one_thread_keeps_order_across_replicas(
    shared: dict[str, str], tmp_path: Path
) -> None:
    # The first reply takes a while, so the others queue up on both replicas meanwhile.
    fake = FakeModel(
        plans=[Plan(text="noted", first_token_delay=1.0)],
        default=Plan(text="noted", first_token_delay=0.05),
    )
    # Not strictly alternating: runs on one replica are where its own FIFO lock could let a
    # later message overtake an earlier one waiting on the other replica.
    pattern = [0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0] * 2
    async with serve(fake.openai_app()) as model_url:
        env = shared | {
            "LLM_PROVIDER": "openai", "LLM_BASE_URL": f"{model_url}/v1", "LLM_MODEL": "fake",
            "LLM_API_KEY": "k", "HISTORY_MAX_MESSAGES": "200", "RATE_LIMIT_PER_MINUTE": "0",
        }  # fmt: skip
        async with replicas(tmp_path, env) as urls:
            async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
                auth = await token_for(client, urls[0])

                async def send(n: int) -> httpx.Response:
                    return await client.post(
                        f"{urls[pattern[n]]}/api/chat", json={"message": f"m{n:02d}"}, headers=auth
                    )

                # m00, m01, ... each sent once the one before has its ticket (has arrived),
                # so arrival order is defined however the machine schedules the replicas.
                responses = await _in_arrival_order(
                    [send(n) for n in range(40)], shared["DATABASE_URL"]
                )
                assert [r.status_code for r in responses] == [200] * 40
                history = await client.get(f"{urls[1]}/api/history?limit=200", headers=auth)
            stored = [(m["role"], m["content"]) for m in history.json()["messages"]]
    assert stored == [
        pair for n in range(40) for pair in (("user", f"m{n:02d}"), ("assistant", "noted"))
    ]
    # each model request saw exactly the messages before it, in order
    for n, request in enumerate(fake.requests):
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        assert users == [f"m{k:02d}" for k in range(n + 1)]


async def test_rate_limit_is_shared_across_replicas(shared: dict[str, str], tmp_path: Path) -> None:
    limited = shared | {"RATE_LIMIT_PER_MINUTE": "10"}
    async with replicas(tmp_path, limited) as urls, httpx.AsyncClient(trust_env=False) as client:
        auth = await token_for(client, urls[0])
        sends = [
            client.post(f"{urls[n % 2]}/api/chat", json={"message": f"hi {n}"}, headers=auth)
            for n in range(30)
        ]
        results = await asyncio.gather(*sends)
    statuses = [r.status_code for r in results]
    assert statuses.count(200) == 10 and statuses.count(429) == 20
    limited = [r for r in results if r.status_code == 429]
    assert all("Too many messages" in r.json()["detail"] for r in limited)
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)


async def test_telegram_webhooks_on_two_replicas(shared: dict[str, str], tmp_path: Path) -> None:
    fake = FakeTelegram()
    async with serve(fake.app()) as api:
        env = shared | {
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": f"{api}/bot",
            "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_URL": PUBLIC_HOOK,
            "TELEGRAM_WEBHOOK_SECRET": "replica_secret",
        }  # fmt: skip
        async with replicas(tmp_path, env) as urls:
            # Healthy means the web door serves; each Telegram door sets the webhook after.
            hooks = [c.params["url"] for c in await fake.wait_calls("setWebhook", 2)]
            assert hooks == [PUBLIC_HOOK] * 2  # each replica says the balancer's address
            async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
                for n in range(20):  # the load balancer: alternate between the replicas
                    update: dict[str, Any] = {
                        "update_id": n + 1,
                        **fake.message("hello", user_id=5000 + n),
                    }
                    response = await client.post(
                        f"{urls[n % 2]}/telegram/webhook", content=json.dumps(update),
                        headers={"Content-Type": "application/json",
                                 "X-Telegram-Bot-Api-Secret-Token": "replica_secret"},
                    )  # fmt: skip
                    assert response.status_code == 200
            await fake.wait_sent(20, within=30)
            await asyncio.sleep(0.5)
    chats = sorted(
        int(c.params["chat_id"]) for c in fake.calls if c.method == "sendMessage" and c.ok
    )
    assert chats == [5000 + n for n in range(20)]  # every update answered exactly once


async def _tickets_taken(database_url: str) -> int:
    """Tickets handed out so far (ended ones included): the ticket sequence's position."""
    db = Database(database_url)
    try:
        async with db.read() as conn:
            taken = await conn.scalar(
                text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM turns_id_seq")
            )
            return int(taken or 0)
    finally:
        await db.close()


async def _in_arrival_order(
    sends: list[Coroutine[Any, Any, httpx.Response]], database_url: str
) -> list[httpx.Response]:
    """Start each request once the one before has taken its ticket, then await them all."""
    started: list[asyncio.Task[httpx.Response]] = []
    base = await _tickets_taken(database_url)
    for n, send in enumerate(sends, start=1):
        started.append(asyncio.create_task(send))
        async with asyncio.timeout(30):
            while await _tickets_taken(database_url) < base + n:
                assert not started[-1].done() or started[-1].result().status_code == 200
                await asyncio.sleep(0.01)
    return list(await asyncio.gather(*started))


async def _tickets(database_url: str) -> int:
    """Tickets stored right now (live or left by a dead replica)."""
    db = Database(database_url)
    try:
        async with db.read() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM turns")) or 0)
    finally:
        await db.close()


async def test_a_killed_replicas_ticket_is_released_at_once(
    shared: dict[str, str], tmp_path: Path
) -> None:
    hold = asyncio.Event()  # never set while the replica lives: its reply stays in progress
    fake = FakeModel(default=Plan(text="noted"))
    async with serve(fake.openai_app()) as model_url:
        env = shared | {
            "LLM_PROVIDER": "openai", "LLM_BASE_URL": f"{model_url}/v1", "LLM_MODEL": "fake",
            "LLM_API_KEY": "k", "LLM_TIMEOUT_S": "30", "LLM_MAX_RETRIES": "0",
            "HISTORY_MAX_MESSAGES": "200", "RATE_LIMIT_PER_MINUTE": "0",
        }  # fmt: skip
        reply_timeout_s = 30 + 2  # as bot.app derives it
        runs = [start_chatlink(tmp_path / f"replica{n}", env) for n in range(2)]
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
                for run in runs:
                    await run.healthy(client)
                auth = await token_for(client, runs[0].url)

                async def send(n: int, replica: int) -> httpx.Response:
                    return await client.post(
                        f"{runs[replica].url}/api/chat", json={"message": f"m{n}"}, headers=auth
                    )

                # One thread's order across both replicas, waits woken without a poll.
                fake.plans.append(Plan(text="noted", first_token_delay=0.5))
                pattern = [0, 1, 1, 0, 1, 0, 0, 1]

                ordered = await _in_arrival_order(
                    [send(n, pattern[n]) for n in range(len(pattern))], shared["DATABASE_URL"]
                )
                assert [r.status_code for r in ordered] == [200] * len(pattern)

                # Replica 0 is killed while its reply streams; replica 1 has the next message
                # of the thread queued behind it.
                streaming = Plan(text="never stored", hold=hold, hold_after=1)
                fake.plans.append(streaming)
                stuck = asyncio.create_task(send(8, 0))
                await runs[0].until(lambda: streaming.held == 1)
                queued = asyncio.create_task(send(9, 1))
                while await _tickets(shared["DATABASE_URL"]) < 2:
                    assert not queued.done()
                    await asyncio.sleep(0.05)
                runs[0].process.kill()
                runs[0].process.wait()
                with pytest.raises(httpx.TransportError):
                    await stuck
                # Answered without waiting out any age: within one reply's time.
                answered = await asyncio.wait_for(queued, reply_timeout_s)
                assert answered.status_code == 200 and answered.json()["reply"] == "noted"
                after = await asyncio.wait_for(send(10, 1), reply_timeout_s)
                assert after.status_code == 200
                history = await client.get(f"{runs[1].url}/api/history?limit=200", headers=auth)
            runs[1].process.terminate()
            assert await runs[1].exit_code(30) == 0, runs[1].log
        finally:
            hold.set()
            for run in runs:
                run.kill()
    stored = [(m["role"], m["content"]) for m in history.json()["messages"]]
    # The killed replica stored its message before the model was asked; its reply died with it.
    assert stored == [
        *(pair for n in range(8) for pair in (("user", f"m{n}"), ("assistant", "noted"))),
        ("user", "m8"), ("user", "m9"), ("assistant", "noted"), ("user", "m10"),
        ("assistant", "noted"),
    ]  # fmt: skip


async def test_stop_reaches_the_replica_writing_the_reply(
    shared: dict[str, str], tmp_path: Path
) -> None:
    slow = Plan(text="A long story that never ends", hold=asyncio.Event(), hold_after=1)
    fake = FakeModel(plans=[slow], default=Plan(text="Quick."))
    async with serve(fake.openai_app()) as model_url:
        env = shared | {
            "LLM_PROVIDER": "openai", "LLM_BASE_URL": f"{model_url}/v1", "LLM_MODEL": "fake",
            "LLM_API_KEY": "k", "RATE_LIMIT_PER_MINUTE": "0",
        }  # fmt: skip
        try:
            async with (
                replicas(tmp_path, env) as urls,
                httpx.AsyncClient(trust_env=False, timeout=60) as client,
            ):
                auth = await token_for(client, urls[0])
                nothing = await client.post(f"{urls[1]}/api/stop", headers=auth)
                assert nothing.json() == {"stopped": False}
                talking = asyncio.create_task(
                    client.post(f"{urls[0]}/api/chat", json={"message": "story"}, headers=auth)
                )
                await slow.at_hold.wait()
                stop = await client.post(f"{urls[1]}/api/stop", headers=auth)
                assert stop.json() == {"stopped": True}
                assert (await talking).json()["reply"].startswith("Stopped.")
                after = await client.post(
                    f"{urls[1]}/api/chat", json={"message": "next"}, headers=auth
                )
                assert after.json()["reply"] == "Quick."
                history = await client.get(f"{urls[0]}/api/history", headers=auth)
        finally:
            slow.hold.set()  # type: ignore[union-attr]
    stored = [(m["role"], m["content"]) for m in history.json()["messages"]]
    assert stored == [("user", "story"), ("user", "next"), ("assistant", "Quick.")]
