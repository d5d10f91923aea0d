"""Tools that go wrong: one that hangs, one that raises, one that returns 1 MB, a server that
exits mid-call, a tool not offered, a model looping past TOOL_MAX_STEPS, and /stop during a
call. Each ends in a clear answer, the thread stays consistent, and the next message works.
The tests' own MCP server runs over streamable HTTP (in this process) and over stdio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Chatlink, open_chatlink
from bot.conversation.replying import STOPPED
from bot.messages import ReplyKind
from tests.fakes.mcp_tools import ToolEvents, serve_http
from tests.fakes.tool_model import Step, ToolModel, call, tool_results
from tests.support.people import dm, link_account_first
from tests.support.tools import KEY_ENV, STDIO_TOOLS, ToolModels, tool_models, until

MAX_CHARS = 5000
STEPS = 2


@pytest.fixture
async def events() -> ToolEvents:
    return ToolEvents()


@pytest.fixture
async def app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: ToolEvents
) -> AsyncIterator[tuple[Chatlink, ToolModels]]:
    monkeypatch.setenv(KEY_ENV, "test-key")
    async with tool_models(tmp_path) as models, serve_http(events) as url:
        servers: dict[str, Any] = {
            "box": {"url": url, "timeout_s": 1},
            "slow": {"url": url, "allowed_tools": ["hang"]},  # TOOL_TIMEOUT_S: 60
            "proc": STDIO_TOOLS,
        }
        settings = models.settings(
            servers, tool_result_max_chars=MAX_CHARS, tool_max_steps=STEPS, tool_timeout_s=60
        )
        async with open_chatlink(settings) as opened:
            await link_account_first(opened, "alice")
            yield opened, models


async def _stored(app: Chatlink) -> list[tuple[str, str]]:
    account = await app.accounts.by_username("alice")
    assert account is not None
    thread = await app.core.memory.thread(account.id, "private")
    context = await app.core.memory.history(thread, None)
    return [(t.role, t.content) for t in context.turns]


async def _next_message_works(app: Chatlink, model: ToolModel) -> None:
    model.steps = [Step("All good.")]
    [reply] = await app.core.handle(dm("And now?"))
    assert reply.kind is ReplyKind.MODEL and reply.text == "All good."
    assert model.refused == []


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("box_hang", "Error: The tool did not answer within 1 s."),
        ("box_fail", "Error: "),
        ("box_nosuch", "Error: There is no tool named 'box_nosuch' here."),
        ("proc_exit", "Error: The tool's server is not available right now."),
    ],
)
async def test_a_failing_call_goes_back_to_the_model_as_an_error(
    app: tuple[Chatlink, ToolModels], tool: str, expected: str
) -> None:
    chatlink, models = app
    model = models.openai
    model.steps = [call(tool), Step("The tool said: {result}")]
    [reply] = await chatlink.core.handle(dm("Try the tool"))
    assert reply.kind is ReplyKind.MODEL
    assert reply.text.startswith("The tool said: " + expected), reply.text
    [result] = tool_results(model.requests[-1])
    assert result["is_error"] is True
    assert await _stored(chatlink) == [("user", "Try the tool"), ("assistant", reply.text)]
    await _next_message_works(chatlink, model)


async def test_a_megabyte_result_is_cut_with_a_note(app: tuple[Chatlink, ToolModels]) -> None:
    chatlink, models = app
    model = models.anthropic
    await chatlink.core.handle(dm("/model claude"))
    model.steps = [call("box_big"), Step("Got it.")]
    [reply] = await chatlink.core.handle(dm("Fetch the big one"))
    assert reply.text == "Got it."
    [result] = tool_results(model.requests[-1])
    content = result["content"]
    assert content.startswith("B" * MAX_CHARS) and len(content) < MAX_CHARS + 200
    assert "[Cut: the result had 1,000,000 characters; only the first 5,000 are shown.]" in content
    await _next_message_works(chatlink, model)


async def test_a_server_that_died_mid_call_is_back_for_the_next_message(
    app: tuple[Chatlink, ToolModels],
) -> None:
    chatlink, models = app
    tools = chatlink.tools
    assert tools is not None
    models.openai.steps = [call("proc_pid"), Step("{result}")]
    [before] = await chatlink.core.handle(dm("pid?"))
    models.openai.steps = [call("proc_exit"), Step("{result}")]
    await chatlink.core.handle(dm("exit!"))
    await until(lambda: _proc(chatlink).starts == 2 and _proc(chatlink).up)
    models.openai.steps = [call("proc_pid"), Step("{result}")]
    [after] = await chatlink.core.handle(dm("pid again?"))
    assert before.text.isdigit() and after.text.isdigit() and before.text != after.text


async def test_a_model_looping_past_the_step_limit_gets_a_last_round_without_tools(
    app: tuple[Chatlink, ToolModels],
) -> None:
    chatlink, models = app
    model = models.openai
    model.default = call("box_echo", {"text": "again"})
    [reply] = await chatlink.core.handle(dm("Loop forever"))
    assert len(model.requests) == STEPS + 1
    assert all(r["tool_choice"] == "none" for r in model.requests[-1:])
    assert all("tool_choice" not in r for r in model.requests[:-1])
    assert reply.kind is ReplyKind.MODEL and reply.text.startswith("(no tools allowed, so:)")
    assert len(tool_results(model.requests[-1])) == STEPS
    model.default = Step()
    await _next_message_works(chatlink, model)


async def test_a_server_ignoring_tool_choice_none_still_ends_in_a_clear_answer(
    app: tuple[Chatlink, ToolModels],
) -> None:
    chatlink, models = app
    model = models.openai
    model.obeys_tool_choice = False
    model.default = call("box_echo", {"text": "again"}, text="Once more.")
    [reply] = await chatlink.core.handle(dm("Loop forever"))
    assert len(model.requests) == STEPS + 1
    assert reply.kind is ReplyKind.MODEL
    assert reply.text.endswith(f"(I stopped after {STEPS} rounds of tool calls without finishing. "
                               "Ask again, perhaps more narrowly.)")  # fmt: skip
    assert await _stored(chatlink) == [("user", "Loop forever"), ("assistant", reply.text)]
    model.default = Step()
    await _next_message_works(chatlink, model)


async def test_stop_cancels_a_running_call_and_keeps_nothing(
    app: tuple[Chatlink, ToolModels], events: ToolEvents
) -> None:
    chatlink, models = app
    models.openai.steps = [call("slow_hang"), Step("never shown")]
    asking = asyncio.create_task(chatlink.core.handle(dm("Wait for it")))
    await events.hang_started.wait()
    [stopping] = await chatlink.core.handle(dm("/stop"))
    assert "Stop" in stopping.text or "stop" in stopping.text
    [reply] = await asking
    assert reply.text == STOPPED
    await asyncio.wait_for(events.hang_cancelled.wait(), 30)  # the server saw it cancelled
    assert len(models.openai.requests) == 1  # no second model round
    assert await _stored(chatlink) == [("user", "Wait for it")]
    await _next_message_works(chatlink, models.openai)
    counted = chatlink.metrics.render().decode()
    assert 'outcome="cancelled",server="slow",tool="hang"} 1.0' in counted


def _proc(app: Chatlink) -> Any:
    assert app.tools is not None
    return next(s for s in app.tools.statuses() if s.name == "proc")
