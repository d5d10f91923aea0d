"""Group commit: writes made at the same moment share one transaction (and one statement)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.waking import wake

log = logging.getLogger(__name__)

Row = dict[str, Any]
# Writes a batch of rows inside the caller's transaction; one result (an id) per row.
Apply = Callable[[AsyncConnection, list[Row]], Awaitable[list[int]]]


class Inserting:
    """A batch of rows as one multi-row INSERT; the results are their ids, in order. One
    statement: as a transaction's last, it may carry the COMMIT along."""

    def __init__(self, db: Database, table: Table) -> None:
        self.db = db
        self.table = table

    async def __call__(self, conn: AsyncConnection, rows: list[Row]) -> list[int]:
        return await self.db.backend.insert_ids(conn, self.table, rows)


def inserting(db: Database, table: Table) -> Apply:
    """A batch of rows as one multi-row INSERT (see Inserting)."""
    return Inserting(db, table)


class GroupCommit:
    """Write rows, each caller waiting until its row is committed.

    Rows that arrive while a commit is under way go together in the next one: one
    transaction (and with `inserting`, one multi-row INSERT) for all of them. The group
    commits of one database share that transaction: a reply's message and its usage row,
    written at the same moment through two of them, cost one commit, not two in turn.
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
        if db.group_writer is None:
            db.group_writer = _Writer(db)
        self._writer: _Writer = db.group_writer
        self._writer.watch(on_foreign_write)

    async def write(self, row: Row) -> int:
        """Write one row; returns its result (an id) once it is committed."""
        return await self._writer.write(self.apply, row)


# What a waiting row is written by, the row, and its caller's future.
_Pending = tuple[Apply, Row, "asyncio.Future[int]"]


class _Writer:
    """The one queue of group-committed rows of a database, whatever writes them."""

    def __init__(self, db: Database) -> None:
        # Weakly: the database holds its writer, so a strong reference back would make a
        # cycle that only a full collection frees.
        self._db = weakref.ref(db)
        self._waiting: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._mark: int | None = None
        self._watchers: list[Callable[[], None]] = []

    @property
    def db(self) -> Database:
        db = self._db()
        if db is None:  # only its own group commits hold a writer: they hold the database too
            raise RuntimeError("the database of this group commit is gone")
        return db

    def watch(self, callback: Callable[[], None] | None) -> None:
        if callback is not None and callback not in self._watchers:
            self._watchers.append(callback)

    async def write(self, apply: Apply, row: Row) -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((apply, row, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            # A caller that gave up before its row went out gets nothing stored.
            batch = [pending for pending in batch if not pending[2].done()]
            if not batch:
                continue
            try:
                ids = await self._commit(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][2], exc)
                    continue
                for pending in batch:
                    try:
                        _settle(pending[2], (await self._commit([pending]))[0])
                    except Exception as row_exc:
                        _settle(pending[2], row_exc)
                continue
            wake([(done, new_id) for (_, _, done), new_id in zip(batch, ids, strict=True)])

    async def _commit(self, batch: list[_Pending]) -> list[int]:
        # One statement per kind of row, in the order each kind first came; the results
        # go back to the rows' places in the batch.
        by_apply: dict[Apply, list[int]] = {}
        for place, (apply, _, _) in enumerate(batch):
            by_apply.setdefault(apply, []).append(place)
        ids = [0] * len(batch)
        async with self.db.write() as conn:
            last = len(by_apply) - 1
            for n, (apply, places) in enumerate(by_apply.items()):
                if n == last and isinstance(apply, Inserting):
                    # SQLite: the mark and the COMMIT go in its trip: one trip in all.
                    await self.db.backend.commit_with_next(conn)
                results = await apply(conn, [batch[place][1] for place in places])
                for place, result in zip(places, results, strict=True):
                    ids[place] = result
            # Still inside the transaction (or read in its last trip): no other connection
            # can have committed since it began.
            await self._notice_foreign_writes(conn)
        return ids

    async def _notice_foreign_writes(self, conn: AsyncConnection) -> None:
        mark = await self.db.backend.foreign_write_mark(conn)
        changed = self._mark is not None and mark != self._mark
        self._mark = mark
        if changed:
            log.debug("another process wrote to the database; dropping cached state")
            for callback in self._watchers:
                callback()


def _settle(done: asyncio.Future[int], outcome: int | BaseException) -> None:
    if done.done():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
