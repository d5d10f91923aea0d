"""The backend seam: one backend per database URL, and its turn tickets (a waiter is woken
when the older ticket ends, or when its replica dies)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text

from bot.app import Chatlink
from bot.settings import Settings
from storage import Database, MessageStore
from storage.backends import PostgresBackend, SqliteBackend
from tests.fakes.dead_replica import terminate_owner
from tests.support.people import link_account_first
from tests.support.settings import FakeClock

ON_BOTH_DATABASES = True
WITHIN_S = 10  # generous: a wake-up takes milliseconds


async def test_the_database_url_chooses_the_backend(settings: Settings, backend: str) -> None:
    db = Database(settings.database_url)
    try:
        expected = {"sqlite": SqliteBackend, "postgresql": PostgresBackend}[backend]
        assert isinstance(db.backend, expected)
        # Only the one writer's caches may stand for what is stored.
        assert MessageStore(db).caches_may_stand_for_database == (backend == "sqlite")
    finally:
        await db.close()


def test_an_unsupported_database_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        Database("mysql+aiomysql://chatlink@127.0.0.1/chatlink")


def _looks(app: Chatlink) -> list[str]:
    """Every statement from now on that looks for older live tickets (not the sweep of
    dead replicas' tickets, which opening the session starts and which may run late)."""
    seen: list[str] = []

    def record(*args: object) -> None:
        statement = str(args[2])
        if "pg_locks" in statement and not statement.startswith("DELETE"):
            seen.append(statement)

    event.listen(app.db.writer.sync_engine, "before_cursor_execute", record)
    return seen


@pytest.fixture
async def other(app: Chatlink, settings: Settings, backend: str) -> AsyncIterator[MessageStore]:
    """Where the older ticket comes from: another replica on PostgreSQL; on SQLite, which
    serves one process, the same one."""
    if backend == "sqlite":
        yield app.core.memory.store
        return
    db = Database(settings.database_url)
    try:
        yield MessageStore(db)
    finally:
        await db.close()


async def test_a_waiter_is_woken_when_the_older_ticket_ends(
    app: Chatlink, other: MessageStore, clock: FakeClock, backend: str
) -> None:
    alice = await link_account_first(app, "alice")
    memory = app.core.memory
    thread = await memory.thread(alice.id, "private")
    older = await other.take_turn(thread, clock())
    mine = await memory.take_turn(thread)
    looks = _looks(app)
    waiting = asyncio.create_task(memory.wait_for_turn(thread, mine))
    # It looked once and now waits: for a while nothing happens, not even another look.
    done, _ = await asyncio.wait({waiting}, timeout=0.5)
    assert not done
    if backend == "postgresql":
        assert len(looks) == 1  # a poll would have looked every few milliseconds
    await other.end_turn(older)  # on PostgreSQL: a NOTIFY from the other replica
    await asyncio.wait_for(waiting, WITHIN_S)
    if backend == "postgresql":
        assert len(looks) == 2  # woken once, looked once more, and found its turn


async def test_a_waiter_woken_too_early_waits_again(app: Chatlink, clock: FakeClock) -> None:
    alice = await link_account_first(app, "alice")
    memory = app.core.memory
    thread = await memory.thread(alice.id, "private")
    first, second, third = [await memory.take_turn(thread) for _ in range(3)]
    waiting = asyncio.create_task(memory.wait_for_turn(thread, third))
    await memory.end_turn(second)  # a wake-up, but the oldest ticket still lives
    done, _ = await asyncio.wait({waiting}, timeout=0.5)
    assert not done
    await memory.end_turn(first)
    await asyncio.wait_for(waiting, WITHIN_S)
    assert await memory.is_turn_of(thread, third)


async def test_a_dead_replicas_ticket_is_released_by_the_database(
    app: Chatlink, other: MessageStore, clock: FakeClock, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("one process: no replica of its own to die")
    alice = await link_account_first(app, "alice")
    memory = app.core.memory
    thread = await memory.thread(alice.id, "private")
    older = await other.take_turn(thread, clock())
    mine = await memory.take_turn(thread)
    waiting = asyncio.create_task(memory.wait_for_turn(thread, mine))
    done, _ = await asyncio.wait({waiting}, timeout=0.5)
    assert not done
    await terminate_owner(app.db, older)  # no end_turn: the replica is gone
    await asyncio.wait_for(waiting, WITHIN_S)
    assert await memory.is_turn_of(thread, mine)


async def _stored(db: Database, ticket: int) -> bool:
    async with db.read() as conn:
        found = await conn.scalar(text("SELECT count(*) FROM turns WHERE id = :id"), {"id": ticket})
    return bool(found)


async def test_tickets_of_dead_replicas_are_cleared_when_a_replica_starts(
    app: Chatlink, settings: Settings, clock: FakeClock, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("one process: tickets are never stored")
    alice = await link_account_first(app, "alice")
    thread = await app.core.memory.thread(alice.id, "private")
    first = Database(settings.database_url)
    try:
        dead = await MessageStore(first).take_turn(thread, clock())
        # Its own start-up sweep done first: that sweep, run after the kill, would clear it.
        await first.backend.turns.settled()
        await terminate_owner(app.db, dead)
    finally:
        await first.close()
    assert await _stored(app.db, dead)  # left behind, though it no longer counts
    second = Database(settings.database_url)
    try:
        await MessageStore(second).take_turn(thread, clock())  # opens its session
    finally:
        await second.close()
    assert not await _stored(app.db, dead)
