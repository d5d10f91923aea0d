"""Shared fixtures: a fresh SQLite file per test, a clock the test controls, a scripted model.

The helpers themselves live in tests/support/; the names below stay importable from here for
tests written before the move.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from adapters.telegram_bot import use_timedelta_durations
from adapters.web import WebDoor
from bot.app import Chatlink, open_chatlink
from bot.limits import Limiter
from bot.providers import ReplyProvider
from bot.settings import Settings
from tests.fakes import postgres_server
from tests.fakes.scripted_model import ScriptedModel
from tests.support.app import OpenApp
from tests.support.people import dm, group, link_account_first
from tests.support.settings import PASSWORD, SECRET, FakeClock, make_settings

__all__ = ["PASSWORD", "SECRET", "FakeClock", "dm", "group", "link_account_first", "make_settings"]

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


def pytest_configure(config: pytest.Config) -> None:
    """What `chatlink` sets at start-up (adapters/compose.py), set once per test process."""
    use_timedelta_durations()


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
def scripted() -> ScriptedModel:
    """The model behind `app`: echoes (as LLM_PROVIDER=echo) unless the test queues plans."""
    return ScriptedModel()


@pytest.fixture
def open_app(settings: Settings, clock: FakeClock, scripted: ScriptedModel) -> OpenApp:
    """open_chatlink on the test's settings (with overrides), clock and scripted model."""

    def opener(
        *,
        provider: ReplyProvider | None = None,
        limiter: Limiter | None = None,
        **overrides: object,
    ) -> AbstractAsyncContextManager[Chatlink]:
        # Validated again, so overrides take the types a setting has (a token, a path).
        chosen = Settings(_env_file=None, **(settings.model_dump() | overrides))  # type: ignore[call-arg]
        return open_chatlink(chosen, clock=clock, provider=provider or scripted, limiter=limiter)

    return opener


@pytest.fixture
async def app(open_app: OpenApp) -> AsyncIterator[Chatlink]:
    async with open_app() as chatlink:
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
