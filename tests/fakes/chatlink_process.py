"""`chatlink run` as a person starts it: a subprocess on a folder of its own, with its log."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from adapters.web.security import ApiTokens
from bot.app import open_chatlink
from bot.clock import utcnow
from tests.support.settings import PASSWORD, SECRET, make_settings

ROOT = Path(__file__).parent.parent.parent
START_TIMEOUT_S = 60
# What the web door logs once it listens (it binds WEB_PORT=0: a port of the kernel's choice).
LISTENING = re.compile(r"web page and API on http://[^:]+:(\d+)")


@dataclass
class ChatlinkRun:
    """One `chatlink run` process serving the web door on `url` (known once it listens)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT, the port the web door reported; call after healthy()."""
        listening = LISTENING.search(self.log)
        assert listening, f"the web door has not said where it listens:\n{self.log}"
        return f"http://127.0.0.1:{listening.group(1)}"

    async def until(self, condition: Callable[[], bool], limit_s: float = 30) -> None:
        """Wait (bounded) until `condition()` holds; fail with the log if the process died."""
        deadline = time.monotonic() + limit_s
        while not condition():
            assert self.process.poll() is None, f"chatlink run ended:\n{self.log}"
            assert time.monotonic() < deadline, f"gave up waiting:\n{self.log}"
            await asyncio.sleep(0.05)

    async def healthy(self, client: httpx.AsyncClient) -> None:
        """Wait until the web door listens and /healthz answers 200."""
        await self.until(lambda: LISTENING.search(self.log) is not None, START_TIMEOUT_S)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if (await client.get(f"{self.url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, f"chatlink run ended:\n{self.log}"
            assert time.monotonic() < deadline, f"chatlink run did not start:\n{self.log}"
            await asyncio.sleep(0.1)

    async def exit_code(self, limit_s: float = 60) -> int:
        """Wait (without blocking the event loop) for the process to end; its exit code."""
        deadline = time.monotonic() + limit_s
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"chatlink run did not exit in {limit_s} s:\n{self.log}")
            await asyncio.sleep(0.05)
        return code

    def kill(self) -> None:
        """SIGKILL if still running (clean-up after a failed test)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_chatlink(folder: Path, settings: dict[str, str], log_name: str = "log") -> ChatlinkRun:
    """Start `python -m adapters.compose run` in `folder` (data in folder/data, SQLite by
    default, as `make_settings(folder)`) with `settings` on top of a clean environment; the
    web door on a port of the kernel's choice."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_"))}
    env |= {
        "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost", "WEB_PORT": "0",
        "DATA_DIR": str(folder / "data"), "SECRET_KEY": SECRET,  # as make_settings(folder)
    }  # fmt: skip
    env |= settings
    log_path = folder / log_name
    with log_path.open("w") as log:  # the child keeps its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", "adapters.compose", "run"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ChatlinkRun(process, log_path)


async def accounts(folder: Path, usernames: list[str]) -> dict[str, dict[str, str]]:
    """Create the accounts in `folder`'s database before `chatlink run` starts, each with the
    Authorization header of an API token. They share one password hash: twenty argon2 hashes
    (and as many for logins) would cost this machine seconds of CPU for nothing under test."""
    settings = make_settings(folder)
    tokens = ApiTokens(SECRET, timedelta(hours=1))
    headers = {}
    async with open_chatlink(settings) as app:
        password_hash = await app.accounts.hasher.hash(PASSWORD)
        for name in usernames:
            account = await app.accounts.store.create(name, password_hash, utcnow())
            headers[name] = {"Authorization": f"Bearer {tokens.issue(account)}"}
    return headers
