"""Prompt caching: the window moving in blocks keeps each request's prefix the previous one's,
Anthropic's `cache_control` marks, the budget held over long conversations, and cached
tokens counted apart in the usage records and /usage. Against the stand-ins' prefix cache."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from anthropic import AsyncAnthropic, BadRequestError

from bot.app import open_chatlink
from bot.conversation.tokens import estimate
from bot.conversation.window import Bounds, Window, place
from storage import StoredMessage
from tests.fakes.model_apis import FakeModel, Plan
from tests.fakes.prompt_cache import PromptCache
from tests.fakes.serve import serve
from tests.support.people import dm, link_account_first
from tests.support.settings import FakeClock
from tests.test_providers import model_settings, text_of, turns_sent

WORDS = [
    "tea", "river", "garden", "train", "letter", "piano", "market", "window",
    "colour", "budget", "recipe",
]  # fmt: skip


def words(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < chars:
        out.append(rng.choice(WORDS))
    return " ".join(out)


@pytest.fixture(params=["openai", "anthropic"])
async def model(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, FakeModel, str]]:
    fake = FakeModel(cache=PromptCache())
    app = fake.openai_app() if request.param == "openai" else fake.anthropic_app()
    async with serve(app) as url:
        yield request.param, fake, url


def unmarked(body: dict[str, Any]) -> list[Any]:
    """What a request sends, without its cache marks (which move from turn to turn) and
    with a string content as the one text block it stands for."""
    system = body.get("system")
    head = [("system", text_of(system))] if system else []
    return head + [(m["role"], text_of(m["content"])) for m in body["messages"]]


def replies(fake: FakeModel) -> list[dict[str, Any]]:
    return [r for r in fake.requests if "Summarise" not in json.dumps(r)]


async def test_the_prefix_holds_between_moves_of_the_window(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> None:
    provider, fake, url = model
    rng = random.Random(3)
    fake.respond = lambda body: Plan(text=words(rng, 900), chunk_chars=300)
    async with open_chatlink(model_settings(tmp_path, provider, url), clock=clock) as app:
        await link_account_first(app, "alice")
        for n in range(24):
            await app.core.handle(dm(f"[{n}] " + words(rng, 400)))
    sent = [unmarked(body) for body in replies(fake)]
    moves = [n for n in range(1, len(sent)) if sent[n][: len(sent[n - 1])] != sent[n - 1]]
    # HISTORY_MAX_MESSAGES=20: full after 10 exchanges, then down to 9 messages, full again
    # 5 turns later; every other request begins with the whole of the one before.
    assert moves == [10, 16, 22]
    for n in moves:
        assert sent[n][1][1].startswith(f"[{n - 4}]")  # starts at a user message
        assert len(sent[n]) == 1 + 9
    # And the stand-in, caching as the API does, served most of the prompt from its cache.
    usages = fake.usages[len(fake.usages) - 13 :]
    if provider == "openai":
        read = sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages)
        total = sum(u["prompt_tokens"] for u in usages)
    else:
        read = sum(u["cache_read_input_tokens"] for u in usages)
        total = sum(
            u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"]
            for u in usages
        )
    assert read / total > 0.6


@pytest.mark.parametrize("summaries", [False, True])
async def test_the_context_budget_holds_over_a_long_conversation(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock, summaries: bool
) -> None:
    provider, fake, url = model
    rng = random.Random(5)
    fake.respond = lambda body: Plan(text=words(rng, rng.randint(200, 3000)), chunk_chars=500)
    limits = {"llm_context_tokens": 3000, "llm_max_tokens": 500, "history_max_chars": 9000}
    settings = model_settings(tmp_path, provider, url, memory_summary=summaries, **limits)
    async with open_chatlink(settings, clock=clock) as app:
        await link_account_first(app, "alice")
        for n in range(60):
            await app.core.handle(dm(f"[{n}] " + words(rng, rng.randint(100, 3000))))
            await app.core.idle()
    budget = 3000 - 500
    sent = [turns_sent(provider, body) for body in replies(fake)]
    assert len(sent) == 60
    for n, turns in enumerate(sent):
        history = [content for role, content in turns if role != "system"]
        assert history[-1].startswith(f"[{n}]")  # the newest message is always there
        assert len(history) <= 20 and sum(len(c) for c in history) <= 9000
        assert sum(estimate(content) + 4 for _, content in turns) <= budget, n
    if summaries:
        assert any("Summary of the earlier conversation" in turns[0][1] for turns in sent)


async def test_cache_marks_on_the_stable_prefix(tmp_path: Path, clock: FakeClock) -> None:
    fake = FakeModel(cache=PromptCache())
    fake.respond = lambda body: Plan(text="Noted: " + "word " * 150, chunk_chars=400)
    async with serve(fake.anthropic_app()) as url:
        settings = model_settings(
            tmp_path, "anthropic", url, memory_summary=True, history_max_messages=8
        )
        async with open_chatlink(settings, clock=clock) as app:
            await link_account_first(app, "alice")
            for n in range(6):
                await app.core.handle(dm(f"message {n} " + "lorem " * 200))
                await app.core.idle()
    last = replies(fake)[-1]
    system = last["system"]
    assert [b["text"][:10] for b in system] == ["You are te", "Summary of"]
    assert all(b["cache_control"] == {"type": "ephemeral"} for b in system)
    marked = [
        (index, message["role"])
        for index, message in enumerate(last["messages"])
        if isinstance(message["content"], list) and "cache_control" in message["content"][-1]
    ]
    count = len(last["messages"])
    assert marked == [(count - 3, "user"), (count - 1, "user")]  # the previous turn's end, now
    for body in fake.requests:  # never more than the API takes
        blocks = [b for b in body.get("system", []) if isinstance(b, dict)]
        blocks += [
            b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]
        ]
        assert sum("cache_control" in b for b in blocks) <= 4
    # The first request of a thread has only the system prompt and its message to mark.
    first = fake.requests[0]
    assert len(first["messages"]) == 1 and "cache_control" in first["messages"][0]["content"][0]


async def test_cached_tokens_reach_the_records_and_usage(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> None:
    provider, fake, url = model
    fake.default = Plan(text="A fairly long answer. " * 60, chunk_chars=400)
    async with open_chatlink(model_settings(tmp_path, provider, url), clock=clock) as app:
        alice = await link_account_first(app, "alice")
        for n in range(6):
            await app.core.handle(dm(f"{n}: " + "tell me more about it " * 40))
        [usage] = await app.core.handle(dm("/usage"))
        [whoami] = await app.core.handle(dm("/whoami"))
        totals = await app.core.replier.usage_store.by_model(
            app.core.usage.day_start(), account_id=alice.id
        )
    if provider == "openai":
        read = sum(u["prompt_tokens_details"]["cached_tokens"] for u in fake.usages)
        written = 0
        spent = sum(u["total_tokens"] for u in fake.usages)
    else:
        read = sum(u["cache_read_input_tokens"] for u in fake.usages)
        written = sum(u["cache_creation_input_tokens"] for u in fake.usages)
        spent = read + written + sum(u["input_tokens"] for u in fake.usages)
        spent += sum(-(-len("A fairly long answer. " * 60) // 4) for _ in fake.usages)
    assert read > 0 and (provider == "openai" or written > 0)
    [total] = totals
    assert (total.cache_read_tokens, total.cache_write_tokens) == (read, written)
    assert f"Of them read from the prompt cache: {read:,} (written to it: {written:,})." in (
        usage.text
    )
    assert f"({read:,} cached)" in usage.text
    # Cached tokens count in full against the day's tokens (and DAILY_TOKEN_BUDGET).
    assert total.tokens == spent and f"Model tokens today: {spent:,}." in whoami.text


def _stored(*contents: str) -> list[StoredMessage]:
    at = datetime(2026, 1, 1)
    roles = ("user", "assistant")
    return [StoredMessage(10 + i, 1, roles[i % 2], c, "web", at) for i, c in enumerate(contents)]


def test_the_window_fills_then_drops_a_block_from_a_user_message() -> None:
    bounds = Bounds(messages=6, chars=10_000, tokens=10_000)
    five = _stored("u0", "a0", "u1", "a1", "u2")
    assert place(five, 0, bounds) == Window(0, False, 0 + 2)  # full after one more: fold ahead
    seven = _stored("u0", "a0", "u1", "a1", "u2", "a2", "u3")
    # Over the bound: back to at most 3 (half), starting at a user message: u2 a2 u3.
    assert place(seven, 0, bounds) == Window(4, True, None)
    # The stored start holds while the rest fits; nothing moves.
    assert place(seven, seven[4].id, bounds) == Window(4, False, None)


def test_a_newest_message_too_long_for_the_window_still_goes_alone() -> None:
    messages = _stored("short", "reply", "x" * 500)
    assert place(messages, 0, Bounds(messages=20, chars=400, tokens=10_000)) == Window(
        2, True, None
    )


async def test_the_anthropic_stand_in_refuses_a_fifth_cache_mark() -> None:
    fake = FakeModel()
    async with serve(fake.anthropic_app()) as url:
        client = AsyncAnthropic(api_key="sk-test", base_url=url, max_retries=0)
        block: Any = {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
        with pytest.raises(BadRequestError, match="maximum of 4 blocks"):
            await client.messages.create(
                model="m",
                max_tokens=5,
                system=[block] * 2,
                messages=[{"role": "user", "content": [block] * 3}],
            )
        await client.close()


async def test_a_backlog_is_folded_from_a_transcript(
    model: tuple[str, FakeModel, str], tmp_path: Path, clock: FakeClock
) -> None:
    """MEMORY_SUMMARY turned on for a thread whose window already moved: what left it is
    not in the conversation sent, so it is summarised from a transcript."""
    provider, fake, url = model
    fake.default = Plan(text="ok")
    async with open_chatlink(model_settings(tmp_path, provider, url), clock=clock) as app:
        alice = await link_account_first(app, "alice")
        for n in range(12):
            await app.core.handle(dm(f"[{n}] hello"))
    assert not [r for r in fake.requests if "Summarise" in json.dumps(r)]
    fake.when = [("Summarise", Plan(text="Alice says hello a lot."))]
    settings = model_settings(tmp_path, provider, url, memory_summary=True)
    async with open_chatlink(settings, clock=clock) as app:
        await app.core.handle(dm("[12] hello"))
        await app.core.idle()
        thread = await app.core.memory.thread(alice.id, "private")
        state = await app.core.memory.store.thread_state(thread)
    [summary] = [r for r in fake.requests if "Summarise" in json.dumps(r)]
    transcript = turns_sent(provider, summary)[-1][1]
    assert transcript.startswith("user: [0] hello\nassistant: ok")
    assert state.summary == "Alice says hello a lot." and state.summary_until > 0
    assert state.window_from == state.summary_until + 1  # the window starts right after it
