"""A reply provider that writes its answer slowly, in pieces (for streaming tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from bot.providers.base import Turn, Usage


class SlowStream:
    """Yields `pieces` `delay` seconds apart; breaks off before piece `fail_after`."""

    name = "slow"

    def __init__(
        self, pieces: list[str], *, delay: float = 0.5, fail_after: int | None = None
    ) -> None:
        self.pieces = pieces
        self.delay = delay
        self.fail_after = fail_after

    async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        for index, piece in enumerate(self.pieces):
            if self.fail_after is not None and index == self.fail_after:
                raise ConnectionError("stream cut")
            await asyncio.sleep(self.delay)
            yield piece

    async def check(self) -> str:
        return "slow"

    async def close(self) -> None:
        pass
