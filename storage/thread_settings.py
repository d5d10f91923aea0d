"""Per-thread settings (/model, /persona, /system) and the token usage ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from storage.database import Database
from storage.group_commit import GroupCommit, inserting
from storage.records import ThreadSettings, UsageTotal
from storage.tables import accounts, threads, usage_records

# Keys of `ThreadSettings` a caller may change.
FIELDS = ("model", "persona", "system_prompt")


class ThreadSettingsStore:
    """Reads and changes a thread's own choices; the thread row holds them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, thread_id: int) -> ThreadSettings:
        """The thread's settings (all None for a thread that chose nothing)."""
        query = select(threads.c.model, threads.c.persona, threads.c.system_prompt).where(
            threads.c.id == thread_id
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return ThreadSettings()
        return ThreadSettings(row.model, row.persona, row.system_prompt)

    async def change(self, thread_id: int, **values: str | None) -> ThreadSettings:
        """Set the named fields (None clears one); returns the settings now in force."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown thread settings: {sorted(unknown)}")
        if values:
            async with self.db.write() as conn:
                await conn.execute(update(threads).where(threads.c.id == thread_id).values(values))
        return await self.get(thread_id)


_TOTALS = (
    func.sum(usage_records.c.tokens),
    func.count(),
    func.sum(usage_records.c.cache_read_tokens),
    func.sum(usage_records.c.cache_write_tokens),
)


def _total(row: Any) -> UsageTotal:
    return UsageTotal(
        str(row[0]), int(row[1] or 0), int(row[2]), int(row[3] or 0), int(row[4] or 0)
    )


class UsageStore:
    """One row per model call: tokens by account and model."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # One row per reply: group-committed like the messages, or each reply would wait for
        # a commit of its own on the one writer.
        self._records = GroupCommit(db, inserting(db, usage_records))

    async def record(
        self,
        account_id: int,
        model: str,
        tokens: int,
        at: datetime,
        *,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> None:
        """Add one call's tokens, and how many of its input tokens were read from the prompt
        cache or written to it (committed on return)."""
        await self._records.write(
            {
                "account_id": account_id,
                "model": model[:64],
                "tokens": tokens,
                "at": at,
                "cache_read_tokens": cache_read,
                "cache_write_tokens": cache_write,
            }
        )

    async def by_model(self, since: datetime, account_id: int | None = None) -> list[UsageTotal]:
        """Tokens and calls per model since `since` (of one account, or everybody's)."""
        query = (
            select(usage_records.c.model, *_TOTALS)
            .where(usage_records.c.at >= since)
            .group_by(usage_records.c.model)
            .order_by(usage_records.c.model)
        )
        if account_id is not None:
            query = query.where(usage_records.c.account_id == account_id)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_total(row) for row in rows]

    async def by_account(self, since: datetime) -> list[UsageTotal]:
        """Tokens and calls per account (by username) since `since`."""
        query = (
            select(accounts.c.username, *_TOTALS)
            .join(accounts, accounts.c.id == usage_records.c.account_id)
            .where(usage_records.c.at >= since)
            .group_by(accounts.c.username)
            .order_by(accounts.c.username)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_total(row) for row in rows]
