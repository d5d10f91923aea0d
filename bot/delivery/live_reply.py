"""A reply shown while it streams: edits at a bounded pace, split at the platform's limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

from bot.delivery.splitting import Measure, split_text

Handle = TypeVar("Handle")
Part = TypeVar("Part")  # what one message shows: text, or text with its formatting
Split = Callable[[str], list[Part]]

log = logging.getLogger(__name__)

TYPING_MARK = " …"
LEFT_OVER = "…"


class LiveReply(Generic[Handle, Part]):
    """Renders a growing text into as few messages as the limit allows.

    `split` renders a finished text into messages (by default: plain text cut at `limit` as
    `measure` counts), `draft` a text still growing (by default the same). `update` is
    throttled to one round of edits per `interval_s` (platforms rate-limit edits; a function
    is asked each time, for a pace that follows the load), starting only once the reply has
    streamed that long; `finish` shows the exact
    text, so what people end up reading is always the whole reply, split the same way as
    a reply that never streamed.
    """

    def __init__(
        self,
        send: Callable[[Part], Awaitable[Handle]],
        edit: Callable[[Handle, Part], Awaitable[object]],
        *,
        limit: int = 0,
        measure: Measure = len,
        split: Split[Part] | None = None,
        draft: Split[Part] | None = None,
        interval_s: float | Callable[[], float] = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._edit = edit
        self.limit = limit
        self.measure = measure
        if split is None:
            if limit < 2:
                raise ValueError("a limit, or a split, is needed")
            split = cast(Split[Any], lambda text: split_text(text, limit, measure))
        self.split: Split[Part] = split
        self.draft: Split[Part] = draft or split
        self.interval_s = interval_s
        self.clock = clock
        self.shown: list[tuple[Handle, Part]] = []
        # Nothing is shown before `interval_s` has passed since the first text: a reply that
        # streams quickly goes out once, whole, however long it waited for its turn.
        self._last: float | None = None

    @property
    def started(self) -> bool:
        """Whether any message was sent yet."""
        return bool(self.shown)

    async def update(self, text: str) -> None:
        """Show the text so far, unless the last round was less than `interval_s` ago."""
        if not text.strip():
            return
        now = self.clock()
        if self._last is None:
            self._last = now
        interval = self.interval_s() if callable(self.interval_s) else self.interval_s
        if now - self._last < interval:
            return
        self._last = now
        parts = self.draft(text)
        marked = self.draft(text + TYPING_MARK)
        # The mark shows the reply is still coming, unless it would need a message of its own.
        await self._show(marked if len(marked) == len(parts) else parts)

    async def finish(self, text: str) -> None:
        """Show exactly `text` (the whole reply, or an error that replaces a broken one).

        If an edit fails (the message was deleted, the network hiccuped), the rest goes out
        as new messages: the final text is never lost."""
        parts = self.split(text)
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
        left_over = self.split(LEFT_OVER)[0]
        for index in range(len(parts), len(self.shown)):  # an error shorter than the partial
            handle, current = self.shown[index]
            if current != left_over:
                await self._edit(handle, left_over)
                self.shown[index] = (handle, left_over)

    async def _show(self, parts: list[Part]) -> None:
        for index, part in enumerate(parts):
            if index < len(self.shown):
                handle, current = self.shown[index]
                if current != part:
                    await self._edit(handle, part)
                    self.shown[index] = (handle, part)
            else:
                self.shown.append((await self._send(part), part))
