"""Group commit: writes made at the same moment share one transaction (and one statement)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database

log = logging.getLogger(__name__)

Row = dict[str, Any]
# Writes a batch of rows inside the caller's transaction; one result (an id) per row.
Apply = Callable[[AsyncConnection, list[Row]], Awaitable[list[int]]]


def inserting(db: Database, table: Table) -> Apply:
    """A batch of rows as one multi-row INSERT; the results are their ids, in order."""

    async def apply(conn: AsyncConnection, rows: list[Row]) -> list[int]:
        return await db.backend.insert_ids(conn, table, rows)

    return apply


class GroupCommit:
    """Write rows, each caller waiting until its row is committed.

    Rows that arrive while a commit is under way go together in the next one: one
    transaction (and with `inserting`, one multi-row INSERT) for all of them.
    Nobody waits for a batch to fill up, so a lone row is committed at once. A batch that
    fails is retried row by row, so one bad row fails only its own caller.

    Where the backend can tell (SQLite's `PRAGMA data_version`), the writer connection also
    notices that another connection (another process: the CLI) committed; `on_foreign_write`
    then runs, so that caches of this process can be dropped.
    """

    def __init__(
        self, db: Database, apply: Apply, on_foreign_write: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.apply = apply
        self.on_foreign_write = on_foreign_write
        self._waiting: list[tuple[Row, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._mark: int | None = None

    async def write(self, row: Row) -> int:
        """Write one row; returns its result (an id) once it is committed."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            # A caller that gave up before its row went out gets nothing stored.
            batch = [(row, done) for row, done in batch if not done.done()]
            if not batch:
                continue
            try:
                ids = await self._commit([row for row, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                for row, done in batch:
                    try:
                        _settle(done, (await self._commit([row]))[0])
                    except Exception as row_exc:
                        _settle(done, row_exc)
                continue
            for (_, done), new_id in zip(batch, ids, strict=True):
                _settle(done, new_id)

    async def _commit(self, rows: list[Row]) -> list[int]:
        async with self.db.write() as conn:
            await self._notice_foreign_writes(conn)
            return await self.apply(conn, rows)

    async def _notice_foreign_writes(self, conn: AsyncConnection) -> None:
        mark = await self.db.backend.foreign_write_mark(conn)
        changed = self._mark is not None and mark != self._mark
        self._mark = mark
        if changed and self.on_foreign_write is not None:
            log.debug("another process wrote to the database; dropping cached state")
            self.on_foreign_write()


def _settle(done: asyncio.Future[int], outcome: int | BaseException) -> None:
    if done.done():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
