"""Conversation memory: which thread a message belongs to, and the bounded history (whose
window moves in blocks: see bot/conversation/window.py)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock, utcnow
from bot.conversation.history_cache import HistoryCache
from bot.conversation.ordering import KeyedLocks
from bot.conversation.pictures import with_pictures
from bot.conversation.tokens import estimate_turns
from bot.conversation.window import Bounds, place
from bot.messages import IncomingMessage
from bot.providers import Turn
from storage import MediaStore, MessageStore, NewImage, StoredMessage

log = logging.getLogger(__name__)

PRIVATE_THREAD = "private"
SUMMARY_NOTE = "Summary of the earlier conversation: "
SUMMARY_MAX_MESSAGES = 40  # most messages folded in by one summary call

# (previous summary or None, turns to fold in) -> the new summary
Summarize = Callable[[str | None, list[Turn]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Context:
    """What the model reads: the turns, and whether older ones were left out; with
    MEMORY_SUMMARY, the id before which messages are due to be folded into the summary now
    (0: none are)."""

    turns: list[Turn]
    trimmed: bool
    fold_before: int


THREAD_CACHE_SIZE = 10_000


def thread_key(message: IncomingMessage) -> str:
    """All private chats of an account share one thread; each group chat has its own."""
    if message.is_private:
        return PRIVATE_THREAD
    return f"{message.platform.value}:{message.chat_id}"


class Memory:
    """Stores turns and reads back the recent ones, bounded by count and characters."""

    def __init__(
        self,
        store: MessageStore,
        *,
        max_messages: int = 20,
        max_chars: int = 16_000,
        max_tokens: int = 1_000_000,
        cache_bytes: int = 0,
        max_images: int = 4,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.media = MediaStore(store.db)
        self.max_images = max_images
        self.max_messages = max_messages
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.clock = clock
        # Threads are never deleted while their account lives, so ids can be cached.
        self._thread_ids: OrderedDict[tuple[int, str], int] = OrderedDict()
        self._accounts = KeyedLocks()
        self._opening = KeyedLocks()
        # Only where this process is the one writer can what it wrote stand for what is
        # stored; writes from elsewhere (the CLI, pruning) drop the whole cache.
        size = cache_bytes if store.caches_may_stand_for_database else 0
        self._cache = HistoryCache(size, max_messages + 1)
        store.watch(self._cache.clear)
        self._writes: set[asyncio.Task[None]] = set()
        self._new_thread_watchers: list[Callable[[int], None]] = []

    def watch_new_threads(self, callback: Callable[[int], None]) -> None:
        """Call `callback(thread_id)` when this process creates a thread (one known to hold
        nothing yet: no messages, no settings)."""
        self._new_thread_watchers.append(callback)

    @asynccontextmanager
    async def exclusive(self, account_id: int) -> AsyncIterator[None]:
        """Hold the account's memory: turns, resets and erasures happen one at a time, in
        arrival order, so an erasure never leaves a reply behind that was still being made.

        First in this process (FIFO, no connection held while waiting), then across
        replicas through the database (where there are other replicas).
        """
        async with self._accounts.hold(account_id), self.store.exclusive(account_id):
            yield

    async def thread(self, account_id: int, key: str) -> int:
        """The thread id for an account and key, created on first use."""
        cache_key = (account_id, key)
        thread_id = self._thread_ids.get(cache_key)
        if thread_id is not None:
            self._thread_ids.move_to_end(cache_key)
            return thread_id
        # One lookup per thread at a time: a second message (from another platform) waits
        # for the first's, so none of its messages can precede the cache entry made here.
        async with self._opening.hold(cache_key):
            thread_id = self._thread_ids.get(cache_key)
            if thread_id is not None:
                return thread_id
            thread_id, created = await self.store.open_thread(account_id, key, self.clock())
            if created:  # known to be empty: its first message needs no history query
                self._cache.put(thread_id, None, [])
                for callback in self._new_thread_watchers:
                    callback(thread_id)
            self._thread_ids[cache_key] = thread_id
            if len(self._thread_ids) > THREAD_CACHE_SIZE:
                self._thread_ids.popitem(last=False)
            return thread_id

    async def remember(
        self,
        thread_id: int,
        role: str,
        content: str,
        platform: str,
        images: Sequence[NewImage] = (),
    ) -> None:
        """Store one turn, with its images (committed on return)."""
        if images:
            stored = await self.store.append_with_images(
                thread_id, role, content, platform, self.clock(), images
            )
        else:
            stored = await self.store.append(thread_id, role, content, platform, self.clock())
        self._cache.append(stored)

    async def take_turn(self, thread_id: int) -> int:
        """A ticket taken as a message arrives: the thread's turns go in ticket order, across
        every replica."""
        return await self.store.take_turn(thread_id, self.clock())

    async def is_turn_of(self, thread_id: int, ticket: int) -> bool:
        """Whether no older ticket of the thread still waits (ask holding the lock)."""
        return await self.store.is_turn_of(thread_id, ticket)

    async def wait_for_turn(self, thread_id: int, ticket: int) -> None:
        """Return once no older ticket of the thread waits; woken when one ends or its
        replica dies (wait without holding the lock)."""
        await self.store.wait_turn(thread_id, ticket)

    async def end_turn(self, ticket: int) -> None:
        """The ticket's turn is over."""
        await self.store.end_turn(ticket)

    async def history(
        self, thread_id: int, max_tokens: int | None = None, *, vision: bool = False
    ) -> Context:
        """The thread's context window, oldest first, within the count, character and token
        bounds (`max_tokens`, else the memory's own), after the thread's summary (if any) as
        a system turn. Its start moves in blocks (see window.py); with `vision`, the last
        `max_images` images go along (see pictures)."""
        cached = self._cache.get(thread_id)
        if cached is not None:
            summary, until, window_from = cached.summary, cached.summary_until, cached.window_from
            recent = list(cached.messages)
        else:
            state = await self.store.thread_state(thread_id)
            summary, until, window_from = state.summary, state.summary_until, state.window_from
            recent = await self.store.recent(thread_id, self.max_messages + 1)
            self._cache.put(
                thread_id,
                summary,
                recent,
                state.context_notice_sent,
                summary_until=until,
                window_from=window_from,
            )
        note = [Turn("system", SUMMARY_NOTE + summary)] if summary else []
        budget = (self.max_tokens if max_tokens is None else max_tokens) - estimate_turns(note)
        bounds = Bounds(self.max_messages, self.max_chars, budget)
        window = place(recent, max(window_from, until + 1), bounds)
        if window.moved:
            self._move_window(thread_id, recent[window.start].id)
        kept = recent[window.start :]
        turns = [Turn(m.role, m.content) for m in kept]
        turns = await with_pictures(turns, kept, self.media, self.max_images, vision=vision)
        fold_before = 0
        if window.fold_at is not None:  # one block ahead: the summary and the start move together
            fold_before = recent[window.fold_at].id
        elif window.start > 0 and recent[window.start - 1].id > until:  # left, not folded
            fold_before = recent[window.start].id
        return Context(note + turns, window.start > 0, fold_before)

    def _move_window(self, thread_id: int, from_id: int) -> None:
        # Stored in the background: the start is a hint (the bounds are checked every turn),
        # so a write lost costs one more move, never an overflow.
        cached = self._cache.get(thread_id)
        if cached is not None:
            cached.window_from = max(cached.window_from, from_id)
        self._in_background(self._store_window(thread_id, from_id))

    async def _store_window(self, thread_id: int, from_id: int) -> None:
        try:
            await self.store.set_window(thread_id, from_id)
        except Exception:
            log.warning("context window start not stored: thread_id=%s", thread_id, exc_info=True)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def fold(self, thread_id: int, first_kept: int, summarize: Summarize) -> bool:
        """Fold the messages older than `first_kept` (and not yet folded) into the thread's
        summary, in one go; True when a new summary was stored."""
        state = await self.store.thread_state(thread_id)
        summary, until = state.summary, state.summary_until
        everything = await self.store.between(thread_id, until, first_kept)
        if not everything:
            return False
        # A long backlog (the setting turned on for an old thread) is folded a batch at a
        # time, each within the context budget; the next turns continue where this stopped.
        pending = everything[:SUMMARY_MAX_MESSAGES]
        while len(pending) > 1 and estimate_turns([Turn(m.role, m.content) for m in pending]) > (
            self.max_tokens // 2
        ):
            pending = pending[: len(pending) // 2]
        text = await summarize(summary, [Turn(m.role, m.content) for m in pending])
        # All folded: the summary reaches up to the window's new start, which follows it.
        covered = first_kept - 1 if len(pending) == len(everything) else pending[-1].id
        await self.store.set_summary(thread_id, text, covered)
        self._cache.drop(thread_id)
        return True

    async def claim_context_notice(self, thread_id: int) -> bool:
        """Whether to tell the person, this once, that older messages left the context.

        Where the cache holds the thread, it knows (this process being the only writer), and
        the flag is stored in the background, so the reply does not wait for it.
        """
        cached = self._cache.get(thread_id)
        if cached is None:
            return await self.store.claim_context_notice(thread_id)
        if cached.notice_sent:
            return False
        cached.notice_sent = True
        self._in_background(self._store_notice(thread_id))
        return True

    async def _store_notice(self, thread_id: int) -> None:
        try:
            await self.store.mark_context_notice(thread_id)
        except Exception:  # at worst the person is told twice
            log.warning("context notice flag not stored: thread_id=%s", thread_id, exc_info=True)

    async def settle(self) -> None:
        """Wait for writes made in the background."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def page(
        self, account_id: int, key: str, limit: int, before_id: int | None = None
    ) -> list[StoredMessage]:
        """Up to `limit` messages of a thread older than `before_id`, oldest first."""
        thread_id = await self.store.existing_thread_id(account_id, key)
        if thread_id is None:
            return []
        return await self.store.recent(thread_id, limit, before_id=before_id)

    async def everything(self, account_id: int) -> list[tuple[str, StoredMessage]]:
        """Every message of an account with its thread key, oldest first (for export)."""
        return await self.store.all_of_account(account_id)

    async def reset(self, account_id: int, key: str) -> int:
        """Empty one thread; returns how many messages went."""
        async with self.exclusive(account_id):
            thread_id = await self.store.existing_thread_id(account_id, key)
            if thread_id is None:
                return 0
            self._cache.drop(thread_id)
            return await self.store.clear_thread(thread_id)

    async def undo(self, thread_id: int) -> list[StoredMessage]:
        """Remove the thread's last exchange (its last user message and what followed it);
        returns what went. Call holding the thread's turn."""
        exchange = await self.store.last_exchange(thread_id)
        self._cache.drop(thread_id)
        await self.store.delete_ids(thread_id, [m.id for m in exchange])
        return exchange

    async def last_exchange(self, thread_id: int) -> list[StoredMessage]:
        """The thread's last user message and the replies after it, oldest first."""
        return await self.store.last_exchange(thread_id)

    async def replace_replies(
        self, thread_id: int, old_ids: list[int], content: str, platform: str
    ) -> None:
        """/retry's new reply takes the old ones' place (deleted first: never two side by
        side; a crash in between leaves the message unanswered, as a model failure does)."""
        self._cache.drop(thread_id)
        await self.store.delete_ids(thread_id, old_ids)
        await self.remember(thread_id, "assistant", content, platform)

    async def forget(self, account_id: int) -> int:
        """Erase every message of an account (their images go with them) and the uploads
        waiting for a message."""
        async with self.exclusive(account_id):
            self._cache.clear()  # rare enough not to look up the account's threads
            await self.media.drop_uploads_of(account_id)
            return await self.store.forget_account(account_id)

    async def count(self, account_id: int) -> int:
        """Messages stored for an account."""
        return await self.store.count(account_id)
