"""Turn tickets shared by every replica: rows in `turns`, alive as long as their owner's
session, waited for through LISTEN/NOTIFY.

Each process keeps one session (a connection taken out of its query pool for good). It holds a
session-level advisory lock on a random owner key for as long as it lives, and LISTENs on one
channel. Every ticket row records that
key: a ticket counts only while its owner's lock is held, so the server itself releases the
tickets of a replica that died (its sessions end with it), without any notion of age. Ending
a ticket deletes the row and NOTIFYs the thread id in one statement; a waiter is woken by that
notification, or, when the owner it waits on dies, by a watcher blocked on a shared lock of
the owner's key, which the server grants the moment the owner's session is gone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import column, table

from storage.backends.base import TicketBook, Turns, Wakeups
from storage.tables import turns

log = logging.getLogger(__name__)

CHANNEL = "chatlink_turns"
STOP_CHANNEL = "chatlink_stop"  # /stop for a reply another replica writes: the thread id
TICKET_LOCKS = 7_241  # advisory-lock namespace: numbering one thread's tickets

_locks = table(
    "pg_locks",
    column("locktype"),
    column("database"),
    column("classid"),
    column("objid"),
    column("objsubid"),
    column("mode"),
    column("granted"),
)
# A bigint advisory-lock key shows in pg_locks as classid (high half) and objid (low half).
_LOCK_KEY = literal_column(
    "((pg_locks.classid::bigint << 32) | pg_locks.objid::bigint)", BigInteger
)
_THIS_DATABASE: ColumnElement[Any] = literal_column(
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _alive(owner: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether the session that took the owner key still holds its lock."""
    return exists().where(
        _locks.c.locktype == "advisory",
        _locks.c.database == _THIS_DATABASE,
        _locks.c.objsubid == 1,  # the bigint form of the key
        _locks.c.mode == "ExclusiveLock",  # not a watcher's shared lock
        _locks.c.granted,
        owner == _LOCK_KEY,
    )


class PostgresTurns(Turns):
    """Tickets in the `turns` table, each alive while the session of the replica that took
    it lives."""

    def __init__(self, url: URL, writer: AsyncEngine) -> None:
        self._writer = writer
        # The watchers' connections, each blocked until another replica ends: not pooled.
        self._sessions = create_async_engine(url, hide_parameters=True, poolclass=NullPool)
        self._session: AsyncConnection | None = None
        self._owner: int | None = None
        self._opening = asyncio.Lock()
        self._wakeups = Wakeups()
        self._book = TicketBook()  # this process's own live tickets
        self._watchers: dict[int, asyncio.Task[None]] = {}
        self._sweeping: asyncio.Task[None] | None = None

    async def take(self, thread_id: int, now: datetime) -> int:
        """A new ticket at the back of the thread's queue, owned by this process's session."""
        owner = await self._own()
        async with self._writer.begin() as conn:
            # Tickets of one thread are numbered one at a time, each committed before the
            # next is numbered: a smaller id never becomes visible after a larger one.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :thread)"),
                {"space": TICKET_LOCKS, "thread": thread_id},
            )
            ticket = await conn.scalar(
                insert(turns)
                .values(thread_id=thread_id, created_at=now, owner=owner)
                .returning(turns.c.id)
            )
        assert ticket is not None
        self._book.add(thread_id, int(ticket))
        return int(ticket)

    async def is_first(self, thread_id: int, ticket: int) -> bool:
        """Whether no older ticket of a living session remains in the thread."""
        if self._book.has_older(thread_id, ticket):
            return False  # known here without asking
        return not await self._owners_before(thread_id, ticket)

    async def wait(self, thread_id: int, ticket: int) -> None:
        """Return once no older ticket of a living session remains; woken by a NOTIFY when a
        ticket ends, or by the watcher of an owner that died."""
        while True:
            await self._own()  # listening before looking, so no notification is missed
            woken = self._wakeups.event(thread_id)
            # Behind an older ticket of this process, only the oldest waiter needs to ask the
            # database; the others wait for this process's own tickets to end.
            if not self._book.has_older(thread_id, ticket):
                owners = await self._owners_before(thread_id, ticket)
                if not owners:
                    return
                for owner in owners:
                    if owner != self._owner:
                        self._watch(owner)
            await woken.wait()

    async def end(self, ticket: int) -> None:
        """Delete the ticket and tell every replica's waiters, in one statement."""
        thread_id = self._book.remove(ticket)
        gone = delete(turns).where(turns.c.id == ticket).returning(turns.c.thread_id).cte()
        try:
            async with self._writer.begin() as conn:
                await conn.execute(
                    select(gone.c.thread_id, func.pg_notify(CHANNEL, cast(gone.c.thread_id, Text)))
                )
        finally:
            if thread_id is not None:
                # This process's own waiters need not wait for the notification's round trip.
                self._wakeups.wake(thread_id)

    async def _owners_before(self, thread_id: int, ticket: int) -> set[int]:
        query = select(turns.c.owner).where(
            turns.c.thread_id == thread_id, turns.c.id < ticket, _alive(turns.c.owner)
        )
        async with self._writer.begin() as conn:
            return {int(owner) for owner in (await conn.scalars(query)).all()}

    async def _own(self) -> int:
        """This process's owner key, its session opened (again) when needed."""
        if self._owner is None:
            async with self._opening:
                if self._owner is None:
                    await self._open()
        assert self._owner is not None
        return self._owner

    async def _open(self) -> None:
        owner = secrets.randbits(62) + 1  # a bigint advisory-lock key no other session has
        # Out of the query pool for good (an engine of its own would cost the first ticket
        # its set-up queries); never handed back, as it holds the owner lock.
        conn = await self._writer.connect()
        try:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": owner})
            await conn.commit()
            listener: Any = (await conn.get_raw_connection()).driver_connection
            if not hasattr(listener, "add_listener"):
                raise RuntimeError("turn tickets on PostgreSQL need the asyncpg driver")
            await listener.add_listener(CHANNEL, self._notified)
            await listener.add_listener(STOP_CHANNEL, self._stop_heard)
            listener.add_termination_listener(self._lost)
        except BaseException:
            await conn.invalidate()
            raise
        if self._session is not None:  # a session lost before: let go of what is left
            await self._session.invalidate()
        self._session, self._owner = conn, owner
        if self._sweeping is None:
            self._sweeping = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Delete the tickets of replicas that died: nobody waits for them any more."""
        try:
            async with self._writer.begin() as conn:
                await conn.execute(delete(turns).where(~_alive(turns.c.owner)))
        except Exception:  # they are ignored anyway; the next start tries again
            log.warning("tickets of ended replicas not deleted", exc_info=True)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._wakeups.wake(int(payload))

    def _stop_heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if self.on_stop is not None:
            self.on_stop(int(payload))

    async def ask_to_stop(self, thread_id: int) -> bool:
        """NOTIFY every replica when a living session holds a ticket of the thread (its
        reply is being written, or a message waits): the one writing it stops."""
        busy = (
            select(func.pg_notify(STOP_CHANNEL, cast(turns.c.thread_id, Text)))
            .where(turns.c.thread_id == thread_id, _alive(turns.c.owner))
            .limit(1)
        )
        async with self._writer.begin() as conn:
            return (await conn.execute(busy)).first() is not None

    def _lost(self, _conn: object) -> None:
        # This process's tickets stopped counting and notifications stopped coming: every
        # waiter looks again, on a new session.
        if self._owner is not None:
            log.warning("the turn queue's database session ended; opening another")
        self._owner = None
        self._wakeups.wake_all()

    def _watch(self, owner: int) -> None:
        if owner not in self._watchers:
            self._watchers[owner] = asyncio.create_task(self._outlive(owner))

    async def _outlive(self, owner: int) -> None:
        """Wake every waiter once `owner`'s session is gone (its tickets stop counting).

        One connection per other replica waited on, blocked until that replica ends.
        """
        try:
            conn = await self._sessions.connect()
            try:
                await conn.execute(text("SELECT pg_advisory_lock_shared(:key)"), {"key": owner})
                await conn.execute(text("SELECT pg_advisory_unlock_shared(:key)"), {"key": owner})
                await conn.close()
            except BaseException:
                await conn.invalidate()
                raise
        except Exception:
            log.warning("watching another replica's session failed", exc_info=True)
        finally:
            self._watchers.pop(owner, None)
            self._wakeups.wake_all()

    async def settled(self) -> None:
        """Wait for the sweep of dead replicas' tickets that opening the session started."""
        if self._sweeping is not None:
            await asyncio.shield(self._sweeping)

    async def close(self) -> None:
        """Stop the watchers, end the session (and with it this process's tickets)."""
        watchers = list(self._watchers.values())
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        if self._sweeping is not None:
            await self._sweeping
        self._owner = None
        if self._session is not None:
            session, self._session = self._session, None
            await session.invalidate()  # closed, not handed back to the pool with its lock
        await self._sessions.dispose()
