"""A chat door that cannot reach its platform at start keeps trying while the web serves, and
/healthz names it until it connects; a refused token still stops start-up in one line."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.fakes import discord_api, telegram_api
from tests.fakes.chatlink_process import start_chatlink
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.serve import serve
from tests.fakes.telegram_api import FakeTelegram
from tests.test_cli import CHATLINK, _env


async def test_telegram_down_at_start_then_up(tmp_path: Path) -> None:
    telegram = FakeTelegram()
    with socket.socket() as held:  # bound, not listening: connecting is refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        run = start_chatlink(
            tmp_path,
            {
                "TELEGRAM_BOT_TOKEN": telegram_api.TOKEN,
                "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
            },
        )
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                await run.until(lambda: "telegram: cannot reach the platform" in run.log, 60)
                await run.healthy(client)  # the web door serves meanwhile
                health = (await client.get(f"{run.url}/healthz")).json()
                assert health["status"] == "degraded"
                assert health["doors"]["telegram"].startswith("connecting (NetworkError")
                assert run.log.count("cannot reach the platform") == 1  # once per state
                assert "provider echo, model -; doors: telegram, web" in run.log

                async with serve(telegram.app(), sock=held):
                    await run.until(lambda: "telegram: connected after" in run.log, 90)
                    health = (await client.get(f"{run.url}/healthz")).json()
                    assert health["status"] == "ok" and "doors" not in health
                    await telegram.say("/start")
                    assert await telegram.wait_sent(1)
                    run.process.terminate()
                    assert await run.exit_code() == 0
            assert "Traceback" not in run.log
            assert telegram_api.TOKEN not in run.log
        finally:
            run.kill()


async def test_discord_down_at_start_then_up(tmp_path: Path) -> None:
    discord = FakeDiscord()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        run = start_chatlink(
            tmp_path,
            {
                "DISCORD_BOT_TOKEN": discord_api.TOKEN,
                "DISCORD_API_BASE_URL": f"{url}/api/v10",
                "DISCORD_GATEWAY_URL": url.replace("http://", "ws://") + "/gateway",
            },
        )
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                await run.until(lambda: "discord: cannot reach the platform" in run.log, 60)
                await run.healthy(client)
                health = (await client.get(f"{run.url}/healthz")).json()
                assert health["status"] == "degraded" and "discord" in health["doors"]
                async with serve(discord.app(), sock=held):
                    await run.until(lambda: "discord: connected after" in run.log, 90)
                    await discord.wait_connected()
                    await discord.command("help", {}, guild=False)
                    assert await discord.wait_for(1)
                    run.process.terminate()
                    assert await run.exit_code() == 0
            assert "Traceback" not in run.log
        finally:
            run.kill()


def test_a_malformed_token_is_refused_before_any_call(tmp_path: Path) -> None:
    for name, token in (("TELEGRAM_BOT_TOKEN", "not-a-token"), ("DISCORD_BOT_TOKEN", "Bot x y")):
        result = subprocess.run(
            [*CHATLINK, "run"], cwd=tmp_path, env=_env() | {name: token, "WEB_PORT": "0"},
            text=True, capture_output=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith(f"chatlink: setting {name}: ") and "does not look like" in line
        assert token not in line
