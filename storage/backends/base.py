"""The seam: what a backend offers, and the in-process wake-ups its turn queues share."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class Turns(ABC):
    """A thread's queue: tickets are served in the order they were taken, on every replica.

    A ticket counts while its holder lives; `wait` is woken when a ticket ends, never polled.
    """

    @abstractmethod
    async def take(self, thread_id: int, now: datetime) -> int:
        """A new ticket at the back of the thread's queue."""

    @abstractmethod
    async def is_first(self, thread_id: int, ticket: int) -> bool:
        """Whether no older live ticket of the thread remains."""

    @abstractmethod
    async def wait(self, thread_id: int, ticket: int) -> None:
        """Return once no older live ticket of the thread remains."""

    @abstractmethod
    async def end(self, ticket: int) -> None:
        """The ticket's turn is over (an unknown ticket is ignored)."""

    async def settled(self) -> None:  # noqa: B027 (most queues start nothing)
        """Wait for what the queue started in the background (clearing dead replicas' tickets)."""

    async def close(self) -> None:  # noqa: B027 (most queues hold nothing open)
        """Let go of whatever the queue holds open."""

    # /stop for a reply another replica is writing: called with the thread id on every
    # replica that hears of it (set by whoever can stop a reply here).
    on_stop: Callable[[int], object] | None = None

    async def ask_to_stop(self, thread_id: int) -> bool:
        """Ask the other replicas to stop the thread's reply; whether any is answering in it
        (one process alone has no other replicas: False)."""
        return False


class Backend(ABC):
    """Everything one dialect does differently from the other, chosen once per Database."""

    # Whether what this process wrote may stand for what is stored (one writer process), so
    # that caches of stored rows are safe; writes from elsewhere are still noticed through
    # `foreign_write_mark`.
    caches_may_stand_for_database: ClassVar[bool]

    writer: AsyncEngine
    reader: AsyncEngine
    turns: Turns

    @property
    def file(self) -> Path | None:
        """The database file, for a backend that keeps one; None for servers."""
        return None

    @abstractmethod
    def exclusive(self, key: int) -> AbstractAsyncContextManager[None]:
        """A lock on `key` shared by every process using this database."""

    @abstractmethod
    async def lock_migrations(self, conn: AsyncConnection) -> None:
        """Inside the migration's write transaction: keep other replicas out until it ends."""

    @abstractmethod
    async def insert_ids(
        self, conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """Insert `rows` with one statement; their new ids, in the order of `rows`."""

    async def commit_with_next(self, conn: AsyncConnection) -> None:
        """On the writer connection, just before a transaction's last statement: let the
        COMMIT travel with it where the driver can (one trip less); the transaction is
        still committed, or rolled back, as the block ends."""
        return None

    async def foreign_write_mark(self, conn: AsyncConnection) -> int | None:
        """On the writer connection: a number that changes when another connection committed,
        None where the backend cannot tell (and caches do not stand for the database)."""
        return None

    async def close(self) -> None:
        """Close every connection."""
        await self.turns.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


class Wakeups:
    """One event per key: a waiter takes the key's event before it looks, so that a wake-up
    coming between its look and its wait is not lost."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}

    def event(self, key: int) -> asyncio.Event:
        """The event the next `wake(key)` sets."""
        found = self._events.get(key)
        if found is None:
            found = self._events[key] = asyncio.Event()
        return found

    def wake(self, key: int) -> None:
        """Wake everyone waiting on `key`."""
        found = self._events.pop(key, None)
        if found is not None:
            found.set()

    def wake_all(self) -> None:
        """Wake every waiter (each looks again)."""
        events, self._events = self._events, {}
        for found in events.values():
            found.set()

    def __len__(self) -> int:
        return len(self._events)


class TicketBook:
    """The live tickets this process took, per thread, oldest first."""

    def __init__(self) -> None:
        self._live: dict[int, list[int]] = {}
        self._thread_of: dict[int, int] = {}

    def add(self, thread_id: int, ticket: int) -> None:
        """Record a ticket just taken (newer than every ticket recorded before)."""
        self._live.setdefault(thread_id, []).append(ticket)
        self._thread_of[ticket] = thread_id

    def has_older(self, thread_id: int, ticket: int) -> bool:
        """Whether an older ticket of this process still lives in the thread."""
        live = self._live.get(thread_id)
        return live is not None and live[0] < ticket  # (no empty lists are kept)

    def remove(self, ticket: int) -> int | None:
        """Forget a ticket; its thread, None for a ticket never recorded."""
        thread_id = self._thread_of.pop(ticket, None)
        if thread_id is not None:
            live = self._live[thread_id]
            live.remove(ticket)
            if not live:
                del self._live[thread_id]
        return thread_id


class LocalTurns(Turns):
    """Tickets of one process, kept in memory: nothing is written, and a waiter is woken
    in-process when a ticket ends."""

    def __init__(self) -> None:
        self._issued = 0
        self._book = TicketBook()
        self._wakeups = Wakeups()

    async def take(self, thread_id: int, now: datetime) -> int:
        """A new ticket at the back of the thread's queue."""
        self._issued += 1
        self._book.add(thread_id, self._issued)
        return self._issued

    async def is_first(self, thread_id: int, ticket: int) -> bool:
        """Whether no older ticket of the thread remains."""
        return not self._book.has_older(thread_id, ticket)

    async def wait(self, thread_id: int, ticket: int) -> None:
        """Return once no older ticket of the thread remains."""
        # No await between the look and taking the event: nothing can end in between.
        while self._book.has_older(thread_id, ticket):
            await self._wakeups.event(thread_id).wait()

    async def end(self, ticket: int) -> None:
        """The ticket's turn is over."""
        thread_id = self._book.remove(ticket)
        if thread_id is not None:
            self._wakeups.wake(thread_id)
