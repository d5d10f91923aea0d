"""Model cost per turn: a 50-turn conversation through the OpenAI- and Anthropic-style
stand-ins, with the prompt caching of chatlink's layout against the old layout, same run.

    .venv/bin/python benchmarks/cost.py [--turns 50] [--from-turn 10] [--seed 7]

Each of 8 runs is the real chatlink core (open_chatlink, SQLite, default settings:
HISTORY_MAX_MESSAGES=20, HISTORY_MAX_CHARS=16000, LLM_CONTEXT_TOKENS=8192) talking to a
stand-in through the official SDK, for {openai, anthropic} x {MEMORY_SUMMARY off, on} x
{new, old}. The stand-ins (tests/fakes/model_apis.py with tests/fakes/prompt_cache.py) count
prompt tokens and serve cached ones the way the APIs do: OpenAI's automatic prefix cache
(1,024 tokens and more, 128-token steps), Anthropic's up to the `cache_control` marks.

- new: the window moving in blocks (bot/conversation/window.py), Anthropic breakpoints
  (bot/providers/prompt_cache.py), each summary asked for at the end of the conversation sent.
- old: the layout before them, rebuilt here: the window slid by one exchange a turn, a summary
  of a transcript every 6 messages that left it, no `cache_control` (the system prompt one
  string).

The person's messages (150-700 characters) and the replies (300-1,500) are the same in every
run (a seeded generator); each summary is a new text. Per turn: the reply request's input
tokens and the share read from the cache, new (and old); the last rows add up turns from
`--from-turn` on, with the summary requests included.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bot.providers.anthropic_messages as anthropic_module
from benchmarks.support import settings
from bot.app import open_chatlink
from bot.conversation.memory import SUMMARY_NOTE, Context, Memory
from bot.conversation.tokens import estimate, estimate_turns
from bot.providers import Turn
from tests.fakes.model_apis import FakeModel, Plan
from tests.fakes.prompt_cache import PromptCache
from tests.fakes.serve import serve
from tests.support.people import dm, link_account_first

WORDS = [
    "tea", "garden", "river", "morning", "plan", "budget", "train", "ticket",
    "recipe", "basil", "tomato", "cheese", "letter", "project", "deadline", "meeting",
    "holiday", "weather", "mountain", "bicycle", "repair", "chapter", "novel", "music",
    "piano", "lesson", "friend", "birthday", "present", "market", "price", "window",
    "kitchen", "paint", "colour",
]  # fmt: skip
OLD_SUMMARY_BATCH = 6  # messages that had to leave the old window before a summary


@dataclass
class Run:
    """One conversation: per turn, the reply request's usage; and every request's."""

    turns: list[dict[str, int]] = field(default_factory=list)
    everything: list[dict[str, int]] = field(default_factory=list)


def words(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < chars:
        out.append(rng.choice(WORDS))
    return " ".join(out)


def script(turns: int, seed: int) -> list[tuple[str, str]]:
    """The person's messages and the model's replies, the same for every run."""
    rng = random.Random(seed)
    return [
        (f"[{n}] " + words(rng, rng.randint(150, 700)), words(rng, rng.randint(300, 1500)))
        for n in range(turns)
    ]


def normalised(provider: str, usage: dict[str, Any]) -> dict[str, int]:
    """Input tokens in all, and those read from and written to the cache."""
    if provider == "openai":
        cached = int(usage["prompt_tokens_details"]["cached_tokens"])
        return {"input": int(usage["prompt_tokens"]), "read": cached, "written": 0}
    read, written = usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
    return {"input": usage["input_tokens"] + read + written, "read": read, "written": written}


async def old_history(
    memory: Memory, thread_id: int, max_tokens: int | None = None, *, vision: bool = False
) -> Context:
    """The window as it was: the newest messages that fit, sliding by one exchange a turn
    (text only: the conversation has no images)."""
    state = await memory.store.thread_state(thread_id)
    recent = await memory.store.recent(thread_id, memory.max_messages + 1)
    note = [Turn("system", SUMMARY_NOTE + state.summary)] if state.summary else []
    dropped = len(recent) > memory.max_messages
    recent = recent[-memory.max_messages :]
    budget = (memory.max_tokens if max_tokens is None else max_tokens) - estimate_turns(note)
    kept: list[Turn] = []
    chars = tokens = 0
    for message in reversed(recent):
        chars += len(message.content)
        tokens += estimate(message.content) + 4
        if kept and (chars > memory.max_chars or tokens > budget):
            break
        kept.append(Turn(message.role, message.content))
    kept.reverse()
    first_kept = recent[len(recent) - len(kept)].id if recent else 0
    trimmed = dropped or len(kept) < len(recent)
    pending = await memory.store.between(thread_id, state.summary_until, first_kept)
    fold = first_kept if trimmed and len(pending) >= OLD_SUMMARY_BATCH else 0
    return Context(note + kept, trimmed, fold)


def old_anthropic_system(prompt: str, system_turns: list[str]) -> Any:
    return "\n\n".join([prompt, *system_turns]).strip()


async def converse(
    provider: str, summaries: bool, new: bool, lines: list[tuple[str, str]], folder: Path
) -> Run:
    fake = FakeModel(cache=PromptCache())
    turn = [0]
    summary_count = [0]
    rng = random.Random(99)

    def respond(body: dict[str, Any]) -> Plan:
        if "Summarise" in json.dumps(body):
            summary_count[0] += 1
            text = f"Summary {summary_count[0]}: " + words(rng, rng.randint(400, 800))
            return Plan(text=text, chunk_chars=400)
        return Plan(text=lines[turn[0]][1], chunk_chars=400)

    fake.respond = respond
    app_of = fake.openai_app() if provider == "openai" else fake.anthropic_app()
    patched = (anthropic_module.anthropic_system, anthropic_module.anthropic_messages)
    if not new:
        anthropic_module.anthropic_system = old_anthropic_system
        anthropic_module.anthropic_messages = list
    run = Run()
    try:
        async with serve(app_of) as url:
            values = {
                "llm_provider": provider,
                "llm_base_url": f"{url}/v1" if provider == "openai" else url,
                "llm_model": "bench-model",
                "llm_api_key": "sk-bench",
                "memory_summary": summaries,
                "rate_limit_per_minute": 0,
            }
            async with open_chatlink(settings(folder, **values)) as app:
                if not new:
                    app.core.memory.history = functools.partial(  # type: ignore[method-assign]
                        old_history, app.core.memory
                    )
                await link_account_first(app, "alice")
                for n, (message, _) in enumerate(lines):
                    turn[0] = n
                    before = len(fake.usages)
                    await app.core.handle(dm(message))
                    reply_usage = fake.usages[before]
                    await app.core.idle()  # the summary, if one is due, before the next turn
                    run.turns.append(normalised(provider, reply_usage))
                    for usage in fake.usages[before:]:
                        run.everything.append({**normalised(provider, usage), "turn": n + 1})
    finally:
        anthropic_module.anthropic_system, anthropic_module.anthropic_messages = patched
    return run


def cost(provider: str, totals: dict[str, int]) -> float:
    """Input tokens priced relative to uncached ones (see the note under the table)."""
    read, written = totals["read"], totals["written"]
    if provider == "openai":
        return totals["input"] - read + 0.5 * read
    return totals["input"] - read - written + 0.1 * read + 1.25 * written


def share(read: int, total: int) -> str:
    return f"{100 * read / total:3.0f}%" if total else "  - "


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--from-turn", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lines = script(args.turns, args.seed)
    configs = [(p, s) for p in ("openai", "anthropic") for s in (False, True)]
    runs: dict[tuple[str, bool, bool], Run] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (provider, summaries) in enumerate(configs):
            for new in (True, False):
                folder = Path(tmp) / f"{index}-{new}"
                folder.mkdir()
                runs[provider, summaries, new] = await converse(
                    provider, summaries, new, lines, folder
                )
    names = [f"{p} summ {'on' if s else 'off'}" for p, s in configs]
    print("input tokens of each turn's reply request, and the share read from the prompt cache")
    print("(new layout; old layout in brackets)")
    print("turn | " + " | ".join(f"{name:^23}" for name in names))
    for n in range(args.turns):
        cells = []
        for provider, summaries in configs:
            new = runs[provider, summaries, True].turns[n]
            old = runs[provider, summaries, False].turns[n]
            cells.append(
                f"{new['input']:5} {share(new['read'], new['input'])}"
                f" ({old['input']:5} {share(old['read'], old['input'])})"
            )
        print(f"{n + 1:4} | " + " | ".join(cells))
    print()
    print(f"turns {args.from_turn}-{args.turns}, every request (summaries too):")
    print(
        f"{'':22} {'input':>8} {'cached':>7} {'written':>8} {'uncached':>9}"
        f" {'old input':>10} {'old cached':>11} {'uncached new/old':>17} {'cost new/old':>13}"
    )
    for (provider, summaries), name in zip(configs, names, strict=True):
        totals = {}
        for new in (True, False):
            rows = [
                r for r in runs[provider, summaries, new].everything if r["turn"] >= args.from_turn
            ]
            totals[new] = {k: sum(r[k] for r in rows) for k in ("input", "read", "written")}
        t, o = totals[True], totals[False]
        print(
            f"{name:22} {t['input']:8} {share(t['read'], t['input']):>7}"
            f" {share(t['written'], t['input']):>8} {t['input'] - t['read']:9}"
            f" {o['input']:10} {share(o['read'], o['input']):>11}"
            f" {(t['input'] - t['read']) / max(1, o['input'] - o['read']):17.2f}"
            f" {cost(provider, t) / max(1.0, cost(provider, o)):13.2f}"
        )
    print(
        "cost: input priced as the providers do, relative to uncached input: OpenAI cached 0.5"
        " (gpt-4o; newer models 0.25-0.1), Anthropic read 0.1 and written 1.25 (5-minute cache)"
    )


if __name__ == "__main__":
    asyncio.run(main())
