"""The message path's shortcuts: group commit, the history and account caches, local limits.

Each shortcut must give the same answers as the database would: these tests change the
database behind the caches' backs (another connection, as the CLI does) and check that the
next message sees it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from bot.app import Chatlink, open_chatlink
from bot.conversation.history_cache import MESSAGE_OVERHEAD, HistoryCache
from bot.limits.local import LocalCounts
from bot.limits.windows import PerDay, PerMinute
from storage import Account, StoredMessage
from storage.accounts import insert_identity
from storage.group_read import GroupRead
from storage.tables import messages
from storage.waking import WAKE_SLICE
from tests.support.people import dm, link_account_first
from tests.support.settings import FakeClock, make_settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def sqlite_app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Chatlink]:
    async with open_chatlink(make_settings(tmp_path), clock=clock) as app:
        yield app


def _statements(app: Chatlink, *, reader: bool = False) -> list[str]:
    """Every SQL statement the writer connection (or the readers) runs from now on."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    engine = app.db.reader if reader else app.db.writer
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


async def _accounts(app: Chatlink, count: int) -> list[Account]:
    return [await app.accounts.register(f"user{n}", "a long password") for n in range(count)]


async def test_concurrent_messages_share_commits_and_each_gets_its_own_row(
    sqlite_app: Chatlink,
) -> None:
    store = sqlite_app.core.memory.store
    accounts = await _accounts(sqlite_app, 30)
    threads = [(await store.open_thread(a.id, "private", NOW))[0] for a in accounts]
    seen = _statements(sqlite_app)

    stored = await asyncio.gather(
        *(store.append(t, "user", f"hello from {t}", "web", NOW) for t in threads)
    )

    begins = [s for s in seen if s.startswith("BEGIN")]
    assert 1 <= len(begins) < len(threads)  # shared transactions, not one each
    assert [m.thread_id for m in stored] == threads
    assert len({m.id for m in stored}) == len(threads)
    for message in stored:  # each id names the row its caller stored
        [row] = await store.recent(message.thread_id, 5)
        assert (row.id, row.content) == (message.id, f"hello from {message.thread_id}")


async def test_a_big_commit_wakes_its_callers_a_slice_each_turn(sqlite_app: Chatlink) -> None:
    """A thousand callers of one commit all woken in one turn of the event loop would run
    their next steps back to back while every stream and timer waits; a few hundred are
    woken WAKE_SLICE at a time, a commit of fewer all at once (no turn more to wait)."""
    store = sqlite_app.core.memory.store
    account = await sqlite_app.accounts.register("alice", "a long password")
    thread, _ = await store.open_thread(account.id, "private", NOW)
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    async def append(n: int) -> int:
        await store.append(thread, "user", f"m{n}", "web", NOW)
        return turns

    ticker = asyncio.create_task(count_turns())
    try:
        for count in (WAKE_SLICE, 3 * WAKE_SLICE + 1):
            seen = _statements(sqlite_app)
            woken = await asyncio.gather(*(append(n) for n in range(count)))
            per_turn = Counter(woken)
            if count <= WAKE_SLICE:
                assert len(per_turn) == 1
            else:
                assert len([s for s in seen if s.startswith("BEGIN")]) == 1  # one commit
                assert max(per_turn.values()) <= WAKE_SLICE and len(per_turn) >= 4
            assert woken == sorted(woken)  # in the order they came
    finally:
        ticker.cancel()
    assert len(await store.recent(thread, 1000)) == 4 * WAKE_SLICE + 1


async def test_a_bad_row_fails_only_its_own_caller(sqlite_app: Chatlink) -> None:
    store = sqlite_app.core.memory.store
    account = await sqlite_app.accounts.register("alice", "a long password")
    thread, _ = await store.open_thread(account.id, "private", NOW)

    outcomes = await asyncio.gather(
        store.append(thread, "user", "first", "web", NOW),
        store.append(999_999, "user", "no such thread", "web", NOW),  # foreign key refuses
        store.append(thread, "user", "second", "web", NOW),
        return_exceptions=True,
    )

    assert isinstance(outcomes[1], Exception)
    assert [m.content for m in await store.recent(thread, 10)] == ["first", "second"]


async def test_a_caller_that_gives_up_before_its_commit_stores_nothing(
    sqlite_app: Chatlink,
) -> None:
    store = sqlite_app.core.memory.store
    account = await sqlite_app.accounts.register("alice", "a long password")
    thread, _ = await store.open_thread(account.id, "private", NOW)
    first = asyncio.create_task(store.append(thread, "user", "kept", "web", NOW))
    await asyncio.sleep(0)  # its commit is under way
    second = asyncio.create_task(store.append(thread, "user", "given up", "web", NOW))
    await asyncio.sleep(0)
    second.cancel()  # still waiting for the next commit
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    await store.append(thread, "user", "after", "web", NOW)
    assert [m.content for m in await store.recent(thread, 10)] == ["kept", "after"]


async def test_thread_lookups_at_once_share_queries_and_each_gets_its_own_answer(
    sqlite_app: Chatlink,
) -> None:
    store = sqlite_app.core.memory.store
    accounts = await _accounts(sqlite_app, 30)
    made = {a.id: (await store.open_thread(a.id, "private", NOW))[0] for a in accounts[::2]}
    group, _ = await store.open_thread(accounts[1].id, "telegram:-5", NOW)
    seen = _statements(sqlite_app, reader=True)

    asked = [(a.id, "private") for a in accounts] + [(accounts[0].id, "telegram:-5")]
    found = await asyncio.gather(*(store.existing_thread_id(*key) for key in asked))

    lookups = [s for s in seen if "FROM threads" in s]
    assert 1 <= len(lookups) <= 3  # one query for the lot (or a few), not one each
    assert found[:30] == [made.get(a.id) for a in accounts]
    # Account 0 and "telegram:-5" were both in the query, and each has a thread, but not
    # together: no answer.
    assert found[30] is None
    assert await store.existing_thread_id(accounts[1].id, "telegram:-5") == group


async def test_account_lookups_at_once_share_queries_and_each_gets_its_own_answer(
    sqlite_app: Chatlink,
) -> None:
    """A thousand sockets opening at once each ask for their account (by id), and a
    thousand Telegram updates for theirs (by identity)."""
    store = sqlite_app.accounts.store
    accounts = await _accounts(sqlite_app, 30)
    async with sqlite_app.db.write() as conn:
        for n, account in enumerate(accounts):
            platform = "telegram" if n % 2 else "discord"
            await insert_identity(conn, account.id, platform, f"{1000 + n}", "", NOW)
    seen = _statements(sqlite_app, reader=True)

    ids = [a.id for a in accounts] + [999_999]
    by_id, by_identity = await asyncio.gather(
        asyncio.gather(*(store.by_id(i) for i in ids)),
        asyncio.gather(
            *(store.account_for_identity("telegram", f"{1000 + n}") for n in range(30)),
            # Both user ids are linked, and both platforms, but not in these pairs.
            store.account_for_identity("discord", "1001"),
            store.account_for_identity("telegram", "1000"),
        ),
    )

    queries = [s for s in seen if "FROM accounts" in s]
    assert 2 <= len(queries) <= 6  # a query or a few for each kind, not one a lookup
    assert [a.username if a else None for a in by_id] == [a.username for a in accounts] + [None]
    assert [a.username if a else None for a in by_identity] == [
        a.username if n % 2 else None for n, a in enumerate(accounts)
    ] + [None, None]


async def test_a_failed_group_read_fails_its_callers_only_and_the_next_one_works(
    sqlite_app: Chatlink,
) -> None:
    queries: list[list[str]] = []
    broken = True

    async def fetch(conn: object, keys: list[str]) -> dict[str, str]:
        queries.append(keys)
        await asyncio.sleep(0)
        if broken:
            raise RuntimeError("the database went away")
        return {key: key.upper() for key in keys if key != "missing"}

    lookups: GroupRead[str, str] = GroupRead(sqlite_app.db, fetch, batch_keys=2)
    outcomes = await asyncio.gather(lookups.get("a"), lookups.get("b"), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    broken = False
    given_up = asyncio.create_task(lookups.get("given up"))
    await asyncio.sleep(0)
    given_up.cancel()  # before its query went out: it is not asked for
    found = await asyncio.gather(*(lookups.get(k) for k in ("c", "d", "c", "missing", "e")))
    assert found == ["C", "D", "C", None, "E"]
    assert queries == [["a", "b"], ["c", "d"], ["missing", "e"]]  # two keys a query here


async def test_history_comes_from_the_cache_once_a_thread_is_read(sqlite_app: Chatlink) -> None:
    await link_account_first(sqlite_app, "alice")
    await sqlite_app.core.handle(dm("one"))
    seen = _statements(sqlite_app)
    reader: list[str] = []
    event.listen(
        sqlite_app.db.reader.sync_engine,
        "before_cursor_execute",
        lambda *args: reader.append(str(args[2])),
    )

    [reply] = await sqlite_app.core.handle(dm("two"))

    assert 'said: "one"' in reply.text
    assert not [s for s in reader if "FROM messages" in s]  # history: no query
    assert len([s for s in seen if s.startswith("INSERT INTO messages")]) == 2


async def test_writes_by_another_process_reach_the_next_message(sqlite_app: Chatlink) -> None:
    """The CLI (`chatlink prune`, `user disable`) writes through its own connection."""
    await link_account_first(sqlite_app, "alice")
    await sqlite_app.core.handle(dm("secret plan"))
    [reply] = await sqlite_app.core.handle(dm("two"))
    assert "secret plan" in reply.text
    path = sqlite_app.db.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as other:
        other.execute("DELETE FROM messages")

    await sqlite_app.core.handle(dm("three"))  # its commit notices the other connection
    [reply] = await sqlite_app.core.handle(dm("four"))

    assert "I remember 2 earlier messages" in reply.text  # "three" and its reply, no more


async def test_a_disabled_account_is_refused_at_once_despite_the_cache(
    sqlite_app: Chatlink,
) -> None:
    await link_account_first(sqlite_app, "alice")
    await sqlite_app.core.handle(dm("hello"))  # account now cached
    await sqlite_app.admin.set_disabled("test", "alice", True)
    async with sqlite_app.db.read() as conn:
        before = await conn.scalar(select(func.count()).select_from(messages))

    [reply] = await sqlite_app.core.handle(dm("still there?"))

    assert "disabled" in reply.text.lower()
    async with sqlite_app.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(messages)) == before


def _message(thread: int, n: int, text: str) -> StoredMessage:
    return StoredMessage(n, thread, "user", text, "web", NOW)


def test_history_cache_keeps_the_latest_messages_within_its_size() -> None:
    cache = HistoryCache(max_bytes=10 * (MESSAGE_OVERHEAD + 10), depth=3)
    cache.put(1, None, [_message(1, n, "x" * 10) for n in range(5)])
    assert [m.id for m in cache.get(1).messages] == [2, 3, 4]  # type: ignore[union-attr]
    cache.append(_message(1, 5, "x" * 10))
    assert [m.id for m in cache.get(1).messages] == [3, 4, 5]  # type: ignore[union-attr]
    cache.append(_message(2, 6, "not kept"))  # thread 2 was never read: not cached
    assert cache.get(2) is None

    for thread in range(2, 6):  # 3 threads x 3 messages fill it; older threads go first
        cache.put(thread, None, [_message(thread, n, "x" * 10) for n in range(3)])
    assert len(cache) == 3 and cache.get(1) is None and cache.get(2) is None
    assert cache.size <= cache.max_bytes

    cache.put(9, None, [_message(9, 1, "y" * 100_000)])  # larger than the whole cache
    assert cache.get(9) is None and cache.size <= cache.max_bytes


def test_history_cache_of_size_zero_keeps_nothing() -> None:
    cache = HistoryCache(max_bytes=0, depth=3)
    cache.put(1, "summary", [_message(1, 1, "hi")])
    assert cache.get(1) is None and len(cache) == 0


async def test_local_limits_refuse_with_when_to_retry_and_forget_spent_keys() -> None:
    now = [1_000.0]
    counts = LocalCounts(clock=lambda: now[0])
    per_minute = PerMinute(2)
    assert await counts.hit(per_minute, ("messages", "1")) is None
    now[0] += 10
    assert await counts.hit(per_minute, ("messages", "1")) is None
    retry = await counts.hit(per_minute, ("messages", "1"))
    assert retry == pytest.approx(50.0)  # the first event leaves the window in 50 s
    assert await counts.hit(per_minute, ("messages", "2")) is None  # other keys unaffected
    now[0] += 51
    assert await counts.hit(per_minute, ("messages", "1")) is None

    budget = PerDay(100)
    await counts.spend(budget, 70, ("tokens", "1"))
    await counts.spend(budget, 70, ("tokens", "1"))
    remaining, reset = await counts.remaining(budget, ("tokens", "1"))
    assert remaining == 0 and reset > now[0]

    for n in range(1_000):  # many accounts, once each
        assert await counts.hit(per_minute, ("messages", f"other{n}")) is None
    assert len(counts) > 1_000
    now[0] += 30
    await counts.hit(per_minute, ("messages", "x"))
    assert len(counts) > 1_000  # still within their minute: kept
    now[0] += 86_400
    assert await counts.hit(per_minute, ("messages", "1")) is None
    assert len(counts) == 1  # everything spent was swept
