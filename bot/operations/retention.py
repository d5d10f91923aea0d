"""RETENTION_DAYS: messages older than that are deleted, a batch at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

from bot.clock import Clock, utcnow
from storage import MessageStore

log = logging.getLogger(__name__)

BATCH = 500  # each batch is one short write transaction
PAUSE_S = 0.05  # between batches, so chat writes are never held up for long
EVERY_S = 3600.0


class Retention:
    """Prunes old messages; as a door of `chatlink run`, once an hour in the background."""

    name = "retention"

    def __init__(
        self,
        store: MessageStore,
        days: int,
        *,
        clock: Clock = utcnow,
        every_s: float = EVERY_S,
    ) -> None:
        self.store = store
        self.days = days
        self.clock = clock
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def due(self) -> int:
        """How many messages a prune would delete now."""
        return await self.store.count_older_than(self.clock() - timedelta(days=self.days))

    async def prune(self, progress: Callable[[int], None] | None = None) -> int:
        """Delete every message older than the retention period; returns how many.
        `progress` hears the running total after each batch."""
        cutoff = self.clock() - timedelta(days=self.days)
        total = 0
        while deleted := await self.store.prune_batch(cutoff, BATCH):
            total += deleted
            if progress is not None:
                progress(total)
            await asyncio.sleep(PAUSE_S)
        if total:
            log.info("retention: deleted %d messages older than %d days", total, self.days)
        return total

    async def start(self) -> None:
        """Prune now and then every `every_s` seconds, in the background."""
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop pruning (a batch in progress is one transaction: finished or rolled back)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("retention: pruning failed; trying again later")
            await asyncio.sleep(self.every_s)
