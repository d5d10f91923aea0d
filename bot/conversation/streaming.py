"""One reply read from a provider's stream, shown to the door as it grows (coalesced)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.live_progress import PROGRESS_EVERY_S, LiveProgress
from bot.messages import ProgressCallback
from bot.providers import ReplyProvider, Turn, Usage


class EmptyReply(Exception):
    """The model answered nothing."""


async def generate(
    provider: ReplyProvider,
    history: list[Turn],
    usage: Usage,
    on_progress: ProgressCallback | None,
    *,
    every_s: float = PROGRESS_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The whole reply, streamed through `on_progress` (coalesced, beside the stream: see
    `LiveProgress`); EmptyReply when there is none. The last call shows all of it."""
    parts: list[str] = []
    progress = LiveProgress(on_progress, every_s=every_s, clock=clock)
    await progress.start()  # "": the model is asked now (a door may start its typing action)
    try:
        async for piece in provider.stream(history, usage):
            parts.append(piece)
            progress.offer(lambda: "".join(parts))
    finally:
        # Even when the stream failed or was stopped, the update in flight lands first: the
        # door then turns that message into the reply or the apology, with no late partial
        # edit racing it.
        await progress.settle()
    reply = "".join(parts)
    if not reply.strip():
        raise EmptyReply()
    await progress.flush()
    return reply
