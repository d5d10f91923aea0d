"""A thread's settings (model, persona, system prompt) are cached only where the database
cannot change behind the cache unseen: SQLite's one writer, which notices other processes'
writes at its next commit. With replicas (PostgreSQL) every read goes to the database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event

from bot.app import Chatlink, open_chatlink
from bot.conversation.settings_cache import ThreadSettingsCache
from bot.settings import Settings
from storage import ThreadSettings, ThreadSettingsStore
from tests.support.people import dm, link_account_first
from tests.support.settings import FakeClock, make_settings

ON_BOTH_DATABASES = True


@pytest.fixture
async def sqlite_app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Chatlink]:
    async with open_chatlink(make_settings(tmp_path), clock=clock) as app:
        await link_account_first(app, "alice")
        yield app


def _settings_reads(app: Chatlink) -> list[str]:
    seen: list[str] = []

    def record(*args: object) -> None:
        if "threads.system_prompt" in str(args[2]):
            seen.append(str(args[2]))

    event.listen(app.db.reader.sync_engine, "before_cursor_execute", record)
    return seen


async def test_settings_are_read_once_then_kept_until_changed(sqlite_app: Chatlink) -> None:
    await sqlite_app.core.handle(dm("one"))
    reads = _settings_reads(sqlite_app)
    await sqlite_app.core.handle(dm("two"))
    await sqlite_app.core.handle(dm("three"))
    assert reads == []  # from the cache
    await sqlite_app.core.handle(dm("/system Answer in French."))
    [shown] = await sqlite_app.core.handle(dm("/system"))
    assert "Answer in French." in shown.text
    await sqlite_app.core.handle(dm("/system off"))
    [cleared] = await sqlite_app.core.handle(dm("/system"))
    assert "No custom system prompt" in cleared.text


async def test_a_change_by_another_process_reaches_the_next_message(sqlite_app: Chatlink) -> None:
    await sqlite_app.core.handle(dm("one"))
    [before] = await sqlite_app.core.handle(dm("/system"))
    assert "No custom system prompt" in before.text  # and now cached
    path = sqlite_app.db.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as other:  # as the CLI would, through its own connection
        other.execute("UPDATE threads SET system_prompt = 'Be brief.'")

    await sqlite_app.core.handle(dm("two"))  # its commit notices the other connection
    [after] = await sqlite_app.core.handle(dm("/system"))

    assert "Be brief." in after.text


class _HeldRead(ThreadSettingsStore):
    """The real store, whose first read waits at the database's answer until released."""

    def __init__(self, store: ThreadSettingsStore) -> None:
        super().__init__(store.db)
        self.answered = asyncio.Event()
        self.release = asyncio.Event()

    async def get(self, thread_id: int) -> ThreadSettings:
        found = await super().get(thread_id)
        if not self.answered.is_set():
            self.answered.set()
            await self.release.wait()
        return found


async def test_a_read_overtaken_by_a_change_leaves_nothing_stale(sqlite_app: Chatlink) -> None:
    await sqlite_app.core.handle(dm("one"))
    account = await sqlite_app.core.accounts.for_identity("telegram", "1001")
    assert account is not None
    thread_id = await sqlite_app.core.memory.thread(account.id, "private")
    store = _HeldRead(ThreadSettingsStore(sqlite_app.db))
    cache = ThreadSettingsCache(store, enabled=True)
    reading = asyncio.create_task(cache.get(thread_id))
    await store.answered.wait()  # it read the old settings (none) ...
    changed = await cache.change(thread_id, system_prompt="New.")  # ... a change came ...
    store.release.set()
    assert (await reading).system_prompt is None  # ... and then the old read ended
    assert changed.system_prompt == "New."
    assert (await cache.get(thread_id)).system_prompt == "New."
    cache.clear()
    assert len(cache) == 0
    assert (await cache.get(thread_id)).system_prompt == "New."  # read again


async def test_replicas_see_each_others_changes(
    backend: str, settings: Settings, clock: FakeClock
) -> None:
    if backend != "postgresql":
        pytest.skip("replicas share PostgreSQL; SQLite has one process")
    async with (
        open_chatlink(settings, clock=clock) as one,
        open_chatlink(settings, clock=clock) as two,
    ):
        assert not one.core.thread_settings.enabled  # no cache that could go stale
        await link_account_first(one, "alice")
        [before] = await two.core.handle(dm("/system"))
        assert "No custom system prompt" in before.text
        await one.core.handle(dm("/system Be brief."))
        [after] = await two.core.handle(dm("/system"))
        assert "Be brief." in after.text
