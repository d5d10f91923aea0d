"""A reply with tools: the model's rounds of calls, at most TOOL_MAX_STEPS, then its answer.

What the person sees while it works is append-only (each door's live reply may only grow):
the model's text so far and a status line per call ("_using time.get_current_time…_").
The reply itself, the one stored and shown at the end, is the model's text alone: the
status lines go when the live reply becomes the whole reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from bot.messages import ProgressCallback
from bot.providers import ToolCall, ToolingProvider, ToolRequest, ToolResult, ToolRound, Turn, Usage
from bot.tools.registry import OfferedTool, ToolRegistry

log = logging.getLogger(__name__)

STATUS = "_using {title}…_"
TICK_S = 1.0  # a status line is shown again this often while a call runs (edits are throttled)
# The model's text goes to the door at most this often (the first piece at once, the rest of a
# round when it ends), as replies without tools do (bot.conversation.streaming).
PIECES_EVERY_S = 0.5
TOO_MANY_STEPS = (
    "(I stopped after {steps} rounds of tool calls without finishing. Ask again, perhaps "
    "more narrowly.)"
)
NOT_OFFERED = "There is no tool named {name!r} here. Use only the tools offered."
BAD_ARGUMENTS = "The arguments must be a JSON object."


class Progress:
    """The live view: only ever appended to; a failed update turns further updates off.

    A round's streamed text is shown beside the stream, as `streaming.generate` shows a plain
    reply's: one update at a time, never holding up the reading (see there)."""

    def __init__(
        self,
        on_progress: ProgressCallback | None,
        *,
        every_s: float = PIECES_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_progress = on_progress
        self.shown = ""
        self.every_s = every_s
        self.clock = clock
        self._piece_at: float | None = None
        self._held: str | None = None  # the text of a round not shown yet (coalesced)
        self._showing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Say the model is being asked (""): a door starts its typing action then."""
        await self._send("")

    async def piece(self, text: str) -> None:
        """The round's text so far: shown at once the first time, then at most every
        `every_s`, and never while an update is still on its way; `flush` shows what was
        held."""
        now = self.clock()
        busy = self._showing is not None and not self._showing.done()
        if busy or (self._piece_at is not None and now - self._piece_at < self.every_s):
            self._held = text
            return
        self._piece_at, self._held = now, None
        if text.strip():
            self._showing = asyncio.create_task(self._send(text))

    async def flush(self) -> None:
        await self.settle()
        if self._held is not None:
            held, self._held = self._held, None
            await self.show(held)

    async def settle(self) -> None:
        """Wait for the update on its way, if any (before the door shows anything else)."""
        if self._showing is not None and not self._showing.done():
            await asyncio.wait({self._showing})

    def join(self, text: str) -> str:
        return self.shown + ("\n\n" if self.shown and text else "") + text

    async def show(self, text: str) -> None:
        await self.settle()
        if text.strip():
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

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self.show(self.shown)


async def run_tool_loop(
    provider: ToolingProvider,
    history: Sequence[Turn],
    offered: Sequence[OfferedTool],
    registry: ToolRegistry,
    usage: Usage,
    on_progress: ProgressCallback | None,
    *,
    account_id: int,
) -> str:
    """The reply text (maybe empty: the caller decides what that means)."""
    progress = Progress(on_progress)
    await progress.start()
    try:
        return await _rounds(provider, history, offered, registry, usage, progress, account_id)
    finally:
        await progress.settle()  # no late update may race the door's final text


async def _rounds(
    provider: ToolingProvider,
    history: Sequence[Turn],
    offered: Sequence[OfferedTool],
    registry: ToolRegistry,
    usage: Usage,
    progress: Progress,
    account_id: int,
) -> str:
    specs = [tool.spec for tool in offered]
    by_name = {tool.spec.name: tool for tool in offered}
    rounds: list[ToolRound] = []
    texts: list[str] = []
    calls_made = 0
    for step in range(registry.max_steps + 1):
        # The last round may not call: the model must answer with what it has.
        request = ToolRequest(specs, tuple(rounds), final=step == registry.max_steps)
        pieces: list[str] = []
        calls: list[ToolCall] = []
        async for piece in provider.stream_tools(history, request, usage):
            if isinstance(piece, ToolCall):
                calls.append(piece)
                continue
            pieces.append(piece)
            await progress.piece(progress.join("".join(pieces)))
        await progress.flush()
        text = "".join(pieces)
        if text.strip():
            texts.append(text.strip())
            progress.shown = progress.join(text)  # as shown: the live view only grows
        if not calls:
            break
        if request.final:  # asked for more calls after all: end here, clearly
            texts.append(TOO_MANY_STEPS.format(steps=registry.max_steps))
            break
        results = []
        for call in calls:
            results.append(await _call(call, by_name, registry, progress, account_id))
        calls_made += len(calls)
        rounds.append(ToolRound(text, tuple(calls), tuple(results)))
    log.info(
        "tool loop: account_id=%s rounds=%d calls=%d offered=%d",
        account_id,
        len(rounds),
        calls_made,
        len(offered),
    )
    return "\n\n".join(texts)


async def _call(
    call: ToolCall,
    by_name: dict[str, OfferedTool],
    registry: ToolRegistry,
    progress: Progress,
    account_id: int,
) -> ToolResult:
    tool = by_name.get(call.name)
    if tool is None:
        # Labelled by nothing the model made up: its inventions must not grow the metrics.
        registry.metrics.tool_calls.labels("", "", "not_offered").inc()
        log.info("tool not offered: account_id=%s name=%.64r", account_id, call.name)
        return ToolResult(call.id, NOT_OFFERED.format(name=call.name), True)
    if call.arguments is None:
        registry.metrics.tool_calls.labels(tool.server, tool.tool, "bad_arguments").inc()
        return ToolResult(call.id, BAD_ARGUMENTS, True)
    progress.shown = progress.join(STATUS.format(title=tool.spec.title))
    await progress.show(progress.shown)
    ticker = asyncio.create_task(progress.tick())
    try:
        return await registry.call(tool, call.id, call.arguments, account_id=account_id)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
