"""Real model providers through their official SDKs, against stand-in servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Chatlink, open_chatlink
from bot.conversation.core import MODEL_FAILED
from bot.errors import ConfigError
from bot.messages import ReplyKind
from bot.providers import Turn, Usage, make_provider
from tests.fakes.forward_proxy import ForwardProxy
from tests.fakes.model_apis import FakeModel, Plan
from tests.fakes.serve import serve
from tests.support.people import dm, link_account_first
from tests.support.settings import FakeClock, make_settings

PROVIDERS = ["openai", "anthropic"]


@pytest.fixture(params=PROVIDERS)
async def model(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, FakeModel, str]]:
    fake = FakeModel()
    app = fake.openai_app() if request.param == "openai" else fake.anthropic_app()
    async with serve(app) as url:
        yield request.param, fake, url


def model_settings(tmp_path: Path, provider: str, url: str, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "llm_provider": provider,
        "llm_base_url": f"{url}/v1" if provider == "openai" else url,
        "llm_model": "fake-model",
        "llm_api_key": "sk-test-key",
        "llm_system_prompt": "You are terse.",
        "llm_timeout_s": 5,
    }
    return make_settings(tmp_path, **(values | extra))


def timing_out_in_1s(tmp_path: Path, provider: str, url: str) -> Any:
    """Settings whose model requests time out after a second, not retried."""
    return model_settings(tmp_path, provider, url, llm_timeout_s=1, llm_max_retries=0)


def failure_line(caplog: pytest.LogCaptureFixture) -> str:
    """The one log line of a reply the model failed."""
    [line] = [r.getMessage() for r in caplog.records if "failed after" in r.getMessage()]
    return line


@pytest.fixture
async def chat(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[str, FakeModel, Chatlink]]:
    provider, fake, url = model
    async with open_chatlink(model_settings(tmp_path, provider, url), clock=clock) as app:
        await link_account_first(app, "alice")
        yield provider, fake, app


def text_of(content: Any) -> str:
    """A message's or system prompt's text, whether one string or text blocks (which carry
    the prompt-cache marks)."""
    if isinstance(content, str):
        return content
    return "\n\n".join(block["text"] for block in content if block["type"] == "text")


def turns_sent(provider: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    messages = [(m["role"], text_of(m["content"])) for m in body["messages"]]
    if provider == "anthropic":
        messages.insert(0, ("system", text_of(body.get("system", ""))))
    else:  # all system turns as one, like the Messages API's single system prompt
        system = [c for r, c in messages if r == "system"]
        messages = [("system", "\n\n".join(system))] + [m for m in messages if m[0] != "system"]
    return messages


async def test_history_and_system_prompt_arrive(chat: tuple[str, FakeModel, Chatlink]) -> None:
    provider, fake, app = chat
    fake.plans = [Plan(text="Tea is nice."), Plan(text="You like tea.")]
    [first] = await app.core.handle(dm("I like tea"))
    assert first.text == "Tea is nice." and first.kind is ReplyKind.MODEL
    [second] = await app.core.handle(dm("What do I like?"))
    assert second.text == "You like tea."
    assert turns_sent(provider, fake.requests[-1]) == [
        ("system", "You are terse."),
        ("user", "I like tea"),
        ("assistant", "Tea is nice."),
        ("user", "What do I like?"),
    ]
    body = fake.requests[-1]
    assert body["model"] == "fake-model" and body["max_tokens"] == 1024 and body["stream"]
    auth = fake.headers[-1].get("authorization") or fake.headers[-1].get("x-api-key")
    assert auth is not None and "sk-test-key" in auth


async def test_usage_is_counted_and_shown(chat: tuple[str, FakeModel, Chatlink]) -> None:
    provider, _, app = chat
    await app.core.handle(dm("hello"))
    [whoami] = await app.core.handle(dm("/whoami"))
    expected = 18 if provider == "openai" else 13 + 9
    assert f"Model tokens today: {expected}." in whoami.text


async def test_retried_after_429(chat: tuple[str, FakeModel, Chatlink]) -> None:
    provider, fake, app = chat
    fake.plans = [Plan(status=429), Plan(text="Made it.")]
    [reply] = await app.core.handle(dm("hi"))
    assert reply.text == "Made it." and len(fake.requests) == 2
    # Sent as the SDK sends it (the OpenAI one goes over aiohttp: bot.providers.openai_client).
    assert [h.get("x-stainless-retry-count") for h in fake.headers] == ["0", "1"]
    agent = "AsyncOpenAI/Python" if provider == "openai" else "AsyncAnthropic/Python"
    assert all(h.get("user-agent", "").startswith(agent) for h in fake.headers)
    assert fake.requests[0] == fake.requests[1]  # the same body again


async def test_persistent_500_gives_a_short_answer_and_keeps_history(
    chat: tuple[str, FakeModel, Chatlink],
) -> None:
    provider, fake, app = chat
    fake.plans = [Plan(status=500)] * 3  # the first try and both retries
    [reply] = await app.core.handle(dm("are you there?"))
    assert reply.text == MODEL_FAILED and reply.kind is ReplyKind.ERROR
    assert len(fake.requests) == 3
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    thread = await app.core.memory.thread(alice.id, "private")
    stored = [(m.role, m.content) for m in await app.core.memory.store.recent(thread, 10)]
    assert stored == [("user", "are you there?")]
    fake.plans = [Plan(text="Back again.")]
    [ok] = await app.core.handle(dm("now?"))
    assert ok.text == "Back again."
    sent = turns_sent(provider, fake.requests[-1])[1:]
    if provider == "anthropic":  # turns of one role are merged for the Messages API
        assert sent == [("user", "are you there?\n\nnow?")]
    else:
        assert sent == [("user", "are you there?"), ("user", "now?")]


async def test_stream_cut_midway_stores_no_half_reply(
    chat: tuple[str, FakeModel, Chatlink],
) -> None:
    _, fake, app = chat
    fake.plans = [Plan(text="This reply will never be finished.", cut_after=2)] * 3
    progress: list[str] = []

    async def on_progress(text: str) -> None:
        progress.append(text)

    [reply] = await app.core.handle(dm("tell me a story"), on_progress=on_progress)
    assert reply.text == MODEL_FAILED
    assert progress and len(fake.requests) == 1  # text had arrived when the stream broke
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    thread = await app.core.memory.thread(alice.id, "private")
    assert [m.role for m in await app.core.memory.store.recent(thread, 10)] == ["user"]
    fake.plans = []
    [ok] = await app.core.handle(dm("again"))
    assert ok.kind is ReplyKind.MODEL


async def test_slow_first_token_streams(chat: tuple[str, FakeModel, Chatlink]) -> None:
    _, fake, app = chat
    fake.plans = [Plan(text="Worth waiting for, I hope.", first_token_delay=1.5)]
    seen: list[str] = []

    async def on_progress(text: str) -> None:
        seen.append(text)

    [reply] = await app.core.handle(dm("slowly"), on_progress=on_progress)
    assert reply.text == "Worth waiting for, I hope."
    # It arrived in pieces, coalesced (the first at once, then at most one call every
    # PROGRESS_EVERY_S), the last call showing the whole text.
    assert len(seen) >= 2 and seen[0] != reply.text and seen[-1] == reply.text


async def test_small_context_budget_trims_and_tells_once(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> None:
    provider, fake, url = model
    settings = model_settings(tmp_path, provider, url, llm_context_tokens=400, llm_max_tokens=100)
    fake.default = Plan(text="ok")
    async with open_chatlink(settings, clock=clock) as app:
        await link_account_first(app, "alice")
        notices = []
        for n in range(8):
            replies = await app.core.handle(dm(f"{n} " + "words " * 60))
            notices += [r for r in replies if "no longer in my context" in r.text]
        assert len(notices) == 1  # told once per thread
        last = turns_sent(provider, fake.requests[-1])
        assert last[-1][1].startswith("7 ")
        assert not any(content.startswith("0 ") for _, content in last)  # oldest left out
        assert sum(len(c) for _, c in last) // 4 <= 400 - 100
        [reset] = await app.core.handle(dm("/reset"))
        assert "forgot" in reset.text


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"llm_provider": "openai", "llm_model": ""}, "LLM_MODEL"),
        ({"llm_provider": "openai", "llm_model": "m"}, "LLM_API_KEY"),
        ({"llm_provider": "anthropic", "llm_model": "m"}, "LLM_API_KEY"),
        ({"llm_provider": "gemini", "llm_model": "m"}, "LLM_PROVIDER"),
    ],
)
def test_configuration_errors_name_the_setting(
    tmp_path: Path, values: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        make_provider(make_settings(tmp_path, **values))


async def test_local_server_needs_no_key(tmp_path: Path) -> None:
    provider = make_provider(
        make_settings(
            tmp_path,
            llm_provider="openai",
            llm_model="llama3",
            llm_base_url="http://localhost:11434/v1",
        )
    )
    assert provider.name == "openai"
    await provider.close()


async def test_memory_summary_folds_older_turns(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> None:
    """Folded a block at a time, one turn ahead, so that the summary and the window's start
    change in the same turn. (Before the window moved in blocks, one exchange left it each
    turn and a summary of a transcript waited for 6 messages; now a block of half the window
    is folded as soon as another exchange would not fit: with 8 messages, 4 at a time.)"""
    from bot.conversation.memory import SUMMARY_NOTE
    from bot.conversation.replying import SUMMARY_TURN

    provider, fake, url = model
    settings = model_settings(tmp_path, provider, url, memory_summary=True, history_max_messages=8)
    fake.default = Plan(text="Alice likes tea.")
    async with open_chatlink(settings, clock=clock) as app:
        alice = await link_account_first(app, "alice")
        for n in range(9):
            await app.core.handle(dm(f"message {n}"))
            await app.core.idle()  # summaries are made after the reply is out
        summary_requests = [r for r in fake.requests if "Summarise" in json.dumps(r)]
        assert len(summary_requests) == 3  # after messages 3, 5 and 7
        replies = [r for r in fake.requests if r not in summary_requests]
        # Asked at the end of the conversation as just sent (and its reply), so that the
        # request begins with the reply request's prefix, which the prompt cache holds.
        first = turns_sent(provider, summary_requests[0])
        assert first[:-2] == turns_sent(provider, replies[3])
        assert first[-2] == ("assistant", "Alice likes tea.")
        assert first[-1] == ("user", SUMMARY_TURN.content)
        assert [c for r, c in first if r == "user"][:2] == ["message 0", "message 1"]
        assert SUMMARY_NOTE + "Alice likes tea." in turns_sent(provider, summary_requests[1])[0][1]
        after_fold = turns_sent(provider, replies[4])  # message 4, after the first fold
        assert after_fold[1] == ("user", "message 2")  # starts where the summary stops
        last = turns_sent(provider, replies[-1])
        expected = SUMMARY_NOTE + "Alice likes tea."
        assert expected in last[0][1]  # the system prompt, or the turn after it (openai)
        assert last[-1] == ("user", "message 8")
        thread = await app.core.memory.thread(alice.id, "private")
        assert (await app.core.memory.store.thread_state(thread)).summary == "Alice likes tea."
        await app.core.handle(dm("/reset"))
        state = await app.core.memory.store.thread_state(thread)
        assert (state.summary, state.summary_until, state.window_from) == (None, 0, 0)


async def test_a_stream_that_stops_without_its_end_is_not_a_reply(
    chat: tuple[str, FakeModel, Chatlink],
) -> None:
    _, fake, app = chat
    fake.plans = [Plan(text="A reply that just stops", no_end=True)]
    [reply] = await app.core.handle(dm("go"))
    assert reply.text == MODEL_FAILED
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    thread = await app.core.memory.thread(alice.id, "private")
    assert [m.role for m in await app.core.memory.store.recent(thread, 5)] == ["user"]


async def test_a_long_retry_after_is_cut_short(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> None:
    import time

    provider, fake, url = model
    settings = model_settings(tmp_path, provider, url, llm_timeout_s=1, llm_max_retries=2)
    fake.default = Plan(status=429, retry_after_s=30)
    async with open_chatlink(settings, clock=clock) as app:
        await link_account_first(app, "alice")
        started = time.monotonic()
        [reply] = await app.core.handle(dm("hello?"))
        assert reply.text == MODEL_FAILED
        assert time.monotonic() - started < 10  # 1 s x 3 tries + 2 s, not 30 s waits


async def _fold_in_flight(app: Chatlink, summary: Plan) -> None:
    """Chat until a conversation summary is being made, held by the model server."""
    await link_account_first(app, "alice")
    for n in range(8):
        await app.core.handle(dm(f"message {n}"))
        # Summaries start after the reply is out: wait until this one's is done, or held.
        idle = asyncio.ensure_future(app.core.idle())
        held = asyncio.ensure_future(summary.at_hold.wait())
        await asyncio.wait({idle, held}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        idle.cancel()  # stops waiting only: the summary goes on
        held.cancel()
        if summary.at_hold.is_set():
            return
    raise AssertionError("no summary was started")


async def _summary_stored(settings: Any, clock: FakeClock) -> str | None:
    async with open_chatlink(settings, clock=clock) as app:
        alice = await app.accounts.by_username("alice")
        assert alice is not None
        thread = await app.core.memory.thread(alice.id, "private")
        return (await app.core.memory.store.thread_state(thread)).summary


async def test_shutdown_lets_a_summary_in_flight_finish(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock, caplog: Any
) -> None:
    provider, fake, url = model
    summary = Plan(text="Alice counts.", hold=asyncio.Event())
    fake.when = [("Summarise", summary)]
    settings = model_settings(
        tmp_path, provider, url, memory_summary=True, history_max_messages=4, shutdown_grace_s=30
    )
    async with open_chatlink(settings, clock=clock) as app:
        await _fold_in_flight(app, summary)
        assert summary.hold is not None
        # The model answers only once the app is closing: closing waits for it.
        asyncio.get_running_loop().call_later(0.2, summary.hold.set)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await _summary_stored(settings, clock) == "Alice counts."


async def test_shutdown_cancels_a_summary_that_outlasts_the_grace(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock, caplog: Any
) -> None:
    provider, fake, url = model
    summary = Plan(text="never finished", hold=asyncio.Event())  # never let go
    fake.when = [("Summarise", summary)]
    settings = model_settings(
        tmp_path, provider, url, memory_summary=True, history_max_messages=4, shutdown_grace_s=0.3
    )
    async with open_chatlink(settings, clock=clock) as app:
        await _fold_in_flight(app, summary)
        closing = time.monotonic()
    assert time.monotonic() - closing < 5  # the grace, not the model, decides
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # Cut off cleanly: said once, and nothing about a closed provider or database.
    assert warnings == ["conversation summaries: 1 cut off after SHUTDOWN_GRACE_S=0.3s"]
    assert await _summary_stored(settings, clock) is None


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "rate_limit_exceeded", "status=429 reason=rate_limit_exceeded"),
        (500, None, "status=500 reason="),
    ],
)
async def test_a_model_failure_logs_status_and_reason_never_key_or_prompt(
    model: tuple[str, FakeModel, str],
    tmp_path: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str | None,
    expected: str,
) -> None:
    provider, fake, url = model
    fake.default = Plan(status=status, error_code=code)
    settings = model_settings(tmp_path, provider, url, llm_max_retries=0)
    async with open_chatlink(settings, clock=clock) as app:
        alice = await link_account_first(app, "alice")
        caplog.set_level(logging.INFO, logger="bot.conversation")
        [reply] = await app.core.handle(dm("my secret plans for tuesday"))
    assert reply.kind is ReplyKind.ERROR
    line = failure_line(caplog)
    assert line.startswith(f"reply provider {provider} failed after ")
    assert f"account_id={alice.id} model=fake-model {expected}" in line
    assert "error=" in line and "Error" in line.rsplit("error=", 1)[1]
    assert "sk-test-key" not in line and "secret plans" not in line and "busy" not in line


async def test_a_stream_that_stalls_past_the_timeout_is_a_timeout(
    model: tuple[str, FakeModel, str],
    tmp_path: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, fake, url = model
    stalled = asyncio.Event()
    fake.default = Plan(text="A reply that stops halfway for good", hold=stalled, hold_after=2)
    settings = timing_out_in_1s(tmp_path, provider, url)
    try:
        async with open_chatlink(settings, clock=clock) as app:
            alice = await link_account_first(app, "alice")
            caplog.set_level(logging.INFO, logger="bot.conversation")
            [reply] = await app.core.handle(dm("go on"))
            thread = await app.core.memory.thread(alice.id, "private")
            stored = [m.role for m in await app.core.memory.store.recent(thread, 5)]
    finally:
        stalled.set()
    assert reply.text == MODEL_FAILED and stored == ["user"]
    line = failure_line(caplog)
    # Each SDK's word for it: the OpenAI one's error class, httpx's under Anthropic's.
    assert ("error=APITimeoutError" if provider == "openai" else "error=ReadTimeout") in line


async def test_a_stream_slower_in_all_than_the_timeout_but_never_silent_that_long_is_whole(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> None:
    # The timeout is between two pieces (bot.providers.read_watch), not for the whole reply.
    provider, fake, url = model
    fake.default = Plan(text="Slow and steady wins it", chunk_chars=5, piece_delay=0.4)
    settings = timing_out_in_1s(tmp_path, provider, url)
    async with open_chatlink(settings, clock=clock) as app:
        await link_account_first(app, "alice")
        started = time.monotonic()
        [reply] = await app.core.handle(dm("take your time"))
        took = time.monotonic() - started
        for _ in range(100):  # at its next tick, with no body left to watch, the watch ends
            watches = [t for t in asyncio.all_tasks() if t.get_name() == "read-watch"]
            if not watches:
                break
            await asyncio.sleep(0.05)
    assert reply.kind is ReplyKind.MODEL and reply.text == "Slow and steady wins it"
    assert took > 1.5 and watches == []


async def test_a_reader_busy_longer_than_the_timeout_loses_nothing(
    model: tuple[str, FakeModel, str], tmp_path: Path
) -> None:
    # Only waiting counts: the whole reply arrived while the reader was busy elsewhere.
    provider_name, fake, url = model
    fake.default = Plan(text="Every word of it kept")
    settings = timing_out_in_1s(tmp_path, provider_name, url)
    provider = make_provider(settings)
    pieces = []
    try:
        async for piece in provider.stream([Turn("user", "hello")], Usage()):
            if not pieces:
                await asyncio.sleep(2)
            pieces.append(piece)
    finally:
        await provider.close()
    assert "".join(pieces) == "Every word of it kept"


async def test_no_headers_within_the_timeout_is_a_timeout_on_a_connection_a_stream_used(
    model: tuple[str, FakeModel, str],
    tmp_path: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The watched stream turned aiohttp's read timeout off on its connection; the next
    # request on that connection waits for its headers under the timeout all the same.
    provider, fake, url = model
    fake.plans = [Plan(text="First, in good time."), Plan(headers_delay=5)]
    settings = timing_out_in_1s(tmp_path, provider, url)
    async with open_chatlink(settings, clock=clock) as app:
        await link_account_first(app, "alice")
        caplog.set_level(logging.INFO, logger="bot.conversation")
        [first] = await app.core.handle(dm("one"))
        [second] = await app.core.handle(dm("two"))
    assert first.text == "First, in good time." and second.text == MODEL_FAILED
    line = failure_line(caplog)
    assert "error=APITimeoutError" in line


async def test_replies_go_through_the_proxy_the_environment_names(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, proxy = FakeModel(), ForwardProxy()
    async with serve(fake.openai_app()) as url, proxy.running() as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "")
        async with open_chatlink(model_settings(tmp_path, "openai", url), clock=clock) as app:
            await link_account_first(app, "alice")
            [reply] = await app.core.handle(dm("through the proxy"))
    assert reply.text == Plan().text
    assert proxy.targets == [f"{url}/v1/chat/completions"]
    assert turns_sent("openai", fake.requests[-1])[-1] == ("user", "through the proxy")


async def test_an_unreachable_model_logs_the_connection_error_and_its_cause(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(FakeModel().openai_app()) as url:
        pass  # the server has gone: its port refuses connections
    settings = model_settings(tmp_path, "openai", url, llm_max_retries=0)
    async with open_chatlink(settings, clock=clock) as app:
        await link_account_first(app, "alice")
        caplog.set_level(logging.INFO, logger="bot.conversation")
        [reply] = await app.core.handle(dm("anyone there?"))
    assert reply.kind is ReplyKind.ERROR
    line = failure_line(caplog)
    # aiohttp's word for it (bot.providers.openai_chat.openai_client); httpx's: ConnectError
    assert line.endswith(" model=fake-model error=APIConnectionError cause=ClientConnectorError")
