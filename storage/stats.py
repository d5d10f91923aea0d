"""Whole-database counts for `chatlink stats`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from storage.accounts import AccountStore
from storage.database import Database
from storage.link_codes import LinkCodeStore
from storage.messages import MessageStore
from storage.records import Stats
from storage.tables import accounts


async def collect(db: Database, now: datetime) -> Stats:
    """Count accounts, identities, threads, messages and pending codes."""
    async with db.read() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(accounts)) or 0)
        disabled = int(
            await conn.scalar(
                select(func.count()).select_from(accounts).where(accounts.c.disabled.is_(True))
            )
            or 0
        )
    message_store = MessageStore(db)
    return Stats(
        accounts=total,
        disabled_accounts=disabled,
        identities_by_platform=await AccountStore(db).count_identities_by_platform(),
        threads=await message_store.count_threads(),
        messages=await message_store.count(),
        pending_link_codes=await LinkCodeStore(db).count_pending(now),
        database_bytes=db.size_bytes(),
    )
