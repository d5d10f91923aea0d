"""Limits shared through Redis by two processes' worth of chatlink (REDIS_URL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app import open_chatlink
from bot.messages import ReplyKind
from tests.fakes.redis_server import MISSING, REDIS, redis_server
from tests.support.people import dm, link_account_first
from tests.support.settings import FakeClock, make_settings

pytestmark = pytest.mark.skipif(REDIS is None, reason=MISSING)


async def test_two_replicas_share_the_per_minute_limit(tmp_path: Path, clock: FakeClock) -> None:
    with redis_server(tmp_path) as url:
        settings = make_settings(tmp_path, rate_limit_per_minute=3, redis_url=url)
        async with (
            open_chatlink(settings, clock=clock) as one,
            open_chatlink(settings, clock=clock) as two,
        ):
            await link_account_first(one, "alice", "1001")
            kinds = []
            for n in range(5):
                replica = one if n % 2 else two
                [reply] = await replica.core.handle(dm(f"m{n}", "1001"))
                kinds.append(reply.kind)
            assert kinds == [ReplyKind.MODEL] * 3 + [ReplyKind.REJECTED] * 2


async def test_daily_budget_is_shared_too(tmp_path: Path, clock: FakeClock) -> None:
    with redis_server(tmp_path) as url:
        settings = make_settings(tmp_path, daily_token_budget=40, redis_url=url)
        async with (
            open_chatlink(settings, clock=clock) as one,
            open_chatlink(settings, clock=clock) as two,
        ):
            await link_account_first(one, "alice", "1001")
            await one.core.handle(dm("hello there, a first message", "1001"))
            await one.core.handle(dm("and a second one", "1001"))
            [whoami] = await two.core.handle(dm("/whoami", "1001"))
            used = re.search(r"Model tokens today: (\d+) of 40\.", whoami.text)
            assert used and int(used.group(1)) > 0, whoami.text  # the other replica counted


async def test_redis_down_lets_messages_through(tmp_path: Path, clock: FakeClock) -> None:
    from tests.fakes.serve import refusing_port

    async with open_chatlink(make_settings(tmp_path), clock=clock) as app:
        await link_account_first(app, "alice", "1001")
    with refusing_port() as port:
        dead = f"redis://127.0.0.1:{port}/0"  # nothing listens there
        settings = make_settings(tmp_path, rate_limit_per_minute=1, redis_url=dead)
        async with open_chatlink(settings, clock=clock) as app:
            for n in range(3):
                [reply] = await app.core.handle(dm(f"m{n}", "1001"))
                assert reply.kind is ReplyKind.MODEL
            [whoami] = await app.core.handle(dm("/whoami", "1001"))
            assert "Model tokens today: unknown right now." in whoami.text
