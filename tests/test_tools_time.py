"""The official reference server mcp-server-time over stdio, called by an OpenAI-style and an
Anthropic-style model through the real SDKs: the call streams in, the result goes back in
the API's native form, and the final text reaches the chat and memory."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Chatlink, open_chatlink
from bot.messages import ReplyKind
from tests.fakes.tool_model import Step, ToolModel, call, tool_results
from tests.support.people import dm, link_account_first
from tests.support.tools import KEY_ENV, TIME_SERVER, ToolModels, tool_models

PARIS = {"timezone": "Europe/Paris"}


@pytest.fixture
async def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ToolModels]:
    monkeypatch.setenv(KEY_ENV, "test-key")
    async with tool_models(tmp_path) as found:
        yield found


@pytest.fixture
async def app(models: ToolModels) -> AsyncIterator[Chatlink]:
    async with open_chatlink(models.settings({"time": TIME_SERVER})) as opened:
        await link_account_first(opened, "alice")
        yield opened


def _check_paris(result: dict[str, object]) -> None:
    assert result["is_error"] is False
    data = json.loads(str(result["content"]))
    assert data["timezone"] == "Europe/Paris"
    moment = datetime.fromisoformat(data["datetime"])
    assert moment.utcoffset() in (timedelta(hours=1), timedelta(hours=2))


async def _ask(app: Chatlink, model: ToolModel, name: str) -> tuple[str, list[str]]:
    model.steps = [call(name, PARIS, text="Let me look."), Step("In Paris it is {result}")]
    shown: list[str] = []

    async def progress(text: str) -> None:
        shown.append(text)

    [reply] = await app.core.handle(dm("What time is it in Paris?"), progress)
    assert reply.kind is ReplyKind.MODEL, reply.text
    return reply.text, shown


@pytest.mark.parametrize("which", ["gpt", "claude"])
async def test_the_model_calls_get_current_time_and_answers(
    models: ToolModels, app: Chatlink, which: str
) -> None:
    model = models.openai if which == "gpt" else models.anthropic
    await app.core.handle(dm(f"/model {which}"))
    text, shown = await _ask(app, model, "time_get_current_time")
    first, second = model.requests
    if which == "gpt":
        offered = [t["function"]["name"] for t in first["tools"]]
    else:
        offered = [t["name"] for t in first["tools"]]
    assert offered == ["time_get_current_time", "time_convert_time"]
    [result] = tool_results(second)
    _check_paris(result)
    assert model.refused == []  # every request was one the real API takes
    # The final text reaches the chat: the model's words and the result they quote.
    assert text.startswith("Let me look.\n\nIn Paris it is ") and "Europe/Paris" in text
    # The live reply showed a status line while the call ran, and only ever grew.
    assert any("_using time.get_current_time…_" in s for s in shown)
    assert all(b.startswith(a) for a, b in itertools.pairwise(shown))
    assert "_using" not in text  # not part of the reply itself
    counted = app.metrics.render().decode()
    assert 'chatlink_tool_calls_total{outcome="ok",server="time",tool="get_current_time"} 1.0' in (
        counted
    )


async def test_memory_keeps_the_final_text_valid_for_either_provider(
    models: ToolModels, app: Chatlink
) -> None:
    text, _ = await _ask(app, models.openai, "time_get_current_time")
    # The next turn, on the other provider: plain turns, alternating, no tool blocks.
    await app.core.handle(dm("/model claude"))
    models.anthropic.steps = [Step("You are welcome.")]
    [reply] = await app.core.handle(dm("Thanks!"))
    assert reply.text == "You are welcome."
    body = models.anthropic.requests[-1]
    assert models.anthropic.refused == []
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == text
    # /retry runs the tools again, and replaces the reply; /undo removes the exchange.
    await app.core.handle(dm("/model gpt"))
    models.openai.steps = [call("time_get_current_time", PARIS), Step("Again: {result}")]
    [again] = await app.core.handle(dm("/retry"))
    assert again.text.startswith("Again: ") and "Europe/Paris" in again.text
    _check_paris(tool_results(models.openai.requests[-1])[0])
    [undone] = await app.core.handle(dm("/undo"))
    assert "Thanks!" in undone.text
    models.openai.steps = [Step("Fresh.")]
    await app.core.handle(dm("Next"))
    roles = [m["role"] for m in models.openai.requests[-1]["messages"] if m["role"] != "system"]
    assert roles == ["user", "assistant", "user"] and models.openai.refused == []
