"""A reply provider that writes its answer slowly, in pieces (for streaming tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from bot.providers.base import Turn, Usage


class SlowStream:
    """Yields `pieces` `delay` seconds apart; breaks off before piece `fail_after`. Sets
    `started` when a stream begins; with a `gate`, it sets `at_gate` before the last piece
    and waits for the gate to open."""

    name = "slow"

    def __init__(
        self,
        pieces: list[str],
        *,
        delay: float = 0.5,
        fail_after: int | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.pieces = pieces
        self.delay = delay
        self.fail_after = fail_after
        self.gate = gate
        self.started = asyncio.Event()
        self.at_gate = asyncio.Event()

    async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        self.started.set()
        for index, piece in enumerate(self.pieces):
            if self.fail_after is not None and index == self.fail_after:
                raise ConnectionError("stream cut")
            if self.gate is not None and index == len(self.pieces) - 1:
                self.at_gate.set()
                await self.gate.wait()
            await asyncio.sleep(self.delay)
            yield piece

    async def check(self) -> str:
        return "slow"

    async def close(self) -> None:
        pass
