"""Connections to one database through the backend chosen from its URL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.backends import Backend, backend_for


class Database:
    """Connections to one database, with `write()` and `read()` transactions.

    Every way the dialects differ lives in `backend` (see storage.backends); nothing here or
    in the stores asks which one it is.
    """

    def __init__(self, url: str, *, reader_pool_size: int = 4) -> None:
        self.url = make_url(url)
        self.backend: Backend = backend_for(self.url, reader_pool_size=reader_pool_size)
        self.writer = self.backend.writer
        self.reader = self.backend.reader

    @property
    def sqlite_path(self) -> Path | None:
        """The database file (a SQLite URL), None for servers."""
        return self.backend.file

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without error."""
        async with self.writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading (each statement sees one consistent snapshot)."""
        async with self.reader.begin() as conn:
            yield conn

    def exclusive(self, key: int) -> AbstractAsyncContextManager[None]:
        """Hold a lock on `key` shared by every process using this database (released by
        the server if the process dies; nothing to hold where one process is all)."""
        return self.backend.exclusive(key)

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

    async def close(self) -> None:
        """Close every connection."""
        await self.backend.close()
