"""Discord chunks with balanced fences, and the web's one sanitising HTML path."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.app import Chatlink
from bot.messages import ReplyKind
from bot.providers import DEMO_MARKDOWN
from bot.rendering import split_discord, to_discord, to_html
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slow_model import SlowStream
from tests.support.people import dm
from tests.test_discord import discord_server, link_alice, running

__all__ = ["discord_server", "running"]  # fixtures, shared with test_discord

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$", re.MULTILINE)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fences(chunk: str) -> list[str]:
    return [m.group(1) + m.group(2) for m in FENCE.finditer(chunk)]


def test_a_split_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"let value_{i} = compute({i}); // 😀 step" for i in range(300))
    markdown = f"Intro with **bold**.\n\n```rust\n{code}\n```\n\nThe end, `done`."
    chunks = split_discord(markdown)
    assert len(chunks) >= 6
    for index, chunk in enumerate(chunks):
        assert utf16(chunk) <= 2000
        marks = fences(chunk)
        assert len(marks) % 2 == 0, chunk  # balanced in every chunk
        if 0 < index < len(chunks) - 1:
            assert marks == ["```rust", "```"]
    lines = [line for c in chunks for line in c.split("\n") if not FENCE.match(line)]
    assert [line for line in lines if line.startswith("let ")] == code.split("\n")


def test_an_unclosed_fence_and_a_long_line_are_mended() -> None:
    chunks = split_discord("```py\n" + "x" * 4500)
    assert all(utf16(c) <= 2000 and len(fences(c)) % 2 == 0 for c in chunks)
    assert "".join(c.removeprefix("```py\n").removesuffix("\n```") for c in chunks) == "x" * 4500


def test_tables_become_a_fenced_block() -> None:
    shown = to_discord(DEMO_MARKDOWN)
    assert "|----------|" not in shown
    assert "```\nLanguage │ Typing  │ Year\n─────────┼" in shown
    assert "**bold**" in shown  # Discord draws the rest itself


def test_web_html_has_the_constructs() -> None:
    html = to_html(DEMO_MARKDOWN)
    assert '<pre><code class="language-python">' in html
    assert "<table>" in html and "<strong>bold</strong>" in html and "<s>struck</s>" in html
    assert '<a href="https://example.org/docs?a=1&amp;b=2" rel="noopener noreferrer nofollow">' in (
        html
    )
    assert "&lt;b&gt;tags&lt;/b&gt;" in html


class Elements(HTMLParser):
    """Every element and attribute of some HTML, as a browser would parse it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def test_web_html_never_carries_a_script() -> None:
    hostile = (
        "<script>alert(1)</script> <img src=x onerror=alert(2)> [a](javascript:alert(3)) "
        "[b](data:text/html,x) <a href='javascript:alert(4)'>c</a> [ok](https://e.org)\n\n"
        '```html" onmouseover="alert(5)\n<script>alert(6)</script>\n```'
    )
    html = to_html(hostile)
    elements = Elements(html).found
    assert {tag for tag, _ in elements} <= {"p", "a", "pre", "code"}
    for _, attrs in elements:
        assert all(not name.startswith("on") for name in attrs)
        assert attrs.get("href") in (None, "https://e.org")
    assert "&lt;script&gt;alert(6)&lt;/script&gt;" in html


def test_a_huge_code_block_is_text() -> None:
    html = to_html("```\n" + "<b>x</b>\n" * 5000 + "```")
    assert html.count("&lt;b&gt;") == 5000 and "<b>" not in html


async def test_the_discord_door_sends_balanced_chunks(
    running: tuple[FakeDiscord, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    await link_alice(fake, app)
    code = "\n".join(f"let value_{i} = compute({i});" for i in range(200))
    markdown = f"Here:\n\n```rust\n{code}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    expected = split_discord(markdown)
    assert len(expected) >= 3
    scripted.default = SlowStream([markdown], delay=0)
    await fake.message("code please")
    sent = [c.body["content"] for c in (await fake.wait_for(1 + len(expected)))[1:]]
    assert sent == expected
    assert all(utf16(c) <= 2000 and len(fences(c)) % 2 == 0 for c in sent)
    assert "| a | b |" not in sent[-1] and "a │ b" in sent[-1]
    assert all(c.body.get("allowed_mentions") == {"parse": []} for c in fake.sent()[1:])


async def test_the_echo_provider_demonstrates_every_construct() -> None:
    # Offline, `demo markdown` gets a reply that exercises every renderer (and no echo).
    from bot.providers import EchoProvider, Turn, Usage

    parts = [
        p async for p in EchoProvider().stream([Turn("user", "Demo Markdown please")], Usage())
    ]
    reply = "".join(parts)
    assert reply == DEMO_MARKDOWN
    html = to_html(reply)
    assert all(tag in html for tag in ("<table>", "<pre>", "<strong>", "<blockquote>", "<ol>"))
    ordinary = "".join([p async for p in EchoProvider().stream([Turn("user", "hi")], Usage())])
    assert ordinary.startswith("Echo: hi")


def test_table_alignment_is_a_class_never_a_style() -> None:
    html = to_html('| a | b | c |\n|:-|:-:|--:|\n| 1 | 2 | 3 |\n\n<td style="text-align:right">')
    assert 'class="align-left"' in html and 'class="align-center"' in html
    assert html.count('class="align-right"') == 2  # the header cell and the body cell
    assert "style=" not in html.replace('&lt;td style="text-align:right"&gt;', "")


async def test_help_uses_every_construct_on_every_door(app: Chatlink) -> None:
    from bot.rendering import telegram_messages

    [reply] = await app.core.handle(dm("/help"))
    assert reply.is_markdown and reply.kind is ReplyKind.INFO
    tags = {tag for tag, _ in Elements(to_html(reply.text)).found}
    wanted = {"h2", "strong", "em", "s", "code", "pre", "a", "blockquote", "ul", "ol", "table"}
    assert wanted <= tags
    [message] = telegram_messages(reply.text, 4096)
    kinds = {e.type for e in message.entities}
    assert {"bold", "italic", "strikethrough", "code", "pre", "text_link", "blockquote"} <= kinds
    assert "**" not in message.text and "•" in message.text and "1. " in message.text
    [chunk] = split_discord(reply.text)
    assert len(fences(chunk)) % 2 == 0 and "| Command |" not in chunk  # the table is fenced
