"""PostgreSQL: many replicas on one server, kept in step by advisory locks and LISTEN/NOTIFY."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.backends.base import Backend
from storage.backends.postgres_turns import PostgresTurns

ACCOUNT_LOCKS = 7_240  # advisory-lock namespace for per-account conversation locks
MIGRATION_LOCK = 7_240_001  # any constant shared by every replica
# Connections holding account locks (one per conversation being answered) per process; keep
# replicas x (this + the query pool) under the server's max_connections.
LOCK_POOL_SIZE = 40


class PostgresBackend(Backend):
    """A database server shared by every replica: one pool for queries, a second one for
    the connections that hold account locks, and the turn queue's own session."""

    # Other replicas write too: nothing this process remembers may stand for the database.
    caches_may_stand_for_database = False

    def __init__(self, url: URL) -> None:
        # hide_parameters: a database error's text (and every traceback logged) must not
        # carry the statement's parameters (message text, hashes).
        self.writer = create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
        self.reader = self.writer
        self._url = url
        self._locks: AsyncEngine | None = None
        self.turns = PostgresTurns(url, self.writer)

    @asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[None]:
        """A session advisory lock on a connection of its own, released when the block ends
        (or by the server if the process dies)."""
        if self._locks is None:
            # Separate from the query pool: a held lock must not starve the queries.
            self._locks = create_async_engine(
                self._url,
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

    async def lock_migrations(self, conn: AsyncConnection) -> None:
        """A transaction-level advisory lock: one replica migrates while the others wait,
        then find nothing left to do."""
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})

    async def insert_ids(
        self, conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """One multi-row INSERT; the ids in the order of `rows` (RETURNING gives no order of
        its own; SQLAlchemy sorts them by parameter)."""
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return [int(i) for i in (await conn.execute(statement, rows)).scalars().all()]

    async def close(self) -> None:
        """Close every connection, the lock pool's and the turn queue's too."""
        await super().close()
        if self._locks is not None:
            await self._locks.dispose()
