"""A reply shown while it streams: edits at a bounded pace, split at the platform's limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.delivery.splitting import Measure, split_text

Handle = TypeVar("Handle")

log = logging.getLogger(__name__)

TYPING_MARK = " …"
LEFT_OVER = "…"


class LiveReply(Generic[Handle]):
    """Renders a growing text into as few messages as the limit allows.

    `update` is throttled to one round of edits per `interval_s` (platforms rate-limit
    edits), starting only once the reply has taken that long; `finish` shows the exact
    text, so what people end up reading is always the whole reply, split the same way as
    a reply that never streamed.
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[Handle]],
        edit: Callable[[Handle, str], Awaitable[object]],
        *,
        limit: int,
        measure: Measure = len,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._edit = edit
        self.limit = limit
        self.measure = measure
        self.interval_s = interval_s
        self.clock = clock
        self.shown: list[tuple[Handle, str]] = []
        # Nothing is shown before `interval_s` has passed: a quick reply goes out once, whole.
        self._last = clock()

    @property
    def started(self) -> bool:
        """Whether any message was sent yet."""
        return bool(self.shown)

    async def update(self, text: str) -> None:
        """Show the text so far, unless the last round was less than `interval_s` ago."""
        if not text.strip() or self.clock() - self._last < self.interval_s:
            return
        self._last = self.clock()
        parts = split_text(text, self.limit, self.measure)
        marked = split_text(text + TYPING_MARK, self.limit, self.measure)
        # The mark shows the reply is still coming, unless it would need a message of its own.
        await self._show(marked if len(marked) == len(parts) else parts)

    async def finish(self, text: str) -> None:
        """Show exactly `text` (the whole reply, or an error that replaces a broken one).

        If an edit fails (the message was deleted, the network hiccuped), the rest goes out
        as new messages: the final text is never lost."""
        parts = split_text(text, self.limit, self.measure)
        try:
            await self._show(parts)
        except Exception:
            log.warning("editing a streamed reply failed; sending the rest anew", exc_info=True)
            done = next(
                (i for i, (shown, part) in enumerate(zip(self.shown, parts, strict=False))
                 if shown[1] != part),
                min(len(self.shown), len(parts)),
            )  # fmt: skip
            for part in parts[done:]:
                await self._send(part)
            return
        for index in range(len(parts), len(self.shown)):  # an error shorter than the partial
            handle, current = self.shown[index]
            if current != LEFT_OVER:
                await self._edit(handle, LEFT_OVER)
                self.shown[index] = (handle, LEFT_OVER)

    async def _show(self, parts: list[str]) -> None:
        for index, part in enumerate(parts):
            if index < len(self.shown):
                handle, current = self.shown[index]
                if current != part:
                    await self._edit(handle, part)
                    self.shown[index] = (handle, part)
            else:
                self.shown.append((await self._send(part), part))
