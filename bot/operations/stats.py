"""`chatlink stats`: whole-database counts, as storage reports them."""

from __future__ import annotations

from datetime import datetime

from storage import Database, Stats, collect_stats


async def database_stats(db: Database, now: datetime) -> Stats:
    """Accounts, identities, threads, messages, pending codes and the database's size."""
    return await collect_stats(db, now)
