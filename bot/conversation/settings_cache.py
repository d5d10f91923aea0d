"""Threads' settings (model, persona, system prompt), kept in memory where that is safe."""

from __future__ import annotations

from collections import OrderedDict

from storage import ThreadSettings, ThreadSettingsStore

SETTINGS_CACHE_SIZE = 10_000  # threads; an entry is three short strings at most


class ThreadSettingsCache:
    """Read-through and write-through in front of `ThreadSettingsStore`: every reply reads
    its thread's settings, which change only by `change` (here) or by another process.

    Enabled only where this process is the one writer (SQLite, as the history cache): with
    replicas (PostgreSQL) another process may change a thread's settings at any moment, so
    every read goes to the database. Writes by another process on SQLite (the CLI) are seen
    at the next group commit, which comes before the reply reads its settings (the person's
    message is stored first); `clear` drops everything then.
    """

    def __init__(self, store: ThreadSettingsStore, *, enabled: bool) -> None:
        self.store = store
        self.enabled = enabled
        self._threads: OrderedDict[int, ThreadSettings] = OrderedDict()
        # Bumped by every change and clear: a read that started before one must not put
        # what it read (possibly the old settings) into the cache after it.
        self._generation = 0

    async def get(self, thread_id: int) -> ThreadSettings:
        """The thread's settings (all None for a thread that chose nothing)."""
        cached = self._threads.get(thread_id)
        if cached is not None:
            self._threads.move_to_end(thread_id)
            return cached
        generation = self._generation
        stored = await self.store.get(thread_id)
        if self.enabled and generation == self._generation:
            self._threads[thread_id] = stored
            if len(self._threads) > SETTINGS_CACHE_SIZE:
                self._threads.popitem(last=False)
        return stored

    async def change(self, thread_id: int, **values: str | None) -> ThreadSettings:
        """Set the named fields (None clears one); returns the settings now in force."""
        self._generation += 1
        self._threads.pop(thread_id, None)
        try:
            changed = await self.store.change(thread_id, **values)
        finally:
            self._generation += 1  # whatever was read meanwhile may predate the change
        if self.enabled:
            self._threads[thread_id] = changed
        return changed

    def new_thread(self, thread_id: int) -> None:
        """A thread created just now by this process: it has chosen nothing yet."""
        if self.enabled:
            self._threads[thread_id] = ThreadSettings()

    def clear(self) -> None:
        """Forget every thread (the database changed behind this process)."""
        self._generation += 1
        self._threads.clear()

    def __len__(self) -> int:
        return len(self._threads)
