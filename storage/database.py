"""Connections to one database through the backend chosen from its URL."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import maintenance
from storage.backends import Backend, backend_for
from storage.connect import DatabaseUnavailable, database_url, describe_failure
from storage.errors import database_failure

T = TypeVar("T")
WRITE_FAILURE_S = 60.0


class Database:
    """Connections to one database, with `write()` and `read()` transactions.

    Every way the dialects differ lives in `backend` (see storage.backends); nothing here or
    in the stores asks which one it is.
    """

    def __init__(self, url: str, *, reader_pool_size: int = 4) -> None:
        self.url = database_url(url)
        try:
            self.backend: Backend = backend_for(self.url, reader_pool_size=reader_pool_size)
        except OSError as exc:  # the SQLite file's folder cannot be made
            raise DatabaseUnavailable(describe_failure(exc, self.url)) from None
        self.writer = self.backend.writer
        self.reader = self.backend.reader
        # Why the last write failed, and when (monotonic): a read (the health probe's
        # SELECT 1) can still succeed while every write fails (disk full, read-only).
        self._write_failure: tuple[str, float] | None = None
        # The one queue of group-committed rows (storage.group_commit), made by its first user:
        # kept here, not in a module registry, so it goes when the database does.
        self.group_writer: Any = None

    @property
    def sqlite_path(self) -> Path | None:
        """The database file (a SQLite URL), None for servers."""
        return self.backend.file

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without error."""
        try:
            async with self.writer.begin() as conn:
                yield conn
        except (OperationalError, InterfaceError, OSError) as exc:
            why = database_failure(exc) or describe_failure(exc, self.url)
            self._write_failure = (why, time.monotonic())
            raise
        self._write_failure = None

    @property
    def write_failure(self) -> str | None:
        """Why writes fail, until one succeeds; a failure older than WRITE_FAILURE_S with no
        write since is forgotten (a quiet database may well have recovered)."""
        if self._write_failure is None:
            return None
        why, at = self._write_failure
        return why if time.monotonic() - at < WRITE_FAILURE_S else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading (each statement sees one consistent snapshot)."""
        async with self.reader.begin() as conn:
            yield conn

    def exclusive(self, key: int) -> AbstractAsyncContextManager[None]:
        """Hold a lock on `key` shared by every process using this database (released by
        the server if the process dies; nothing to hold where one process is all)."""
        return self.backend.exclusive(key)

    def exists(self) -> bool:
        """Whether there is a database to open: a SQLite file on disk, or any server."""
        path = self.backend.file
        return path is None or path.exists()

    async def open_check(self) -> None:
        """Raise DatabaseUnavailable, with one line naming the setting and the fix, unless
        the database answers."""
        try:
            await self.ping()
        except Exception as exc:
            raise DatabaseUnavailable(describe_failure(exc, self.url)) from None

    async def guarded(self, work: Awaitable[T]) -> T:
        """Await `work`, turning the database failing (read-only, disk full, gone) into
        DatabaseUnavailable with its one line."""
        try:
            return await work
        except Exception as exc:
            if database_failure(exc) is None and not isinstance(exc, OSError):
                raise
            raise DatabaseUnavailable(describe_failure(exc, self.url)) from None

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    def size_bytes(self) -> int | None:
        """Bytes on disk for a database file (plus its WAL), None for servers."""
        path = self.backend.file
        if path is None or not path.exists():
            return None
        total = 0
        for suffix in ("", "-wal"):
            candidate = Path(str(path) + suffix)
            if candidate.exists():
                total += os.path.getsize(candidate)
        return total

    async def backup(self, target: Path, progress: Callable[[int, int], None]) -> int:
        """An online, consistent copy of a SQLite database into the new file `target`;
        `progress(done, total)` in pages; the copy's size in bytes. DatabaseUnavailable for
        a server (use its own tools)."""
        if self.backend.file is None:
            raise DatabaseUnavailable(
                "chatlink backup copies SQLite databases; for PostgreSQL use pg_dump (README)"
            )
        return await maintenance.backup(self.backend.file, target, progress)

    async def vacuum(self) -> bool:
        """Give the space of deleted rows back to the disk (SQLite); False where the server
        does that by itself (PostgreSQL's autovacuum)."""
        if self.backend.file is None:
            return False
        await maintenance.vacuum(self.backend.file)
        return True

    async def close(self) -> None:
        """Close every connection."""
        await self.backend.close()
