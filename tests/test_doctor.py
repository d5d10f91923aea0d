"""`chatlink doctor` against working and broken set-ups (stand-ins on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes import discord_api, telegram_api
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.model_apis import FakeModel
from tests.fakes.serve import serve
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).parent.parent


async def doctor(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run a chatlink command without blocking the loop that serves the stand-ins."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.compose", *(args or ("doctor",)),
        cwd=cwd,
        env=base | {"PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"} | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


def table(output: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in output.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1] in ("pass", "FAIL"):
            rows[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return rows


async def test_everything_passes(tmp_path: Path) -> None:
    telegram, discord, model = FakeTelegram(), FakeDiscord(), FakeModel()
    async with (
        serve(telegram.app()) as telegram_url,
        serve(discord.app()) as discord_url,
        serve(model.openai_app()) as model_url,
    ):
        assert (await doctor(tmp_path, {}, "migrate"))[0] == 0  # a migrated database first
        code, output = await doctor(
            tmp_path,
            {
                "TELEGRAM_BOT_TOKEN": telegram_api.TOKEN,
                "TELEGRAM_API_BASE_URL": f"{telegram_url}/bot",
                "DISCORD_BOT_TOKEN": discord_api.TOKEN,
                "DISCORD_API_BASE_URL": f"{discord_url}/api/v10",
                "LLM_PROVIDER": "openai",
                "LLM_BASE_URL": f"{model_url}/v1",
                "LLM_MODEL": "fake",
            },
        )
    rows = table(output)
    assert code == 0, output
    assert set(rows) == {
        "settings",
        "database",
        "migrations",
        "model",
        "redis",
        "telegram",
        "discord",
    }
    assert all(status == "pass" for status, _ in rows.values()), rows
    assert rows["telegram"][1].startswith("@chatlink_bot")
    assert telegram_api.TOKEN not in output


async def test_broken_tokens_database_and_schema(tmp_path: Path) -> None:
    telegram, discord = FakeTelegram(token="other"), FakeDiscord(token="other")
    async with serve(telegram.app()) as telegram_url, serve(discord.app()) as discord_url:
        code, output = await doctor(
            tmp_path,
            {
                "TELEGRAM_BOT_TOKEN": telegram_api.TOKEN,
                "TELEGRAM_API_BASE_URL": f"{telegram_url}/bot",
                "DISCORD_BOT_TOKEN": discord_api.TOKEN,
                "DISCORD_API_BASE_URL": f"{discord_url}/api/v10",
                "LLM_PROVIDER": "openai",
                "LLM_BASE_URL": "http://127.0.0.1:9/v1",  # nothing listens there
                "LLM_MODEL": "fake",
                "LLM_MAX_RETRIES": "0",
            },
        )
    rows = table(output)
    assert code == 1
    assert rows["telegram"][0] == "FAIL" and "@BotFather" in rows["telegram"][1]
    assert rows["discord"][0] == "FAIL" and "developer portal" in rows["discord"][1]
    assert rows["migrations"][0] == "FAIL" and "chatlink migrate" in rows["migrations"][1]
    assert rows["model"][0] == "FAIL" and "LLM_BASE_URL" in rows["model"][1]
    assert "4 check(s) failed" in output


async def test_unusable_database_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    code, output = await doctor(
        tmp_path, {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/file/db/chatlink.db"}
    )
    assert code == 1
    assert "FAIL" in output and "DATABASE_URL" in output and "Traceback" not in output
