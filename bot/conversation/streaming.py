"""One reply read from a provider's stream, shown to the door as it grows (coalesced)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.messages import ProgressCallback
from bot.providers import ReplyProvider, Turn, Usage

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # streamed text goes to the door at most this often, after the first


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
    """The whole reply, streamed through `on_progress`; EmptyReply when there is none.

    `on_progress` hears "" as the model is asked, then the first piece at once; later
    pieces are coalesced, one call at most every `every_s` (a model sends a piece every few
    tens of milliseconds: a frame or an edit for each cost more CPU than the rest of the
    reply). The calls run beside the stream, one at a time, never holding up its reading: a
    door waiting on its platform's flood limits (Telegram: 30 messages a second per bot)
    shows fewer, fuller updates instead of slowing the model's stream to the pace of its
    edits. Once the stream ends, the whole text goes in one more call if part of it was not
    shown, so the last call always shows all of it."""
    parts: list[str] = []
    shown_at: float | None = None
    shown = 0  # pieces shown so far
    showing: asyncio.Task[None] | None = None

    async def show(count: int) -> None:
        nonlocal on_progress, shown
        if on_progress is None:
            return
        try:
            await on_progress("".join(parts[:count]))
            shown = count
        except Exception:
            # A failed live edit must not lose the reply: it is delivered at the end.
            log.warning("live reply update failed; continuing without it", exc_info=True)
            on_progress = None

    if on_progress is not None:
        await show(0)  # "": the model is asked now (a door may start its typing action)
    try:
        async for piece in provider.stream(history, usage):
            parts.append(piece)
            if on_progress is None or (showing is not None and not showing.done()):
                continue
            now = clock()
            if shown_at is None or now - shown_at >= every_s:
                shown_at = now
                showing = asyncio.create_task(show(len(parts)))
    finally:
        if showing is not None and not showing.done():
            # Even when the stream failed or was stopped, the update in flight lands first:
            # the door then turns that message into the reply or the apology, with no late
            # partial edit racing it.
            await asyncio.wait({showing})
    reply = "".join(parts)
    if not reply.strip():
        raise EmptyReply()
    if on_progress is not None and shown < len(parts):
        await show(len(parts))
    return reply
