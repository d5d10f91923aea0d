"""Lifecycle: nothing happens on import, what is passed in is used and left open, what
open_chatlink or a door changes it undoes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import discord
import pytest

from adapters.discord_bot import DiscordDoor
from bot.accounts import PasswordHasher
from bot.limits import Limiter, PerMinute
from bot.monitoring.metrics import METRICS, Metrics
from tests.fakes.discord_api import TOKEN, FakeDiscord
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.serve import serve
from tests.support.app import OpenApp
from tests.support.people import dm, link_account_first
from tests.support.settings import PASSWORD, FakeClock

ROOT = Path(__file__).parent.parent

# Imports every door and the core, then reports what an import could have changed.
PROBE = """
import os, threading
import discord
def addresses():
    return discord.http.Route.BASE, str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
before = addresses()
import adapters.compose, adapters.telegram_bot, adapters.discord_bot, adapters.web, bot.app
print(os.environ.get("PTB_TIMEDELTA"))
print(addresses() == before)
print(sorted(t.name for t in threading.enumerate()))
"""


def test_importing_the_app_changes_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PTB_TIMEDELTA"}
    env["PYTHONPATH"] = str(ROOT)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    ptb, addresses, threads = probe.stdout.splitlines()
    assert ptb == "None"  # set by adapters.compose.main, not by an import
    assert addresses == "True"
    assert threads == "['MainThread']"  # no hashing thread until a hasher is used


# What `chatlink run` imports with only the web door, and the libraries it must not load at
# start: the unconfigured doors' platforms, and what only a first use needs (file downloads,
# password hashing, tokens, page templates, Markdown, counts shared in Redis, metrics).
WEB_ONLY = """
import sys
import adapters.compose, adapters.web, bot.app
later = ("telegram", "discord", "openai", "anthropic", "mcp", "PIL", "pypdf", "httpx",
         "passlib", "jwt", "jinja2", "markdown_it", "limits", "prometheus_client")
print(sorted(name for name in later if name in sys.modules))
"""


def test_a_web_only_start_leaves_first_use_libraries_unloaded() -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    probe = subprocess.run(
        [sys.executable, "-c", WEB_ONLY], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


async def test_the_hasher_starts_its_thread_when_used_and_ends_it_at_close() -> None:
    def hashing_threads() -> int:
        return sum(t.name.startswith("argon2") for t in threading.enumerate())

    before = hashing_threads()
    hasher = PasswordHasher()
    assert hashing_threads() == before
    hashed = await hasher.hash(PASSWORD)
    assert await hasher.verify(PASSWORD, hashed) == (True, None)
    assert hashing_threads() == before + 1
    hasher.close()
    with pytest.raises(RuntimeError, match="closed"):
        await hasher.hash(PASSWORD)


async def test_a_provider_and_limiter_passed_in_are_used_and_left_open(
    open_app: OpenApp, clock: FakeClock
) -> None:
    class Model(ScriptedModel):
        closed = False

        async def close(self) -> None:
            self.closed = True

    model, limiter = Model(), Limiter(clock=clock)
    async with open_app(provider=model, limiter=limiter) as app:
        assert app.limiter is limiter and app.core.provider is model
        await link_account_first(app, "alice")
        [reply] = await app.core.handle(dm("hello"))
        assert reply.text.startswith("Echo: hello")
    assert not model.closed  # the caller's to close
    # The limiter still counts, on the clock it was given.
    once = PerMinute(1)
    await limiter.hit(once, "tries", "k")
    clock.advance(seconds=61)
    await limiter.hit(once, "tries", "k")


async def test_the_discord_door_points_discord_py_at_its_servers_only_while_it_runs(
    open_app: OpenApp,
) -> None:
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake = FakeDiscord()
    async with (
        serve(fake.app()) as url,
        open_app(
            discord_bot_token=TOKEN,
            discord_api_base_url=f"{url}/api/v10",
            discord_gateway_url=url.replace("http://", "ws://") + "/gateway",
        ) as app,
    ):
        door = DiscordDoor(app)
        assert base == discord.http.Route.BASE  # building a door changes nothing
        await door.start()
        try:
            assert f"{url}/api/v10" == discord.http.Route.BASE
        finally:
            await door.stop()
    assert base == discord.http.Route.BASE
    assert gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def test_metrics_made_at_first_use_are_all_scraped_from_the_start() -> None:
    metrics = Metrics()
    families = {
        line.split()[2] for line in metrics.render().decode().splitlines() if line[:6] == "# TYPE"
    }
    assert {f"chatlink_{name}" for name in METRICS} <= {
        family.removesuffix("_total") for family in families
    }
    metrics.rate_limited.inc()
    assert "chatlink_rate_limited_total 1.0" in metrics.render().decode()
