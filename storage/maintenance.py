"""Operator work on the database file: an online backup and giving freed space back."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

PAGES_PER_STEP = 1024  # the backup copies this many pages, then lets writers in again


def backup_sqlite(source: Path, target: Path, progress: Callable[[int, int], None]) -> int:
    """Copy the database at `source` to a new file `target` with SQLite's online backup API
    (consistent even while chatlink writes, since a write restarts the copy of changed
    pages); returns the copy's size in bytes."""
    if target.exists():
        raise FileExistsError(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=PAGES_PER_STEP, progress=lambda _s, left, total: progress(
                total - left, total
            ))  # fmt: skip
            # A backup of a WAL database is itself in WAL mode: fold it into one file.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    partial.rename(target)
    return target.stat().st_size


def vacuum_sqlite(path: Path) -> None:
    """Rebuild the file without its free pages (needs about the file's size free on disk)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def backup(source: Path, target: Path, progress: Callable[[int, int], None]) -> int:
    """backup_sqlite off the event loop."""
    return await asyncio.to_thread(backup_sqlite, source, target, progress)


async def vacuum(path: Path) -> None:
    """vacuum_sqlite off the event loop."""
    await asyncio.to_thread(vacuum_sqlite, path)
