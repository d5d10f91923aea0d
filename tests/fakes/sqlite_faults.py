"""Make a running chatlink's SQLite database refuse writes, as a read-only file or a full disk.

Done on the writer connection itself (on SQLite every write goes through that one pooled
connection), with SQLite's own switches, so the errors are SQLite's real ones:

- `read_only`: `PRAGMA query_only`; every write, from BEGIN IMMEDIATE on, fails with
  SQLITE_READONLY ("attempt to write a readonly database"), as for a file made read-only.
- `disk_full`: `PRAGMA max_page_count` set to the current size; every write that needs a new
  page fails with SQLITE_FULL ("database or disk is full"), as on a full disk. Writes that fit
  in pages already there still succeed, as they may on a real full disk: a test sends
  something bigger than a page.

Why not the file system: chmod does not affect a file already open (and root ignores it), and
a small full tmpfs needs mount rights, so neither is reliable in a test without root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from storage import Database


async def pragma(db: Database, statement: str) -> list[Any]:
    """Run one PRAGMA on the writer connection, outside any transaction (BEGIN IMMEDIATE
    itself fails while the connection is read-only)."""
    async with db.writer.connect() as conn:
        raw = await conn.get_raw_connection()
        cursor = await raw.driver_connection.execute(statement)
        rows = list(await cursor.fetchall())
        await cursor.close()
    return rows


@asynccontextmanager
async def read_only(db: Database) -> AsyncIterator[None]:
    """Every write fails with SQLITE_READONLY inside the block."""
    await pragma(db, "PRAGMA query_only = ON")
    try:
        yield
    finally:
        await pragma(db, "PRAGMA query_only = OFF")


@asynccontextmanager
async def disk_full(db: Database) -> AsyncIterator[None]:
    """Every write that needs another page fails with SQLITE_FULL inside the block."""
    [(limit,)] = await pragma(db, "PRAGMA max_page_count")
    [(pages,)] = await pragma(db, "PRAGMA page_count")
    await pragma(db, f"PRAGMA max_page_count = {int(pages)}")
    try:
        yield
    finally:
        await pragma(db, f"PRAGMA max_page_count = {int(limit)}")
