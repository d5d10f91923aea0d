"""Updates of different chats run concurrently; updates of one chat run in arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.conversation import KeyedLocks

UNBOUNDED = 1 << 30


class PerChatOrder(BaseUpdateProcessor):
    """PTB starts one task per update in arrival order; a FIFO lock per chat keeps order.

    The chat lock is taken before a slot of the concurrency limit, so updates queued behind
    one busy chat hold no slot and never stall the other chats.
    """

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        # PTB's own limit is taken before do_process_update and cannot be overridden, so it
        # is set out of reach and the real one is taken here, after the chat lock.
        super().__init__(UNBOUNDED)
        self._chats = KeyedLocks()
        self._slots = asyncio.Semaphore(max_concurrent_updates)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else object()
        async with self._chats.hold(key), self._slots:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
