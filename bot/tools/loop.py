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
from collections.abc import Sequence

from bot.live_progress import LiveProgress
from bot.messages import ProgressCallback
from bot.providers import ToolCall, ToolingProvider, ToolRequest, ToolResult, ToolRound, Turn, Usage
from bot.tools.registry import OfferedTool, ToolRegistry

log = logging.getLogger(__name__)

STATUS = "_using {title}…_"
TICK_S = 1.0  # a status line is shown again this often while a call runs (edits are throttled)
TOO_MANY_STEPS = (
    "(I stopped after {steps} rounds of tool calls without finishing. Ask again, perhaps "
    "more narrowly.)"
)
NOT_OFFERED = "There is no tool named {name!r} here. Use only the tools offered."
BAD_ARGUMENTS = "The arguments must be a JSON object."


class Progress(LiveProgress):
    """The live view: only ever appended to (`shown`); the model's text of each round is
    offered as a plain reply's is (see LiveProgress)."""

    shown = ""  # what the live reply holds so far (set on the instance as it grows)

    def join(self, text: str) -> str:
        return self.shown + ("\n\n" if self.shown and text else "") + text

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
            progress.offer(progress.join("".join(pieces)))
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
