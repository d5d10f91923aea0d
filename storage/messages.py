"""Conversation threads and their messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.group_commit import GroupCommit, Row, inserting
from storage.group_read import GroupRead, covering
from storage.records import StoredMessage, ThreadState
from storage.tables import media, messages, threads

# An image to store with a message: (mime, width, height, bytes).
NewImage = tuple[str, int, int, bytes]


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        row.id, row.thread_id, row.role, row.content, row.platform, row.created_at, row.images
    )


async def _mark_notices(conn: AsyncConnection, rows: list[Row]) -> list[int]:
    await conn.execute(
        update(threads)
        .where(threads.c.id.in_([row["id"] for row in rows]))
        .values(context_notice_sent=True)
    )
    return [0] * len(rows)


async def _move_windows(conn: AsyncConnection, rows: list[Row]) -> list[int]:
    for row in rows:  # a handful at a time, once every few turns per thread
        await conn.execute(
            update(threads)
            .where(threads.c.id == row["id"])
            .where(threads.c.window_from.is_(None) | (threads.c.window_from < row["from_id"]))
            .values(window_from=row["from_id"])
        )
    return [0] * len(rows)


ThreadKey = tuple[int, str]  # (account id, thread key)


async def _thread_ids(conn: AsyncConnection, wanted: list[ThreadKey]) -> dict[ThreadKey, int]:
    rows = await conn.execute(
        select(threads.c.account_id, threads.c.key, threads.c.id).where(
            *covering(threads.c.account_id, threads.c.key, wanted)
        )
    )
    asked = set(wanted)
    return {(row.account_id, row.key): row.id for row in rows if (row.account_id, row.key) in asked}


class MessageStore:
    """Queries on threads and messages."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._watchers: list[Callable[[], None]] = []
        self._new_messages = GroupCommit(db, inserting(db, messages), self._changed_elsewhere)
        self._new_threads = GroupCommit(db, inserting(db, threads), self._changed_elsewhere)
        self._thread_lookups: GroupRead[ThreadKey, int] = GroupRead(db, _thread_ids)
        self._notices = GroupCommit(db, _mark_notices, self._changed_elsewhere)
        self._windows = GroupCommit(db, _move_windows, self._changed_elsewhere)

    @property
    def caches_may_stand_for_database(self) -> bool:
        """Whether this process is the one writer of messages, so that what it wrote may be
        cached and served in place of a query; other processes' writes are still noticed
        (see `watch`)."""
        return self.db.backend.caches_may_stand_for_database

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the database changed behind this process's caches: messages
        pruned, or another process (the CLI) wrote anything (seen at the next commit, where
        the backend can tell)."""
        self._watchers.append(callback)

    def _changed_elsewhere(self) -> None:
        for callback in self._watchers:
            callback()

    def exclusive(self, account_id: int) -> AbstractAsyncContextManager[None]:
        """A lock on one account's conversations, across every replica."""
        return self.db.exclusive(account_id)

    async def open_thread(self, account_id: int, key: str, now: datetime) -> tuple[int, bool]:
        """The id of an account's thread with this key, and whether it was created just now.

        Lookups and new threads are grouped: a thousand conversations starting at once
        share a few queries and a few transactions.
        """
        found = await self._thread_lookups.get((account_id, key))
        if found is not None:
            return found, False
        try:
            row = {"account_id": account_id, "key": key, "created_at": now}
            return await self._new_threads.write(row), True
        except IntegrityError:  # created meanwhile (by another replica)
            found = await self._thread_lookups.get((account_id, key))
            if found is None:
                raise
            return found, False

    async def existing_thread_id(self, account_id: int, key: str) -> int | None:
        """The id of an account's thread with this key, if it exists."""
        return await self._thread_lookups.get((account_id, key))

    async def append(
        self, thread_id: int, role: str, content: str, platform: str, now: datetime
    ) -> StoredMessage:
        """Store one message; committed when this returns (together with the messages
        stored at the same moment: one transaction for all of them)."""
        new_id = await self._new_messages.write(
            {
                "thread_id": thread_id,
                "role": role,
                "content": content,
                "platform": platform,
                "created_at": now,
            }
        )
        return StoredMessage(new_id, thread_id, role, content, platform, now)

    async def append_with_images(
        self,
        thread_id: int,
        role: str,
        content: str,
        platform: str,
        now: datetime,
        images: Sequence[NewImage],
    ) -> StoredMessage:
        """Store a message and its images in one transaction: both or neither. Not
        group-committed: rare, and each may be a megabyte."""
        row = {
            "thread_id": thread_id,
            "role": role,
            "content": content,
            "platform": platform,
            "created_at": now,
            "images": len(images),
        }
        async with self.db.write() as conn:
            [new_id] = await self.db.backend.insert_ids(conn, messages, [row])
            await conn.execute(
                insert(media),
                [
                    {
                        "message_id": new_id,
                        "position": position,
                        "mime": mime,
                        "width": width,
                        "height": height,
                        "data": data,
                    }
                    for position, (mime, width, height, data) in enumerate(images)
                ],
            )
        return StoredMessage(new_id, thread_id, role, content, platform, now, len(images))

    def on_stop(self, callback: Callable[[int], object]) -> None:
        """Call `callback(thread_id)` when another replica asks to stop a thread's reply."""
        self.db.backend.turns.on_stop = callback

    async def ask_to_stop(self, thread_id: int) -> bool:
        """Ask the other replicas to stop the thread's reply; whether one may be writing it."""
        return await self.db.backend.turns.ask_to_stop(thread_id)

    async def take_turn(self, thread_id: int, now: datetime) -> int:
        """A ticket for the thread's queue; tickets are served in the order taken."""
        return await self.db.backend.turns.take(thread_id, now)

    async def is_turn_of(self, thread_id: int, ticket: int) -> bool:
        """Whether no older live ticket of the thread remains (a ticket lives as long as the
        process that took it)."""
        return await self.db.backend.turns.is_first(thread_id, ticket)

    async def wait_turn(self, thread_id: int, ticket: int) -> None:
        """Return once no older live ticket of the thread remains: woken when one ends or
        its process dies, not polled."""
        await self.db.backend.turns.wait(thread_id, ticket)

    async def end_turn(self, ticket: int) -> None:
        """The ticket's turn is over."""
        await self.db.backend.turns.end(ticket)

    async def recent(
        self, thread_id: int, limit: int, *, before_id: int | None = None
    ) -> list[StoredMessage]:
        """The latest `limit` messages of a thread (older than `before_id`), oldest first."""
        query = select(messages).where(messages.c.thread_id == thread_id)
        if before_id is not None:
            query = query.where(messages.c.id < before_id)
        query = query.order_by(messages.c.id.desc()).limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_message(r) for r in reversed(rows)]

    async def all_of_account(self, account_id: int) -> list[tuple[str, StoredMessage]]:
        """Every message of an account, with its thread key, oldest first."""
        query = (
            select(threads.c.key, messages)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(threads.c.account_id == account_id)
            .order_by(messages.c.id)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(row.key, _message(row)) for row in rows]

    async def clear_thread(self, thread_id: int) -> int:
        """Delete every message of one thread; returns how many went."""
        async with self.db.write() as conn:
            result = await conn.execute(delete(messages).where(messages.c.thread_id == thread_id))
            await conn.execute(
                update(threads)
                .where(threads.c.id == thread_id)
                .values(
                    context_notice_sent=False, summary=None, summary_until=None, window_from=None
                )
            )
        return int(result.rowcount or 0)

    async def last_exchange(self, thread_id: int) -> list[StoredMessage]:
        """The thread's last user message and every message after it, oldest first."""
        last_user = (
            select(func.max(messages.c.id))
            .where(messages.c.thread_id == thread_id, messages.c.role == "user")
            .scalar_subquery()
        )
        query = (
            select(messages)
            .where(messages.c.thread_id == thread_id, messages.c.id >= last_user)
            .order_by(messages.c.id)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_message(r) for r in rows]

    async def delete_ids(self, thread_id: int, ids: list[int]) -> int:
        """Delete these messages of one thread; returns how many went."""
        if not ids:
            return 0
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(messages).where(messages.c.thread_id == thread_id, messages.c.id.in_(ids))
            )
        return int(result.rowcount or 0)

    async def thread_state(self, thread_id: int) -> ThreadState:
        """The thread's summary (and the last message it covers) and whether the person was
        told that older messages left the context."""
        query = select(
            threads.c.summary,
            threads.c.summary_until,
            threads.c.context_notice_sent,
            threads.c.window_from,
        ).where(threads.c.id == thread_id)
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return ThreadState(None, 0, False)
        return ThreadState(
            row.summary,
            int(row.summary_until or 0),
            bool(row.context_notice_sent),
            int(row.window_from or 0),
        )

    async def set_window(self, thread_id: int, from_id: int) -> None:
        """Where the thread's context window starts now (it only moves forward);
        group-committed."""
        await self._windows.write({"id": thread_id, "from_id": from_id})

    async def set_summary(self, thread_id: int, summary: str, until_id: int) -> None:
        """Store a new summary covering messages up to `until_id`."""
        async with self.db.write() as conn:
            await conn.execute(
                update(threads)
                .where(threads.c.id == thread_id)
                .values(summary=summary, summary_until=until_id)
            )

    async def between(self, thread_id: int, after_id: int, before_id: int) -> list[StoredMessage]:
        """Messages with after_id < id < before_id, oldest first."""
        query = (
            select(messages)
            .where(
                messages.c.thread_id == thread_id,
                messages.c.id > after_id,
                messages.c.id < before_id,
            )
            .order_by(messages.c.id)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_message(r) for r in rows]

    async def claim_context_notice(self, thread_id: int) -> bool:
        """True the first time only: the caller then tells the person about the trimmed context."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(threads)
                .where(threads.c.id == thread_id, threads.c.context_notice_sent.is_(False))
                .values(context_notice_sent=True)
            )
        return bool(result.rowcount)

    async def mark_context_notice(self, thread_id: int) -> None:
        """Record that the person was told (the caller knows it was not recorded yet);
        group-committed."""
        await self._notices.write({"id": thread_id})

    async def forget_account(self, account_id: int) -> int:
        """Delete every message of every thread of an account."""
        owned = select(threads.c.id).where(threads.c.account_id == account_id)
        async with self.db.write() as conn:
            result = await conn.execute(delete(messages).where(messages.c.thread_id.in_(owned)))
            await conn.execute(
                update(threads)
                .where(threads.c.account_id == account_id)
                .values(
                    context_notice_sent=False, summary=None, summary_until=None, window_from=None
                )
            )
        return int(result.rowcount or 0)

    async def count_older_than(self, cutoff: datetime) -> int:
        """Messages stored before `cutoff`."""
        async with self.db.read() as conn:
            found = await conn.scalar(
                select(func.count()).select_from(messages).where(messages.c.created_at < cutoff)
            )
        return int(found or 0)

    async def prune_batch(self, cutoff: datetime, batch: int) -> int:
        """Delete up to `batch` of the oldest messages stored before `cutoff`; returns how many."""
        oldest = (
            select(messages.c.id)
            .where(messages.c.created_at < cutoff)
            .order_by(messages.c.created_at)
            .limit(batch)
        )
        async with self.db.write() as conn:
            ids = list((await conn.scalars(oldest)).all())
            if ids:
                await conn.execute(delete(messages).where(messages.c.id.in_(ids)))
                # A summary made from deleted messages must not outlive them.
                await conn.execute(
                    update(threads)
                    .where(threads.c.summary_until <= max(ids))
                    .values(summary=None, summary_until=None)
                )
        if ids:
            self._changed_elsewhere()
        return len(ids)

    async def count(self, account_id: int | None = None) -> int:
        """Messages stored, in all or for one account."""
        query = select(func.count()).select_from(messages)
        if account_id is not None:
            query = query.join(threads, threads.c.id == messages.c.thread_id).where(
                threads.c.account_id == account_id
            )
        async with self.db.read() as conn:
            return int(await conn.scalar(query) or 0)

    async def count_threads(self) -> int:
        """Threads in all."""
        async with self.db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(threads)) or 0)
