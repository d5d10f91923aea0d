"""What each reply cost: counted against the limits at once, its ledger row written after
the turn (for /usage and `chatlink stats`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.clock import Clock
from bot.limits import UsageLimits
from bot.providers import Usage
from storage import UsageStore

log = logging.getLogger(__name__)


class UsageLedger:
    """Counts tokens against the rate limit and budget, and records them per model."""

    def __init__(self, usage: UsageLimits, store: UsageStore, clock: Clock) -> None:
        self.usage = usage
        self.store = store
        self.clock = clock
        self.writes: set[asyncio.Task[None]] = set()  # ledger rows not committed yet

    async def record(
        self, account_id: int, model: str, tokens: int, usage: Usage | None = None
    ) -> None:
        """Count `tokens` now; write the ledger row in the background."""
        # Cached input tokens count in full against DAILY_TOKEN_BUDGET: the model still reads
        # them, and discounts differ by provider (none on local servers). They are kept apart
        # in the records, for /usage.
        cache = usage or Usage()
        try:
            await self.usage.record(account_id, tokens)
        except Exception as exc:
            log.warning("usage not counted: account_id=%s error=%s", account_id, type(exc).__name__)
        # The ledger row is committed after the turn, not in it: the thread's next message
        # need not wait for one more commit round (`settled` for readers of the ledger).
        task = asyncio.create_task(self._write(account_id, model, tokens, self.clock(), cache))
        self.writes.add(task)
        task.add_done_callback(self.writes.discard)

    async def settled(self) -> None:
        """Wait until the rows of every reply already given are committed."""
        if self.writes:
            await asyncio.wait(set(self.writes))

    async def _write(
        self, account_id: int, model: str, tokens: int, at: datetime, cache: Usage
    ) -> None:
        try:
            await self.store.record(
                account_id,
                model,
                tokens,
                at,
                cache_read=cache.cache_read_tokens,
                cache_write=cache.cache_write_tokens,
            )
        except Exception as exc:
            log.warning(
                "usage not recorded: account_id=%s error=%s", account_id, type(exc).__name__
            )
