"""Streamed pieces reach the door coalesced: "" as the model is asked, the first piece at once,
then at most one call per interval, and the last call always holds the whole reply. The clock
is the test's."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Sequence

import pytest

from bot.conversation.streaming import EmptyReply, generate
from bot.live_progress import LiveProgress, start_eagerly
from bot.providers import Turn, Usage


class Pieces:
    """A model that streams the given pieces, the test's clock moving `step_s` for each."""

    name = "pieces"

    def __init__(self, pieces: list[str], step_s: float) -> None:
        self.pieces = pieces
        self.step_s = step_s
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        for piece in self.pieces:
            self.now += self.step_s
            await asyncio.sleep(0)  # as a real stream waits on its connection
            yield piece

    async def check(self) -> str:
        return "pieces"

    async def close(self) -> None:
        return None


async def _shown(model: Pieces, every_s: float = 0.5) -> tuple[str, list[str]]:
    seen: list[str] = []

    async def on_progress(text: str) -> None:
        seen.append(text)

    reply = await generate(
        model, [Turn("user", "hi")], Usage(), on_progress, every_s=every_s, clock=model.clock
    )
    return reply, seen


async def test_forty_pieces_over_four_seconds_make_a_few_calls() -> None:
    model = Pieces([f"w{n} " for n in range(40)], step_s=0.1)
    reply, seen = await _shown(model)
    assert reply == "".join(model.pieces)
    assert seen[:2] == ["", "w0 "]  # the model asked, then its first piece at once
    assert 3 <= len(seen) <= 11  # one per half second, not one per piece
    assert seen[-1] == reply  # the whole text, though its last pieces came within the interval
    assert all(reply.startswith(text) for text in seen)
    assert len(set(seen)) == len(seen)  # never the same text twice


async def test_slow_pieces_each_show_and_the_end_adds_no_call() -> None:
    model = Pieces(["one ", "two ", "three"], step_s=1.0)
    reply, seen = await _shown(model)
    assert seen == ["", "one ", "one two ", "one two three"] and seen[-1] == reply


async def test_a_slow_door_does_not_hold_up_the_stream() -> None:
    """A door waiting on its platform's flood limits gets fewer, fuller updates, while the
    model's stream is read at its own pace."""
    release = asyncio.Event()

    class ReadToTheEnd(Pieces):
        async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
            async for piece in super().stream(history, usage):
                yield piece
            release.set()  # the whole reply was read while the first edit waited

    model = ReadToTheEnd([f"w{n} " for n in range(40)], step_s=0.1)
    seen: list[str] = []

    async def slow(text: str) -> None:
        if text and not seen[1:]:
            await release.wait()  # the first edit waits behind the limiter...
        seen.append(text)

    work = generate(model, [Turn("user", "hi")], Usage(), slow, every_s=0.5, clock=model.clock)
    reply = await asyncio.wait_for(work, 5)  # (a stream waiting for the door never ends)
    assert reply == "".join(model.pieces)
    assert seen == ["", "w0 ", reply]  # the held first edit, then at once the whole reply


async def test_a_failing_door_still_gets_the_reply_returned() -> None:
    model = Pieces(["a", "b", "c"], step_s=1.0)
    calls: list[str] = []

    async def broken(text: str) -> None:
        calls.append(text)
        raise RuntimeError("edit refused")

    reply = await generate(model, [Turn("user", "hi")], Usage(), broken, clock=model.clock)
    assert reply == "abc" and calls == [""]  # no more calls after the failure


async def test_nothing_streamed_is_an_empty_reply() -> None:
    with pytest.raises(EmptyReply):
        await _shown(Pieces([" ", ""], step_s=0.1))


async def test_tool_rounds_coalesce_their_text_like_plain_replies() -> None:
    from bot.tools.loop import Progress

    now = [0.0]
    heard: list[str] = []

    async def hear(text: str) -> None:
        heard.append(text)

    progress = Progress(hear, every_s=0.5, clock=lambda: now[0])
    await progress.start()  # "": the model is asked (the door's typing starts)
    for at, text in [(0.0, "a"), (0.1, "ab"), (0.2, "abc"), (0.6, "abcd"), (0.7, "abcde")]:
        now[0] = at
        progress.offer(text)
        await asyncio.sleep(0)  # as a real stream waits on its connection
    await progress.flush()  # the round ended: what was held is shown
    assert heard == ["", "a", "abcd", "abcde"]


async def test_an_update_that_needs_no_wait_is_made_in_the_same_turn() -> None:
    """A WebSocket frame is written as the piece is read, not on the loop's next turn (which
    under load comes tens of milliseconds later)."""
    seen: list[str] = []

    async def frame(text: str) -> None:
        seen.append(text)

    progress = LiveProgress(frame, every_s=0.5, clock=lambda: 0.0)
    progress.offer("w0 ")
    assert seen == ["w0 "]  # no await in between: made before offer returned
    progress.offer("w0 w1 ")  # too soon: held for flush
    await progress.flush()
    assert seen == ["w0 ", "w0 w1 "]


async def test_an_eager_start_carries_on_as_a_task_and_can_be_cancelled() -> None:
    steps: list[str] = []
    mark: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="caller's")
    release, reached = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        mark.set("the work's")
        steps.append("started")
        await release.wait()
        steps.append("resumed")
        await asyncio.sleep(0)  # a bare yield
        try:
            steps.append("waiting")
            reached.set()
            await asyncio.Event().wait()  # never set
        finally:
            steps.append(f"cleaned up in {mark.get()} context")

    running = start_eagerly(work())
    assert steps == ["started"] and mark.get() == "caller's"
    release.set()
    await reached.wait()
    assert steps == ["started", "resumed", "waiting"]
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert steps[-1] == "cleaned up in the work's context"
    assert running.cancelled()


async def test_an_eager_start_that_fails_at_once_is_a_failed_future() -> None:
    async def refused() -> None:
        raise RuntimeError("refused")

    failed = start_eagerly(refused())
    assert failed.done() and isinstance(failed.exception(), RuntimeError)
