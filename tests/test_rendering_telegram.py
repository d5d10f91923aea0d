"""Telegram rendering: the model's Markdown as text + entities the Bot API takes, split whole."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from adapters.telegram_bot import TelegramDoor
from bot.app import open_chatlink
from bot.delivery import LiveReply
from bot.providers import DEMO_MARKDOWN
from bot.rendering import Formatted, telegram_messages, to_telegram
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slow_model import SlowStream
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_checks import problem
from tests.support.settings import FakeClock
from tests.test_telegram import link_alice, telegram, telegram_settings

__all__ = ["telegram"]  # the fixture, shared with test_telegram


def as_params(part: Formatted) -> dict[str, Any]:
    """The sendMessage parameters the door sends for `part`."""
    entities = [
        {k: v for k, v in dataclasses.asdict(e).items() if v is not None} for e in part.entities
    ]
    return {"text": part.text, "entities": entities}


def by_units(part: Formatted, offset: int, length: int) -> str:
    raw = part.text.encode("utf-16-le")
    return raw[2 * offset : 2 * (offset + length)].decode("utf-16-le")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def accepted(parts: list[Formatted], markdown: str) -> None:
    """Every part is one the Bot API takes, and together they read as the whole reply."""
    for part in parts:
        assert problem(as_params(part)) is None, part
    assert squeeze("".join(p.text for p in parts)) == squeeze(to_telegram(markdown).text)


def test_every_construct_becomes_an_entity() -> None:
    [part] = telegram_messages(DEMO_MARKDOWN)
    accepted([part], DEMO_MARKDOWN)
    shown = {(e.type, by_units(part, e.offset, e.length)) for e in part.entities}
    assert ("bold", "Markdown, rendered") in shown  # a heading is a bold line
    assert {("bold", "bold"), ("italic", "italic"), ("strikethrough", "struck")} <= shown
    assert ("code", "inline code") in shown
    assert ("blockquote", "A quote: what someone said.") in shown
    [link] = [e for e in part.entities if e.type == "text_link"]
    assert link.url == "https://example.org/docs?a=1&b=2"
    [code, table] = [e for e in part.entities if e.type == "pre"]
    assert code.language == "python" and 'return f"<b>{name}</b> & co"' in by_units(
        part, code.offset, code.length
    )
    assert "Python   │ dynamic │ 1991" in by_units(part, table.offset, table.length)
    assert "• a bullet with bold inside" in part.text and "1. first\n2. second" in part.text
    assert "**" not in part.text and "|---" not in part.text and "```" not in part.text


def test_hostile_text_stays_text() -> None:
    markdown = "<b>not bold</b>, **unbalanced, snake_case_names, a lone ` and [x](javascript:y)"
    [part] = telegram_messages(markdown + " and *one* more")
    accepted([part], markdown + " and *one* more")
    assert "<b>not bold</b>" in part.text and "**unbalanced" in part.text
    assert "snake_case_names" in part.text and "a lone `" in part.text
    assert [e.type for e in part.entities] == ["italic"]  # no link to javascript:


def test_offsets_count_utf16_units() -> None:
    markdown = "😀 **粗体** 🎉🎉 `代码` and [リンク](https://例え.jp) 👍"
    [part] = telegram_messages(markdown)
    accepted([part], markdown)
    shown = [(e.type, by_units(part, e.offset, e.length)) for e in part.entities]
    assert shown == [("bold", "粗体"), ("code", "代码"), ("text_link", "リンク")]
    assert part.entities[0].offset == 3  # the emoji before it counts two


def test_a_long_reply_with_a_long_code_block() -> None:
    prose = " ".join(f"Point **number {i} of many** is *made here*." for i in range(200))
    code = "\n".join(f"value_{i} = compute({i})  # step" for i in range(200))  # ~6,000
    markdown = f"{prose}\n\n```python\n{code}\n```\n\n{prose}"[:20_000]
    assert len(code) > 5_900 and len(markdown) > 19_000
    parts = telegram_messages(markdown)
    accepted(parts, markdown)
    assert len(parts) >= 5
    for part in parts:
        for entity in part.entities:
            shown = by_units(part, entity.offset, entity.length)
            if entity.type == "bold":
                assert re.fullmatch(r"number \d+ of many", shown), shown  # never cut inside
            if entity.type == "italic":
                assert shown == "made here"
    pres = [e for p in parts for e in p.entities if e.type == "pre"]
    assert len(pres) >= 2 and all(e.language == "python" for e in pres)  # complete blocks
    code_lines = [
        line
        for p in parts
        for e in p.entities
        if e.type == "pre"
        for line in by_units(p, e.offset, e.length).split("\n")
    ]
    assert code_lines == code.split("\n")  # every line whole, in order, in a pre


def test_a_streaming_draft_shows_an_unfinished_fence_plain() -> None:
    draft = telegram_messages("**Sure**:\n\n```python\nx = 1\n", draft=True)
    assert [e.type for e in draft[0].entities] == ["bold"]
    assert "```python\nx = 1" in draft[0].text
    done = telegram_messages("**Sure**:\n\n```python\nx = 1\n```")
    assert [e.type for e in done[0].entities] == ["bold", "pre"]


async def test_a_live_reply_edits_with_the_same_rendering() -> None:
    shown: list[Formatted] = []

    async def send(part: Formatted) -> int:
        shown.append(part)
        return len(shown) - 1

    async def edit(handle: int, part: Formatted) -> None:
        shown[handle] = part

    live: LiveReply[int, Formatted] = LiveReply(
        send,
        edit,
        split=telegram_messages,
        draft=lambda text: telegram_messages(text, draft=True),
        interval_s=0,
    )
    await live.update("**Sure**:\n\n```python\nx = 1\n")
    assert "```python" in shown[0].text  # still open: plain
    await live.finish("**Sure**:\n\n```python\nx = 1\n```")
    assert shown == telegram_messages("**Sure**:\n\n```python\nx = 1\n```")


async def test_the_door_sends_entities_the_bot_api_takes(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = telegram
    scripted = ScriptedModel()
    async with open_chatlink(
        telegram_settings(tmp_path, url), clock=clock, provider=scripted
    ) as app:
        door = TelegramDoor(app, poll_timeout=1)
        await door.start()
        try:
            await link_alice(fake, app)
            scripted.default = SlowStream([DEMO_MARKDOWN], delay=0)
            await fake.say("show me")
            [call] = [c for c in await fake.wait_calls("sendMessage", 2) if c.ok][1:]
            assert call.params["text"] == telegram_messages(DEMO_MARKDOWN)[0].text
            types = {e["type"] for e in call.params["entities"]}
            assert {"bold", "italic", "code", "pre", "text_link", "blockquote"} <= types
            # Refused formatting (as Telegram refuses it): the same text goes out plain.
            fake.fail_next(
                "sendMessage", 400, description="Bad Request: can't parse entities: test"
            )
            await fake.say("again")
            calls = await fake.wait_calls("sendMessage", 4)
            assert not calls[2].ok and calls[3].ok
            assert calls[3].params["text"] == calls[2].params["text"]
            assert "entities" not in calls[3].params
            # /help is Markdown too, sent formatted (and taken by the stand-in's checks).
            await fake.say("/help")
            helped = (await fake.wait_calls("sendMessage", 5))[4]
            assert helped.ok and "**" not in helped.params["text"]
            kinds = {e["type"] for e in helped.params["entities"]}
            assert {"bold", "strikethrough", "code", "pre", "text_link", "blockquote"} <= kinds
        finally:
            await door.stop()


def test_the_stand_in_refuses_what_telegram_refuses() -> None:
    refused = "Bad Request: can't parse entities"
    text = "😀 ab"
    assert problem({"text": text, "entities": [{"type": "bold", "offset": 3, "length": 2}]}) is None
    for entities in (
        [{"type": "bold", "offset": 3, "length": 3}],  # past the UTF-16 end
        [{"type": "blink", "offset": 0, "length": 1}],
        [{"type": "pre", "offset": 0, "length": 2, "language": "py thon<"}],
        [{"type": "bold", "offset": 0, "length": 4}, {"type": "italic", "offset": 3, "length": 2}],
        [{"type": "code", "offset": 0, "length": 4}, {"type": "bold", "offset": 3, "length": 1}],
    ):
        assert str(problem({"text": text, "entities": entities})).startswith(refused), entities
    for markup in ("<b>open", "a < b", "<div>x</div>", "<b><i>x</b></i>", "fish & chips"):
        assert str(problem({"text": markup, "parse_mode": "HTML"})).startswith(refused), markup
    assert problem({"text": "<b>x</b> &lt; <i>y</i>", "parse_mode": "HTML"}) is None
    assert problem({"text": "x" * 4097}) == "Bad Request: message is too long"


def test_text_without_markup_is_sent_as_written_without_a_parse() -> None:
    """The shortcut's promise: text it skips would have rendered with no entity at all."""
    import random

    from bot.rendering.telegram_split import might_format

    rng = random.Random(20)
    alphabet = "abcXYZ019 .,:;!?()'\"/@$%^+&{}\n  \n\n1.2) é😀"
    samples = ["Echo: hello\n(I remember 4 earlier messages here.)", "1. one\n2. two", "a\n\n\nb"]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(500)
    ]
    for text in samples:
        if might_format(text):
            continue
        assert to_telegram(text).spans == (), text
        assert telegram_messages(text) == [Formatted(text)] or len(text) > 4096
    for marked in (
        "*a*",
        "`c`",
        "[l](http://x)",
        "# h",
        "t\n===",
        "> q",
        "~~s~~",
        "    code",
        "a|b",
    ):
        assert might_format(marked), marked
