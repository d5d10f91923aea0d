"""The catalogue (MODELS_FILE, PERSONAS_FILE) and a thread's controls, against loopback models:
two models on one OpenAI-compatible stand-in and one Anthropic-style model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from bot.app import Chatlink, open_chatlink
from bot.conversation.replying import STOPPED
from bot.errors import ConfigError
from bot.messages import Platform, ReplyKind
from bot.providers.models_file import load_models
from tests.fakes.model_apis import Plan
from tests.support.models import ANTHROPIC_KEY_ENV, Models, model_servers
from tests.support.people import dm, group, link_account_first
from tests.support.settings import FakeClock, make_settings


@pytest.fixture
async def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Models]:
    monkeypatch.setenv(ANTHROPIC_KEY_ENV, "sk-ant-test")
    async with model_servers(tmp_path) as found:
        yield found


@pytest.fixture
async def app(models: Models, clock: FakeClock) -> AsyncIterator[Chatlink]:
    async with open_chatlink(models.settings(), clock=clock) as chatlink:
        await link_account_first(chatlink, "alice")
        yield chatlink


def system_of(body: dict[str, Any]) -> str:
    if "system" in body:
        return str(body["system"])
    return "\n\n".join(m["content"] for m in body["messages"] if m["role"] == "system")


async def test_models_side_by_side_with_shared_clients(models: Models, app: Chatlink) -> None:
    [listing] = await app.core.handle(dm("/model"))
    assert "small" in listing.text and "(current)" in listing.text
    assert "secret" not in listing.text  # admin-only, alice is not an admin
    await app.core.handle(dm("hello"))
    assert models.openai.requests[-1]["model"] == "small-1"  # the first is the default
    [switched] = await app.core.handle(dm("/model large"))
    assert "large" in switched.text
    await app.core.handle(dm("again"))
    assert models.openai.requests[-1]["model"] == "large-2"
    assert models.openai.requests[-1]["max_tokens"] == 333
    await app.core.handle(dm("/model claude"))
    [reply] = await app.core.handle(dm("and Claude?"))
    assert reply.kind is ReplyKind.MODEL
    assert models.anthropic.requests[-1]["model"] == "claude-x"
    # One SDK client for the two models on one server.
    catalogue = app.catalogue
    small, large = catalogue.provider("small"), catalogue.provider("large")
    assert small.client is large.client  # type: ignore[attr-defined]


async def test_persona_prompt_arrives_as_the_system_message(models: Models, app: Chatlink) -> None:
    await app.core.handle(dm("/persona pirate"))
    await app.core.handle(dm("hi"))
    system = system_of(models.openai.requests[-1])
    assert "You are terse." in system and "Answer like a pirate." in system
    # A persona that pins a model answers with it.
    [applied] = await app.core.handle(dm("/persona poet"))
    assert "poet" in applied.text
    await app.core.handle(dm("hi again"))
    assert "Answer in rhyme." in system_of(models.anthropic.requests[-1])
    await app.core.handle(dm("/persona off"))
    await app.core.handle(dm("plain"))
    assert "rhyme" not in system_of(models.openai.requests[-1])


async def test_system_prompt_set_shown_cleared_and_bounded(models: Models, app: Chatlink) -> None:
    [none] = await app.core.handle(dm("/system"))
    assert "No custom system prompt" in none.text
    await app.core.handle(dm("/system Always answer in French."))
    await app.core.handle(dm("hi"))
    assert "Always answer in French." in system_of(models.openai.requests[-1])
    [shown] = await app.core.handle(dm("/system"))
    assert "Always answer in French." in shown.text
    [refused] = await app.core.handle(dm("/system " + "x" * 4001))
    assert refused.kind is ReplyKind.REJECTED and "4,000" in refused.text
    [still] = await app.core.handle(dm("/system"))
    assert "Always answer in French." in still.text  # nothing changed
    await app.core.handle(dm("/system off"))
    [cleared] = await app.core.handle(dm("/system"))
    assert "No custom system prompt" in cleared.text


async def test_bad_names_and_admin_only_models_change_nothing(
    models: Models, app: Chatlink
) -> None:
    await app.core.handle(dm("/model large"))
    for text in ("/model nonsense", "/model secret", "/persona nobody"):
        [refused] = await app.core.handle(dm(text))
        assert refused.kind is ReplyKind.REJECTED, text
        assert ("small" in refused.text) or ("pirate" in refused.text), refused.text
        assert "secret," not in refused.text  # the list never offers an admin-only model
    await app.core.handle(dm("hi"))
    assert models.openai.requests[-1]["model"] == "large-2"
    # An admin may pick the admin-only model.
    await app.admin.set_admin("test", "alice", True)
    [listing] = await app.core.handle(dm("/model"))
    assert "secret" in listing.text
    [picked] = await app.core.handle(dm("/model secret"))
    assert picked.kind is ReplyKind.INFO, picked.text
    await app.core.handle(dm("hi"))
    assert models.openai.requests[-1]["model"] == "admin-9"


async def test_switch_on_telegram_holds_on_the_web_and_after_a_restart(
    models: Models, clock: FakeClock
) -> None:
    async with open_chatlink(models.settings(), clock=clock) as app:
        alice = await link_account_first(app, "alice")
        await app.core.handle(dm("/model large"))
        await app.core.handle(dm("/persona pirate"))
        web = dm("from the web", platform=Platform.WEB)
        await app.core.handle(web, account=alice)
        assert models.openai.requests[-1]["model"] == "large-2"
        # A group has a thread, and settings, of its own.
        await app.core.handle(group("in the group"))
        assert models.openai.requests[-1]["model"] == "small-1"
    async with open_chatlink(models.settings(), clock=clock) as app:
        await app.core.handle(dm("after the restart"))
        body = models.openai.requests[-1]
        assert body["model"] == "large-2" and "pirate" in system_of(body)


async def test_retry_sends_the_same_history_and_keeps_only_the_new_reply(
    models: Models, app: Chatlink
) -> None:
    models.openai.plans = [Plan(text="First answer."), Plan(text="Second answer.")]
    await app.core.handle(dm("question"))
    sent = models.openai.requests[-1]["messages"]
    [again] = await app.core.handle(dm("/retry"))
    assert again.text == "Second answer." and again.kind is ReplyKind.MODEL
    assert models.openai.requests[-1]["messages"] == sent
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    stored = [(m.role, m.content) for m in await app.core.memory.page(alice.id, "private", 10)]
    assert stored == [("user", "question"), ("assistant", "Second answer.")]


async def test_retry_keeps_the_old_reply_when_the_model_fails(
    models: Models, app: Chatlink
) -> None:
    models.openai.plans = [Plan(text="Kept."), Plan(status=400)]
    await app.core.handle(dm("question"))
    [failed] = await app.core.handle(dm("/retry"))
    assert failed.kind is ReplyKind.ERROR
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    stored = [(m.role, m.content) for m in await app.core.memory.page(alice.id, "private", 10)]
    assert stored == [("user", "question"), ("assistant", "Kept.")]


async def test_undo_removes_the_last_exchange(models: Models, app: Chatlink) -> None:
    models.openai.plans = [Plan(text="One."), Plan(text="Two.")]
    await app.core.handle(dm("first message"))
    await app.core.handle(dm("second message here"))
    [undone] = await app.core.handle(dm("/undo"))
    assert "second message here" in undone.text
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    stored = [(m.role, m.content) for m in await app.core.memory.page(alice.id, "private", 10)]
    assert stored == [("user", "first message"), ("assistant", "One.")]
    await app.core.handle(dm("/undo"))
    [nothing] = await app.core.handle(dm("/undo"))
    assert "nothing to undo" in nothing.text.lower()


async def test_stop_closes_the_stream_stores_nothing_and_the_next_message_works(
    models: Models, app: Chatlink
) -> None:
    slow = Plan(text="A long story that never ends", hold=asyncio.Event(), hold_after=1)
    models.openai.plans = [slow, Plan(text="Quick.")]
    async with AsyncExitStack() as stack:
        stack.callback(slow.hold.set)  # type: ignore[union-attr]
        first = asyncio.create_task(app.core.handle(dm("tell me a story")))
        await slow.at_hold.wait()
        # Through the door's flow /stop takes no place behind the reply it stops.
        place = app.core.place(dm("/stop"))
        async with place:
            [stopping] = await app.core.handle(dm("/stop"), place=place)
        assert "Stopping" in stopping.text
        [stopped] = await first
        assert stopped.text == STOPPED
    [next_reply] = await app.core.handle(dm("next"))
    assert next_reply.text == "Quick."
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    stored = [(m.role, m.content) for m in await app.core.memory.page(alice.id, "private", 10)]
    assert ("assistant", "A long story that never ends") not in stored
    assert not any(c.startswith("A lo") for r, c in stored if r == "assistant")
    [idle] = await app.core.handle(dm("/stop"))
    assert "Nothing is being written" in idle.text


async def test_usage_matches_what_was_recorded(models: Models, clock: FakeClock) -> None:
    settings = models.settings(rate_limit_per_minute=20, daily_token_budget=1000)
    async with open_chatlink(settings, clock=clock) as app:
        await link_account_first(app, "alice")
        await usage_figures(app)


async def usage_figures(app: Chatlink) -> None:
    await app.core.handle(dm("hello"))  # openai stand-in: 11 + 7 tokens
    await app.core.handle(dm("/model claude"))
    await app.core.handle(dm("hello Claude"))  # anthropic stand-in: 13 + 9 tokens
    [usage] = await app.core.handle(dm("/usage"))
    assert "Tokens today: 40 of 1,000 (960 left)." in usage.text
    assert "claude 22" in usage.text and "small 18" in usage.text
    assert "Messages this minute: 2 of 20." in usage.text
    assert "Model: claude." in usage.text and "Persona: off." in usage.text


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[[models]]\nname = "a"\nprovider = "magic"\nmodel = "m"\n', "unknown provider 'magic'"),
        (
            '[[models]]\nname = "a"\nprovider = "echo"\n'
            '[[models]]\nname = "A"\nprovider = "echo"\n',
            "entry 2 (A): duplicate name",
        ),
        (
            '[[models]]\nname = "a"\nprovider = "anthropic"\nmodel = "m"\n'
            'api_key_env = "NOPE_KEY"\n',
            "the key variable NOPE_KEY is not set",
        ),
        ('[[models]]\nname = "a"\nprovider = "echo"\nmodel = \n', "bad TOML"),
        ('[[models]]\nname = "a"\nprovider = "echo"\ncolour = "red"\n', "unknown field 'colour'"),
        ('[[models]]\nname = "a b"\nprovider = "echo"\n', "entry 1: name must be"),
    ],
)
async def test_a_broken_models_file_stops_start_up_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, problem: str
) -> None:
    monkeypatch.delenv("NOPE_KEY", raising=False)
    path = tmp_path / "models.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        async with open_chatlink(make_settings(tmp_path, models_file=str(path))):
            pass
    message = str(raised.value)
    assert "\n" not in message and str(path) in message and problem in message, message
    if problem == "bad TOML":
        assert "line 4" in message
    assert not (tmp_path / "data" / "chatlink.db").exists()  # stopped before the database


def test_the_first_model_is_the_default_unless_one_says_so(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[[models]]\nname = "a"\nprovider = "echo"\n'
        '[[models]]\nname = "b"\nprovider = "echo"\ndefault = true\n'
    )
    assert [m.name for m in load_models(path)] == ["b", "a"]


async def test_doctor_checks_every_model(models: Models, clock: FakeClock) -> None:
    from bot.operations import core_checks, run_checks

    text = models.models_file.read_text().replace('model = "large-2"', 'model = "fake"')
    models.models_file.write_text(text)  # the OpenAI stand-in serves one model: "fake"
    async with open_chatlink(models.settings(), clock=clock) as app:
        checks = core_checks(app.db, app.core.provider, app.limiter, catalogue=app.catalogue)
        outcomes = {o.name: o for o in await run_checks(checks)}
    assert {"model small", "model large", "model claude", "model secret"} <= set(outcomes)
    assert "model" not in outcomes
    assert outcomes["model large"].passed, outcomes["model large"]
    small = outcomes["model small"]
    assert not small.passed and "small in MODELS_FILE" in small.detail


def test_chatlink_models_lists_the_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.cli.main import main

    models_file, personas_file = tmp_path / "models.toml", tmp_path / "personas.toml"
    models_file.write_text(
        '[[models]]\nname = "quick"\nprovider = "echo"\ndescription = "Offline"\n'
        '[[models]]\nname = "boss"\nprovider = "echo"\nadmin_only = true\ndefault = true\n'
    )
    personas_file.write_text('[[personas]]\nname = "pirate"\nprompt = "Arr."\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELS_FILE", str(models_file))
    monkeypatch.setenv("PERSONAS_FILE", str(personas_file))
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"models ({models_file}):"
    assert out[1].split() == ["boss", "echo", "boss", "[default,", "admin", "only]"]
    assert out[2].split() == ["quick", "echo", "quick:", "Offline"]
    assert out[3] == f"personas ({personas_file}):" and out[4].split() == ["pirate"]
    models_file.write_text('[[models]]\nname = "a"\nprovider = "magic"\n')
    assert main(["models"]) != 0
    [error] = capsys.readouterr().err.splitlines()
    assert "entry 1 (a): unknown provider 'magic'" in error


async def test_history_fits_the_context_of_the_model_answering(
    models: Models, clock: FakeClock
) -> None:
    tiny = models.models_file.read_text().split("[[models]]")[1]  # "small" on the same server
    tiny = tiny.replace('name = "small"', 'name = "tiny"') + "context_tokens = 400\n"
    models.models_file.write_text(models.models_file.read_text() + "[[models]]" + tiny)
    async with open_chatlink(models.settings(), clock=clock) as app:
        await link_account_first(app, "alice")
        for index in range(4):
            await app.core.handle(dm(f"{index} " + "word " * 60))  # about 75 tokens each
        wide = [m for m in models.openai.requests[-1]["messages"] if m["role"] != "system"]
        await app.core.handle(dm("/model tiny"))
        await app.core.handle(dm("4 " + "word " * 60))
        narrow = [m for m in models.openai.requests[-1]["messages"] if m["role"] != "system"]
    assert len(wide) == 7  # all of it fits 8,192 tokens
    # 400 tokens (less the reply's) hold a few turns: the oldest are left out.
    assert len(narrow) < len(wide) + 2 and narrow[-1]["content"].startswith("4 ")
    assert not any(m["content"].startswith("0 ") for m in narrow)


async def test_controls_need_a_linked_account_and_help_lists_them(app: Chatlink) -> None:
    stranger = "4004"
    for command in ("/model", "/persona pirate", "/system hi", "/retry", "/undo", "/stop"):
        [refused] = await app.core.handle(dm(command, stranger))
        assert refused.kind is ReplyKind.REJECTED and "/link" in refused.text, command
    [usage] = await app.core.handle(dm("/usage", stranger))
    assert usage.kind is ReplyKind.REJECTED
    [help_text] = await app.core.handle(dm("/help"))
    for command in ("/model", "/persona", "/system", "/retry", "/undo", "/stop", "/usage"):
        assert command in help_text.text, command
