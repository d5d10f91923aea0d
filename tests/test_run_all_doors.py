"""`chatlink run` as a person starts it: all three doors in one process and one event loop."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.fakes import discord_api, telegram_api
from tests.fakes.chatlink_process import start_chatlink
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.serve import serve
from tests.fakes.telegram_api import FakeTelegram
from tests.support.settings import PASSWORD


async def test_one_process_serves_web_telegram_and_discord(tmp_path: Path) -> None:
    telegram, discord = FakeTelegram(), FakeDiscord()
    async with serve(telegram.app()) as telegram_url, serve(discord.app()) as discord_url:
        run = start_chatlink(
            tmp_path,
            {
                "TELEGRAM_BOT_TOKEN": telegram_api.TOKEN,
                "TELEGRAM_API_BASE_URL": f"{telegram_url}/bot",
                "DISCORD_BOT_TOKEN": discord_api.TOKEN,
                "DISCORD_API_BASE_URL": f"{discord_url}/api/v10",
                "DISCORD_GATEWAY_URL": discord_url.replace("http://", "ws://") + "/gateway",
            },
        )
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                await run.healthy(client)
                web = run.url
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
            run.process.send_signal(signal.SIGTERM)
            code_ = await run.exit_code(60)
        output = run.log
        assert code_ == 0, output
        assert "telegram: stopped" in output and "discord: stopped" in output
        assert "web: stopped" in output and "stopped cleanly" in output
        assert telegram_api.TOKEN not in output and discord_api.TOKEN not in output
