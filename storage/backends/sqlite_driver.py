"""aiosqlite with one trip to its thread a statement.

aiosqlite runs every sqlite3 call in the connection's own thread, each a round trip through
the event loop: SQLAlchemy's adapter makes four a statement (open a cursor, execute, fetch,
close). `connector` gives the engine connections whose cursors do all four in one trip: the
statement runs, its rows are read and the sqlite3 cursor is closed in the thread; what
SQLAlchemy then asks of the cursor (rows, description, rowcount, lastrowid) is already here.
A BEGIN goes with the transaction's first statement, in its trip (a transaction that runs
none costs none), and where the caller knows which statement is its last (a group commit's
INSERT), the COMMIT goes with that one, and a one-value query with it (the group commit's
foreign-write mark). A group commit (BEGIN, its INSERT, the mark, COMMIT) costs one trip
instead of twelve: in one thread whose messages queue behind each other, where every
commit waits for the one before, 50 senders were answered at 305 to 334 messages/s with
three trips a commit and at 513 to 542 with one (the core alone, the echo provider).

Every result is read whole, as SQLAlchemy's (non-streaming) adapter cursor reads it anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.engine import URL

# What one trip brings back: rows, description, rowcount, lastrowid.
_Outcome = tuple[list[Any], Any, int, int | None]


def connector(url: URL) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """An `async_creator` for `create_async_engine`: a connection to the URL's file with the
    arguments SQLAlchemy's own aiosqlite dialect would pass."""
    args, kwargs = url.get_dialect()().create_connect_args(url)

    async def connect() -> aiosqlite.Connection:
        connection = OneTripConnection(partial(sqlite3.connect, *args, **kwargs), 64)
        connection._thread.daemon = True  # as SQLAlchemy's dialect does: exit never waits on it
        return await connection

    return connect


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors cost one trip to its thread a statement."""

    _begin: str | None = None  # a BEGIN not sent yet: it goes with the next statement
    _commit_next = False  # the next statement is the transaction's last: COMMIT goes with it
    _read_before_commit: str | None = None  # ... after this one-value query, if any
    _committed = False  # ... and went: SQLAlchemy's commit() has nothing left to send
    _read: Any = None  # what that query gave, until taken

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    def defer(self, begin: str) -> None:
        """Send `begin` in the same trip as the transaction's first statement."""
        self._begin = begin

    def commit_with_next(self, read: str | None = None) -> None:
        """Send COMMIT in the same trip as the next statement, once it has run (and after it
        `read`, a query of one value, kept for `take_read`): call it just before the
        transaction's last statement. If that statement fails, nothing is committed and the
        transaction rolls back as usual."""
        self._commit_next, self._read_before_commit = True, read

    def take_read(self) -> Any:
        """The value the last commit's `read` gave (None if none), once."""
        value, self._read = self._read, None
        return value

    async def run(self, work: Callable[[sqlite3.Connection], _Outcome]) -> _Outcome:
        """Run `work` on the sqlite3 connection in its thread (one trip), after the BEGIN
        deferred to it, and before the COMMIT, if any."""
        trip: Callable[[sqlite3.Connection], Any] = work
        committing, self._commit_next = self._commit_next, False
        if committing:
            trip = partial(_committing, work, self._read_before_commit)
            self._read_before_commit = None
        if self._begin is not None:
            trip, self._begin = partial(_begun, self._begin, trip), None
        # aiosqlite's own cursors reach the thread through `_execute` the same way.
        result = await self._execute(trip, self._conn)  # type: ignore[no-untyped-call]
        if committing:
            result, self._read = result
        self._committed = committing
        outcome: _Outcome = result
        return outcome

    async def commit(self) -> None:
        if self._committed:  # sent with the last statement
            self._committed = False
            return
        if self._begin is not None:  # nothing ran since BEGIN: nothing to commit
            self._begin = None
            return
        await super().commit()

    async def rollback(self) -> None:
        self._commit_next = self._committed = False
        self._read_before_commit = self._read = None
        if self._begin is not None:
            self._begin = None
            return
        await super().rollback()


def _begun(begin: str, work: Callable[[sqlite3.Connection], Any], conn: sqlite3.Connection) -> Any:
    conn.execute(begin)
    return work(conn)


def _committing(
    work: Callable[[sqlite3.Connection], _Outcome], read: str | None, conn: sqlite3.Connection
) -> tuple[_Outcome, Any]:
    outcome = work(conn)
    value = conn.execute(read).fetchone()[0] if read is not None else None
    conn.commit()
    return outcome, value


def _statement(sql: str, parameters: Any, many: bool, conn: sqlite3.Connection) -> _Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor:
    """What SQLAlchemy's adapter uses of an aiosqlite cursor, each statement one trip."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:  # nothing to open: the trip does it
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        if not parameters and sql.lstrip()[:5].upper() == "BEGIN":
            # Sent with the next statement. Taken here, where SQLAlchemy's BEGIN (the backend's
            # `begin` event) arrives, so that its statement events and echo still show it.
            self._connection.defer(sql)
            self._rows, self.description, self.rowcount, self.lastrowid = [], None, -1, None
            return self
        work = partial(_statement, sql, () if parameters is None else parameters, False)
        await self._run(work)
        return self

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> OneTripCursor:
        await self._run(partial(_statement, sql, parameters, True))
        return self

    async def _run(self, work: Callable[[sqlite3.Connection], _Outcome]) -> None:
        rows, self.description, self.rowcount, self.lastrowid = await self._connection.run(work)
        self._rows = rows

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self.arraysize if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:  # closed in the thread at the end of each trip
        self._rows = []
