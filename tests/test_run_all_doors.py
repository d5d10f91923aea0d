"""`chatlink run` as a person starts it: all three doors in one process and one event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import PASSWORD
from tests.fakes import discord_api, telegram_api
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.serve import free_port, serve
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).parent.parent


async def test_one_process_serves_web_telegram_and_discord(tmp_path: Path) -> None:
    telegram, discord = FakeTelegram(), FakeDiscord()
    async with serve(telegram.app()) as telegram_url, serve(discord.app()) as discord_url:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_"))}
        env |= {
            "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost", "WEB_PORT": str(port),
            "TELEGRAM_BOT_TOKEN": telegram_api.TOKEN,
            "TELEGRAM_API_BASE_URL": f"{telegram_url}/bot",
            "DISCORD_BOT_TOKEN": discord_api.TOKEN,
            "DISCORD_API_BASE_URL": f"{discord_url}/api/v10",
            "DISCORD_GATEWAY_URL": discord_url.replace("http://", "ws://") + "/gateway",
        }  # fmt: skip
        with (tmp_path / "log").open("w") as log:
            process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited below
                [sys.executable, "-m", "adapters.compose", "run"], cwd=tmp_path, env=env,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            web = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (await client.get(f"{web}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert process.poll() is None, (tmp_path / "log").read_text()
                    assert time.monotonic() < deadline, (tmp_path / "log").read_text()
                    await asyncio.sleep(0.1)
                await discord.wait_connected()

                # an account on the web, linked from Telegram and from Discord
                await client.post(
                    f"{web}/api/register", json={"username": "alice", "password": PASSWORD}
                )
                token = (
                    await client.post(
                        f"{web}/api/token", data={"username": "alice", "password": PASSWORD}
                    )
                ).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                code = (await client.post(f"{web}/api/link-codes", headers=auth)).json()["code"]
                await telegram.say(f"/link {code}")
                assert "alice" in (await telegram.wait_sent(1))[-1]
                code = (await client.post(f"{web}/api/link-codes", headers=auth)).json()["code"]
                await discord.command("link", {"code": code}, guild=False)
                assert "alice" in (await discord.wait_for(1))[-1].body["content"]

                # one private thread through three doors
                await telegram.say("first, on Telegram")
                await telegram.wait_sent(2)
                await discord.message("second, on Discord")
                reply = (await discord.wait_for(2))[-1].body["content"]
                assert 'you said: "first, on Telegram"' in reply
                answer = await client.post(
                    f"{web}/api/chat", json={"message": "third, on the web"}, headers=auth
                )
                assert 'you said: "second, on Discord"' in answer.json()["reply"]
        finally:
            process.send_signal(signal.SIGTERM)
            code_ = process.wait(timeout=60)
        output = (tmp_path / "log").read_text()
        assert code_ == 0, output
        assert "telegram: stopped" in output and "discord: stopped" in output
        assert "web: stopped" in output and "stopped cleanly" in output
        assert telegram_api.TOKEN not in output and discord_api.TOKEN not in output
