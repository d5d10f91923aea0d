"""What a door is shown while a reply streams: coalesced updates, made beside the stream."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bot.messages import ProgressCallback

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # streamed text goes to the door at most this often, after the first


class LiveProgress:
    """Updates for a door's live reply, for plain replies (conversation.streaming) and tool
    rounds (tools.loop) alike.

    `start` says "" as the model is asked (a door starts its typing action then). `offer`
    takes the text so far: shown at once the first time, then at most every `every_s` (a
    model sends a piece every few tens of milliseconds: a frame or an edit for each cost
    more CPU than the rest of the reply). The updates run beside the stream, one at a time,
    each started at once (`start_eagerly`: a WebSocket frame is written before the next
    piece is read), never holding up its reading: a door waiting on its platform's flood
    limits (Telegram: 30 messages a second per bot) shows fewer, fuller updates instead of
    slowing the model's stream to the pace of its edits. `flush` shows what was held back,
    so the last update holds all of it; `settle` waits for the update on its way, so that
    no late one races what the door shows next. A door whose update fails is not called
    again: the reply is delivered at the end all the same.
    """

    def __init__(
        self,
        on_progress: ProgressCallback | None,
        *,
        every_s: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_progress = on_progress
        self.every_s = every_s
        self.clock = clock
        self._offered_at: float | None = None
        # The text not shown yet; a function, so that a long reply is joined only if shown.
        self._held: Callable[[], str] | None = None
        self._showing: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Say the model is being asked ("")."""
        await self._send("")

    def offer(self, text: str | Callable[[], str]) -> None:
        """The text so far: shown now, or held for `flush` (too soon, or an update is still
        on its way)."""
        if self.on_progress is None:
            return
        text_of = text if callable(text) else (lambda: text)
        now = self.clock()
        busy = self._showing is not None and not self._showing.done()
        if busy or (self._offered_at is not None and now - self._offered_at < self.every_s):
            self._held = text_of
            return
        self._offered_at, self._held = now, None
        self._showing = start_eagerly(self._put(text_of()))

    async def flush(self) -> None:
        """Wait for the update on its way, then show what was held, if anything."""
        await self.settle()
        if self._held is not None:
            held, self._held = self._held, None
            await self.show(held())

    async def settle(self) -> None:
        """Wait for the update on its way, if any."""
        if self._showing is not None and not self._showing.done():
            await asyncio.wait({self._showing})

    async def show(self, text: str) -> None:
        """Show `text` now, after the update on its way."""
        await self.settle()
        await self._put(text)

    async def _put(self, text: str) -> None:
        if text.strip():  # blank text shows nothing (start's "" is said apart)
            await self._send(text)

    async def _send(self, text: str) -> None:
        if self.on_progress is None:
            return
        try:
            await self.on_progress(text)
        except Exception:
            # A failed live edit must not lose the reply: it is delivered at the end.
            log.warning("live reply update failed; continuing without it", exc_info=True)
            self.on_progress = None


def start_eagerly(work: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    """`work` run at once up to its first wait, the rest in a task: an eager task, as
    Python 3.12's asyncio.eager_task_factory makes (used where there is one). An update that
    needs no wait (a WebSocket frame written) is out in this turn of the event loop, not the
    next, which under load comes tens of milliseconds later; one that waits (a Telegram edit
    on its way) goes on beside the stream as before."""
    loop = asyncio.get_running_loop()
    eager = getattr(asyncio, "eager_task_factory", None)
    if eager is not None:  # Python 3.12 and later
        task: asyncio.Task[None] = eager(loop, work)
        return task
    context = contextvars.copy_context()  # the work's own, as a task's
    try:
        waiting = context.run(work.send, None)
    except StopIteration:
        done = loop.create_future()
        done.set_result(None)
        return done
    except Exception as error:
        failed = loop.create_future()
        failed.set_exception(error)
        return failed
    return loop.create_task(_resumed(work, waiting), context=context)


async def _resumed(work: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Step `work` on from the wait it stopped at, as a Task steps its coroutine."""
    while True:
        error: BaseException | None = None
        try:
            if isinstance(waiting, asyncio.Future):
                waiting._asyncio_future_blocking = False
                await asyncio.wait({waiting})
            else:  # a bare yield (asyncio.sleep(0)): the next turn
                await asyncio.sleep(0)
        except asyncio.CancelledError as cancelled:
            if isinstance(waiting, asyncio.Future):
                waiting.cancel()  # what it waits on, as a Task's cancel() does
            error = cancelled
        try:
            waiting = work.send(None) if error is None else work.throw(error)
        except StopIteration:
            return
