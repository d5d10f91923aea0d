"""Storage: migrations, SQLite settings, restarts, and the cost of reading recent history."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Chatlink, open_chatlink
from bot.settings import Settings
from storage import Database, MessageStore, current_revision, head_revision, upgrade
from tests.fakes.dead_replica import terminate_owner
from tests.support.people import dm, link_account_first
from tests.support.settings import PASSWORD, FakeClock, make_settings

# The storage and core suites run on SQLite and on PostgreSQL (see conftest).
ON_BOTH_DATABASES = True


async def test_migrations_are_current_and_idempotent(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        assert await current_revision(db) is None
        await upgrade(db)
        await upgrade(db)
        assert await current_revision(db) == head_revision() is not None
    finally:
        await db.close()


async def test_the_tables_are_what_the_migrations_make(settings: Settings) -> None:
    """storage/tables.py and storage/migrations/ describe the same schema: nothing for a new
    migration to add, drop or alter."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.tables import metadata

    db = Database(settings.database_url)
    try:
        await upgrade(db)
        async with db.write() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await db.close()
    assert differences == []


@pytest.fixture
async def sqlite_app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Chatlink]:
    async with open_chatlink(make_settings(tmp_path), clock=clock) as app:
        yield app


async def test_sqlite_is_in_wal_mode_with_foreign_keys(sqlite_app: Chatlink) -> None:
    path = sqlite_app.db.sqlite_path
    assert path is not None and path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"accounts", "identities", "link_codes", "threads", "messages"} <= tables


async def test_folder_is_created(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/a/b/c/chat.db")
    try:
        await upgrade(db)
        assert (tmp_path / "a/b/c/chat.db").exists()
    finally:
        await db.close()


async def test_latest_messages_query_uses_the_index(sqlite_app: Chatlink) -> None:
    # The plan must be an index range scan, never a scan of the table or a sort.
    path = sqlite_app.db.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as conn:
        plan = " | ".join(
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE thread_id = ? AND id < ? "
                "ORDER BY id DESC LIMIT 20",
                (1, 10**9),
            )
        )
    assert "USING INDEX ix_messages_thread_id_id" in plan or "USING COVERING INDEX" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


async def test_restart_keeps_accounts_links_and_memory(
    settings: Settings, clock: FakeClock
) -> None:
    async with open_chatlink(settings, clock=clock) as first:
        await link_account_first(first, "alice", "1001")
        await first.core.handle(dm("remember the blue door"))
    # a new engine on the same file, as after a process restart
    async with open_chatlink(settings, clock=clock) as second:
        await second.accounts.authenticate("alice", PASSWORD)
        [whoami] = await second.core.handle(dm("/whoami"))
        assert "You are alice" in whoami.text
        [reply] = await second.core.handle(dm("which door?"))
        assert 'you said: "remember the blue door"' in reply.text


async def test_reading_history_beyond_the_newest(app: Chatlink) -> None:
    alice = await link_account_first(app, "alice")
    for n in range(5):
        await app.core.handle(dm(f"m{n}"))
    thread = await app.core.memory.thread(alice.id, "private")
    newest = await app.core.memory.store.recent(thread, 2)
    older = await app.core.memory.store.recent(thread, 2, before_id=newest[0].id)
    assert newest[0].content == "m4" and newest[1].content.startswith("Echo: m4")
    assert older[0].content == "m3" and older[1].content.startswith("Echo: m3")
    assert older[-1].id < newest[0].id


async def test_in_memory_database_is_a_clear_configuration_error(tmp_path: Path) -> None:
    import pytest

    from bot.errors import ConfigError
    from tests.support.settings import make_settings

    settings = make_settings(tmp_path, database_url="sqlite+aiosqlite:///:memory:")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        async with open_chatlink(settings):
            pass


async def test_retention_prunes_in_batches_with_a_clock_we_control(
    app: Chatlink, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.operations import retention as retention_module
    from bot.operations.retention import Retention

    alice = await link_account_first(app, "alice")
    for n in range(5):
        await app.core.handle(dm(f"old {n}"))
    clock.advance(days=10)
    await app.core.handle(dm("recent"))
    retention = Retention(app.core.memory.store, days=7, clock=clock)
    assert await retention.due() == 10
    monkeypatch.setattr(retention_module, "BATCH", 3)
    assert await retention.prune() == 10
    assert await retention.due() == 0
    thread = await app.core.memory.thread(alice.id, "private")
    left = [m.content for m in await app.core.memory.store.recent(thread, 10)]
    assert left[0] == "recent" and len(left) == 2


async def test_turn_tickets_order_a_thread_across_processes(
    app: Chatlink, clock: FakeClock, backend: str, settings: Settings
) -> None:
    alice = await link_account_first(app, "alice")
    memory = app.core.memory
    thread = await memory.thread(alice.id, "private")
    first, second = await memory.take_turn(thread), await memory.take_turn(thread)
    assert first < second
    assert await memory.is_turn_of(thread, first)
    assert not await memory.is_turn_of(thread, second)  # waits for the older ticket
    await memory.end_turn(first)
    assert await memory.is_turn_of(thread, second)
    if backend == "sqlite":  # one process: no other process's ticket to outlive
        return
    other = Database(settings.database_url)  # another replica
    try:
        stale = await MessageStore(other).take_turn(thread, clock())
        await memory.end_turn(second)
        later = await memory.take_turn(thread)
        assert not await memory.is_turn_of(thread, later)
        await terminate_owner(app.db, stale)  # the older ticket's process died: it stops counting
        assert await memory.is_turn_of(thread, later)
        assert stale < later
    finally:
        await other.close()
