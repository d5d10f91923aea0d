"""Engine set-up: one writer and a small reader pool on SQLite, one pool elsewhere."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
ACCOUNT_LOCKS = 7_240  # advisory-lock namespace for per-account conversation locks
# Connections holding account locks (one per conversation being answered) per process; keep
# replicas x (this + the query pool) under the server's max_connections.
LOCK_POOL_SIZE = 40


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _begin); the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # In WAL mode NORMAL keeps every commit across a crash of the process.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _install_sqlite_begin(engine: AsyncEngine, statement: str | None) -> None:
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    if statement is None:
        return  # each statement runs in its own implicit transaction

    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)

    event.listen(engine.sync_engine, "begin", _begin)


# Every engine is made with hide_parameters=True: a database error's text (and so every
# traceback logged) must not carry the statement's parameters (message text, hashes).


class Database:
    """Connections to one database, with `write()` and `read()` transactions.

    On SQLite every write transaction starts as BEGIN IMMEDIATE on a single writer
    connection: a transaction that reads first and writes later can otherwise fail
    at once with "database is locked" when another connection wrote in between.
    """

    def __init__(self, url: str, *, reader_pool_size: int = 4) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            path = self.sqlite_path
            if path is None:
                raise ValueError("an in-memory SQLite database cannot be shared; use a file")
            path.parent.mkdir(parents=True, exist_ok=True)
            # Every transaction ends in COMMIT or ROLLBACK through `begin()`, so the pool's
            # extra ROLLBACK on check-in would only cost a round trip.
            self.writer = create_async_engine(
                self.url,
                hide_parameters=True,
                pool_size=1,
                max_overflow=0,
                pool_timeout=300,
                pool_reset_on_return=None,
            )
            _install_sqlite_begin(self.writer, "BEGIN IMMEDIATE")
            self.reader = create_async_engine(
                self.url,
                hide_parameters=True,
                pool_size=reader_pool_size,
                max_overflow=0,
                pool_timeout=300,
                pool_reset_on_return=None,
            )
            # Reads are single statements: SQLite's implicit per-statement transaction
            # gives each a consistent snapshot without a BEGIN/COMMIT round trip.
            _install_sqlite_begin(self.reader, None)
        else:
            self.writer = create_async_engine(self.url, pool_pre_ping=True, hide_parameters=True)
            self.reader = self.writer
        self._locks: AsyncEngine | None = None

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL, None otherwise."""
        if not self.is_sqlite:
            return None
        name = self.url.database
        if not name or name == ":memory:" or name.startswith("file::memory:"):
            return None
        return Path(name)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without error."""
        async with self.writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading (on SQLite, each statement sees one consistent snapshot)."""
        async with self.reader.begin() as conn:
            yield conn

    @asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[None]:
        """Hold a lock on `key` shared by every process using this database.

        PostgreSQL: a session advisory lock on a connection of its own, released when the
        block ends (or by the server if the process dies). SQLite serves one machine: its
        callers' in-process locks are enough, and this holds nothing.
        """
        if self.is_sqlite:
            yield
            return
        if self._locks is None:
            # Separate from the query pool: a held lock must not starve the queries.
            self._locks = create_async_engine(
                self.url,
                hide_parameters=True,
                pool_size=LOCK_POOL_SIZE,
                max_overflow=0,
                pool_timeout=600,  # waiting for a lock connection is waiting for the lock
                pool_pre_ping=True,
            )
        async with self._locks.connect() as conn:
            await conn.execute(
                text("SELECT pg_advisory_lock(:space, :key)"),
                {"space": ACCOUNT_LOCKS, "key": key},
            )
            await conn.commit()
            try:
                yield
            finally:
                try:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:space, :key)"),
                        {"space": ACCOUNT_LOCKS, "key": key},
                    )
                    await conn.commit()
                except BaseException:
                    # Never hand back a connection that may still hold the lock: dropping
                    # it makes the server release every lock of that session.
                    await conn.invalidate()
                    raise

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    def size_bytes(self) -> int | None:
        """Bytes on disk for SQLite (database plus WAL), None for servers."""
        path = self.sqlite_path
        if path is None or not path.exists():
            return None
        total = 0
        for suffix in ("", "-wal"):
            candidate = Path(str(path) + suffix)
            if candidate.exists():
                total += os.path.getsize(candidate)
        return total

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self._locks is not None:
            await self._locks.dispose()
