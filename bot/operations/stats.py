"""`chatlink stats`: whole-database counts, as storage reports them."""

from __future__ import annotations

from datetime import datetime

from storage import Database, Stats, UsageStore, UsageTotal, collect_stats


async def database_stats(db: Database, now: datetime) -> Stats:
    """Accounts, identities, threads, messages, pending codes and the database's size."""
    return await collect_stats(db, now)


async def usage_today(db: Database, since: datetime) -> tuple[list[UsageTotal], list[UsageTotal]]:
    """Model tokens since `since` (the start of today, UTC): per model, and per account."""
    store = UsageStore(db)
    return await store.by_model(since), await store.by_account(since)


def describe_usage(total: UsageTotal) -> str:
    """One line of `chatlink stats`: tokens, calls and those read from the prompt cache."""
    cached = (
        f", {total.cache_read_tokens:,} from the prompt cache" if total.cache_read_tokens else ""
    )
    return f"{total.tokens:,} ({total.calls} calls{cached})"
