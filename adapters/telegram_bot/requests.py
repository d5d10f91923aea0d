"""The Bot API connection pool, with calls beyond its size waiting in a queue of our own."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.request import HTTPXRequest

# Telegram takes about 30 messages a second from a bot: 16 calls at once are plenty, and
# httpcore costs O(connections²) per request handed out.
BOT_API_CONNECTIONS = 16


class BoundedRequest(HTTPXRequest):
    """HTTPXRequest with at most `size` calls at once; the others wait their turn (FIFO).

    With hundreds of updates in flight, httpx's pool (python-telegram-bot's default: 256
    connections) scanned every connection for every waiting request on each change:
    that scan was the largest single cost of the door in a flood. A semaphore in front keeps
    the pool's own queue empty, so each call finds a free connection at once.
    """

    def __init__(self, size: int = BOT_API_CONNECTIONS, **options: Any) -> None:
        # No pool timeout: a call waits here (not in the pool) for as long as the others take.
        super().__init__(connection_pool_size=size, pool_timeout=None, **options)
        self._free = asyncio.Semaphore(size)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """One Bot API call, once fewer than `size` are under way."""
        async with self._free:
            return await super().do_request(*args, **kwargs)
