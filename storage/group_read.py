"""Group read: lookups asked at the same moment share one query.

The read side of `group_commit`. A thousand conversations starting at once each ask for
their thread; one at a time, those lookups queue for the reader pool's few connections
and take seconds. Asked together, they are a handful of queries (`MessageStore` asks for
the threads of some accounts with some keys, one `IN` list each).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.waking import wake

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
# Finds the values of some keys in one query; a key that is missing has no value.
Fetch = Callable[[AsyncConnection, list[K]], Awaitable[dict[K, V]]]

# Keys per query: SQLite allows 32,766 bound values, PostgreSQL 65,535; a batch this size
# stays far below both whatever a key holds.
BATCH_KEYS = 500


def covering(
    first: ColumnElement[Any], second: ColumnElement[Any], pairs: list[tuple[Any, Any]]
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Conditions that match every row holding one of these (first, second) pairs: each
    column IN its values, which a two-column index serves (SQLite scans the whole table for
    `(first, second) IN (VALUES ...)`). A row may pair a wanted first with another pair's
    second: the caller keeps only the pairs it asked for."""
    return first.in_({a for a, _ in pairs}), second.in_({b for _, b in pairs})


class GroupRead(Generic[K, V]):
    """Look up one key at a time; keys asked while a query runs go together in the next.

    Nobody waits for a batch to fill up, so a lone lookup is one query at once, as it would
    be without this. A query that fails fails the lookups it carried, and only those.
    """

    def __init__(self, db: Database, fetch: Fetch[K, V], *, batch_keys: int = BATCH_KEYS) -> None:
        self.db = db
        self.fetch = fetch
        self.batch_keys = batch_keys
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        """The key's value, or None if it has none."""
        found: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(found)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        return await found

    async def _read(self) -> None:
        try:
            while self._waiting:
                keys = list(self._waiting)[: self.batch_keys]
                batch = {key: self._waiting.pop(key) for key in keys}
                # A caller that gave up before its key went out is not asked for.
                asked = [key for key, waiters in batch.items() if not _all_done(waiters)]
                if not asked:
                    continue
                try:
                    async with self.db.read() as conn:
                        values = await self.fetch(conn, asked)
                except Exception as exc:
                    _settle(batch, exc)
                    continue
                except BaseException:  # cancelled (the loop closing): nobody is left waiting
                    _settle(batch, None)
                    raise
                wake([(w, values.get(key)) for key, waiters in batch.items() for w in waiters])
        finally:
            if self._waiting:
                _settle(self._waiting, None)
                self._waiting = {}


def _all_done(waiters: list[asyncio.Future[V | None]]) -> bool:
    return all(waiter.done() for waiter in waiters)


def _settle(batch: dict[K, list[asyncio.Future[V | None]]], exc: Exception | None) -> None:
    """Fail every waiter still waiting with `exc`, or cancel it (None)."""
    for waiters in batch.values():
        for waiter in waiters:
            if waiter.done():
                continue
            if exc is None:
                waiter.cancel()
            else:
                waiter.set_exception(exc)
