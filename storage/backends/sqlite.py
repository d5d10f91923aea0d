"""SQLite: one process, one writer connection, a small reader pool, turns kept in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.backends.base import Backend, LocalTurns
from storage.backends.sqlite_driver import OneTripConnection, connector

BUSY_TIMEOUT_MS = 10_000


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _begin); the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # In WAL mode NORMAL keeps every commit across a crash of the process.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine(url: URL, pool_size: int, begin: str | None) -> AsyncEngine:
    # Every transaction ends in COMMIT or ROLLBACK through `begin()`, so the pool's extra
    # ROLLBACK on check-in would only cost a round trip. hide_parameters: a database error's
    # text (and so every traceback logged) must not carry message text or hashes.
    engine = create_async_engine(
        url,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=300,
        pool_reset_on_return=None,
        async_creator=connector(url),  # one trip to aiosqlite's thread a statement
    )
    event.listen(engine.sync_engine, "connect", _pragmas)
    if begin is not None:

        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

        event.listen(engine.sync_engine, "begin", _begin)
    return engine


def database_file(url: URL) -> Path | None:
    """The file of a SQLite URL, None for an in-memory database."""
    name = url.database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return Path(name)


DATA_VERSION = "PRAGMA data_version"


class SqliteBackend(Backend):
    """A database file served to one process.

    Every write transaction starts as BEGIN IMMEDIATE on the single writer connection: a
    transaction that reads first and writes later can otherwise fail at once with "database
    is locked" when another connection wrote in between. Reads are single statements on a
    reader pool: SQLite's implicit per-statement transaction gives each a consistent snapshot
    without a BEGIN/COMMIT round trip.
    """

    caches_may_stand_for_database = True  # this process is the one writer

    def __init__(self, url: URL, *, reader_pool_size: int) -> None:
        path = database_file(url)
        if path is None:
            raise ValueError("an in-memory SQLite database cannot be shared; use a file")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self.writer = _engine(url, 1, "BEGIN IMMEDIATE")
        self.reader = _engine(url, reader_pool_size, None)
        # One process: its own FIFO order is the whole queue, so tickets need no rows.
        self.turns = LocalTurns()

    @property
    def file(self) -> Path | None:
        """The database file."""
        return self._path

    @asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[None]:
        """Nothing to hold: one process, whose callers' in-process locks are enough."""
        yield

    async def lock_migrations(self, conn: AsyncConnection) -> None:
        """The write transaction's BEGIN IMMEDIATE already keeps every other writer out."""

    async def insert_ids(
        self, conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """One multi-row INSERT; the ids in the order of `rows`."""
        result = await conn.execute(insert(table).returning(table.c.id), rows)
        # One statement, one writer: SQLite gives the rows ascending ids in VALUES order,
        # but may return them in any order.
        return sorted(int(i) for i in result.scalars().all())

    async def commit_with_next(self, conn: AsyncConnection) -> None:
        """The COMMIT goes to aiosqlite's thread in the next statement's trip, and the
        foreign-write mark is read there, just before it."""
        driver = await _one_trip(conn)
        if driver is not None:
            driver.commit_with_next(read=DATA_VERSION)

    async def foreign_write_mark(self, conn: AsyncConnection) -> int | None:
        """`PRAGMA data_version`: it changes only when another connection (another process,
        the CLI) committed. Read with the last statement's trip where it went with one
        (the write lock held since BEGIN IMMEDIATE, no other connection can commit in
        between)."""
        driver = await _one_trip(conn)
        read = driver.take_read() if driver is not None else None
        if read is not None:
            return int(read)
        return int((await conn.exec_driver_sql(DATA_VERSION)).scalar_one())


async def _one_trip(conn: AsyncConnection) -> OneTripConnection | None:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    return driver if isinstance(driver, OneTripConnection) else None
