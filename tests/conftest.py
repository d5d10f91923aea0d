"""Shared fixtures: a fresh SQLite file per test, a clock the test controls, linked people."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.web import WebDoor
from bot.app import Chatlink, open_chatlink
from bot.messages import IncomingMessage, Platform
from bot.settings import Settings
from storage import Account
from tests.fakes import postgres_server

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings isolated from the environment and any .env file."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/data/chatlink.db",
        "secret_key": SECRET,
        "web_port": 0,  # any free port
        "rate_limit_per_minute": 0,  # tests send bursts; the limit has tests of its own
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set ON_BOTH_DATABASES run each database test on SQLite and PostgreSQL."""
    if getattr(metafunc.module, "ON_BOTH_DATABASES", False) and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str | None]:
    """One throwaway PostgreSQL cluster for the whole run (None when not installed)."""
    if postgres_server.BIN is None:
        yield None
        return
    with postgres_server.postgres_cluster() as url:
        yield url


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database a test runs on: SQLite unless a module asks for both (BOTH_DATABASES)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/data/chatlink.db"
    base = request.getfixturevalue("postgres")
    if base is None:
        pytest.skip(postgres_server.MISSING)
    return postgres_server.create_database(base, f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[Chatlink]:
    async with open_chatlink(settings, clock=clock) as chatlink:
        yield chatlink


@pytest.fixture
async def web(app: Chatlink) -> AsyncIterator[WebDoor]:
    """The web door served for real by uvicorn on 127.0.0.1 (a free port)."""
    door = WebDoor(app)
    await door.start()
    try:
        yield door
    finally:
        await door.stop()


@pytest.fixture
async def http(web: WebDoor) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client (with a cookie jar) pointed at the web door."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web.port}", trust_env=False, timeout=30
    ) as client:
        yield client


def dm(
    text: str | None,
    user_id: str = "1001",
    platform: Platform = Platform.TELEGRAM,
    display_name: str = "Alice A.",
) -> IncomingMessage:
    """A private message from one person."""
    return IncomingMessage(
        platform=platform,
        user_id=user_id,
        chat_id=user_id,
        is_private=True,
        text=text,
        display_name=display_name,
    )


def group(
    text: str | None,
    user_id: str = "1001",
    chat_id: str = "-500",
    platform: Platform = Platform.TELEGRAM,
    addressed: bool = True,
    bot_username: str | None = "chatlink_bot",
) -> IncomingMessage:
    """A group message from one person."""
    return IncomingMessage(
        platform=platform,
        user_id=user_id,
        chat_id=chat_id,
        is_private=False,
        text=text,
        display_name="Alice A.",
        addressed=addressed,
        bot_username=bot_username,
    )


async def link_account_first(
    app: Chatlink, username: str, user_id: str = "1001", platform: Platform = Platform.TELEGRAM
) -> Account:
    """Register `username` (if needed) and link a chat identity to it with `/link CODE`."""
    account = await app.accounts.by_username(username)
    if account is None:
        account = await app.accounts.register(username, PASSWORD)
    issued = await app.links.issue_for_account(account.id)
    replies = await app.core.handle(dm(f"/link {issued.code}", user_id, platform))
    assert "Linked" in replies[0].text, replies
    return account
