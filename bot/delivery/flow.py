"""One door flow: how a chat door answers one message, whatever the platform.

The door translates the message and says how to show things (`Rendering`); `answer` decides
when: in the sender's order, with typing and a live reply while the model streams, and with a
short notice when shutdown cuts it off. Files that came with the message are downloaded in
the sender's turn (`fetch`), before the core sees it: a refused download is answered here and
the core never sees the message, so nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from bot.delivery.live_reply import LiveReply
from bot.delivery.runtime import SHUTTING_DOWN, InFlight
from bot.delivery.texts import APOLOGY
from bot.errors import ChatlinkError
from bot.messages import Attachment, IncomingMessage, ProgressCallback, Reply, ReplyKind

log = logging.getLogger(__name__)

P = TypeVar("P", bound=AbstractAsyncContextManager[Any])


class Core(Protocol[P]):
    """What the flow needs of the core (the conversation room, which imports this one)."""

    def place(self, message: IncomingMessage) -> P:
        """The message's place in its sender's line, taken on arrival."""
        ...

    def will_stream(self, message: IncomingMessage) -> bool:
        """Whether the answer may come from the model, streamed."""
        ...

    def ignores(self, message: IncomingMessage) -> bool:
        """Whether the message gets no answer at all (a group not allowed, not addressed):
        its files are then never downloaded."""
        ...

    async def handle(
        self,
        message: IncomingMessage,
        on_progress: ProgressCallback | None = None,
        *,
        place: P | None = None,
    ) -> list[Reply]:
        """The replies to `message`, whose `place` the caller holds."""
        ...


@dataclass(frozen=True, slots=True)
class Rendering:
    """How a door shows the answer to one message in its chat."""

    render: Callable[[Reply], Awaitable[object]]  # one reply, split to the platform's limit
    notify: Callable[[str], Awaitable[object]]  # a short notice (shutting down)
    live_reply: Callable[[], LiveReply[Any, Any]]  # one message edited as the reply streams
    typing: Callable[[], Coroutine[Any, Any, None]]  # "typing…" until cancelled
    about: str = "a message"  # what to name in the log if answering fails (its id)


# Downloads the files a message came with (see bot.media), raising a ChatlinkError to refuse.
Fetch = Callable[[], Awaitable[tuple[Attachment, ...]]]


async def answer(
    core: Core[P],
    message: IncomingMessage,
    rendering: Rendering,
    in_flight: InFlight,
    *,
    refuse: bool = False,
    slots: asyncio.Semaphore | None = None,
    fetch: Fetch | None = None,
) -> None:
    """Answer one chat message and show the replies; `refuse` turns it away with a notice
    (the door is stopping), `slots` bounds the messages answered at once, `fetch` downloads
    the message's files into its `attachments`."""
    in_flight.track()
    if refuse:
        await _notify(rendering.notify, SHUTTING_DOWN)
        return
    live: LiveReply[Any, Any] | None = None
    answered = False
    # Taken before the first await and held until the last part is shown: one sender's
    # messages in one chat are answered in order, never interleaved. The slot is taken only
    # once the sender's turn has come, so messages queued behind a busy sender hold none.
    place = core.place(message)
    try:
        async with place, slots or contextlib.nullcontext():
            typing: asyncio.Task[None] | None = None
            progress: ProgressCallback | None = None
            if core.will_stream(message):
                live = rendering.live_reply()
                shown = live

                async def show(text: str) -> None:
                    nonlocal typing
                    # The first call ("") comes as the model is asked: typing from then on,
                    # not while the message waited for its turn (a flood of quick replies
                    # would otherwise cost a typing action each).
                    if typing is None:
                        typing = asyncio.create_task(rendering.typing())
                    await shown.update(text)
                    if shown.started:
                        # The growing message shows the reply coming: no more typing
                        # actions, which count against the same flood limits as the edits.
                        typing.cancel()

                progress = show

            try:
                ready = await _with_files(message, None if core.ignores(message) else fetch)
                if isinstance(ready, Reply):
                    replies = [ready]
                else:
                    replies = await core.handle(ready, progress, place=place)
            except Exception:
                log.exception("%s: handling %s failed", message.platform.value, rendering.about)
                replies = [Reply(APOLOGY, kind=ReplyKind.ERROR)]
            finally:
                if typing is not None:
                    typing.cancel()
            answered = True
            for index, reply in enumerate(replies):
                if index == 0 and live is not None and live.started:
                    await live.finish(reply.text)  # the streamed message becomes the whole reply
                else:
                    await rendering.render(reply)
    except asyncio.CancelledError:
        if in_flight.cut and not answered:
            # In place of what streamed so far: none of it is stored.
            say = live.finish if live is not None and live.started else rendering.notify
            await _notify(say, SHUTTING_DOWN)
        raise


async def _with_files(message: IncomingMessage, fetch: Fetch | None) -> IncomingMessage | Reply:
    """The message with its files downloaded, or the refusal of them."""
    if fetch is None:
        return message
    try:
        return replace(message, attachments=await fetch())
    except ChatlinkError as error:  # too large, too long, not downloadable: nothing stored
        return Reply.refused(error, private=message.is_private)


async def _notify(say: Callable[[str], Awaitable[object]], text: str) -> None:
    try:
        await say(text)
    except Exception as error:  # on the way out: a lost notice must not hide why it ended
        log.warning("a notice was not delivered: %s", type(error).__name__)
