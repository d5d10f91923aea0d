"""The web chat in headless Chromium when things go wrong: a failed send and its Retry, the
server going away and coming back (reconnecting, backoff, the queue sent again, nothing
stored twice), the character counter, the Copy button, and /help rendered."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.web import WebDoor
from bot.app import Chatlink
from bot.providers import DEMO_MARKDOWN
from tests.fakes import sqlite_faults
from tests.fakes.cuttable_line import CuttableLine
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slow_model import SlowStream
from tests.test_web_browser import ARGS, CHROMIUM
from tests.test_web_chat_browser import SHOTS, SIZES, registered, serious

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium: apt-get install -y chromium"
)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def look(page: Any, name: str) -> None:
    """A screenshot of this state, light and dark, and nothing serious for axe-core in it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = "phone" if page.viewport_size == SIZES["phone"] else "desktop"
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.screenshot(path=str(SHOTS / f"{name}-{size}-{scheme}.png"))
        assert await serious(page) == [], (name, scheme)
    await page.emulate_media(color_scheme="light")


async def stored(app: Chatlink) -> list[tuple[str, str]]:
    account = await app.accounts.by_username("alice")
    assert account is not None
    thread = await app.core.memory.thread(account.id, "private")
    return [(m.role, m.content) for m in await app.core.memory.store.recent(thread, 20)]


async def test_a_failed_send_is_marked_and_retried(
    app: Chatlink, web: WebDoor, scripted: ScriptedModel, browser: Any
) -> None:
    from playwright.async_api import expect

    base = f"http://127.0.0.1:{web.port}"
    page = await browser.new_page(viewport=SIZES["phone"])
    await registered(page, base)
    await page.wait_for_selector("#messages[data-connected='true']")
    async with sqlite_faults.read_only(app.db):
        await page.fill("#chat-input", "kept for later")
        await page.press("#chat-input", "Enter")
        retry = page.locator("#messages > li.user.failed .retry")
        await expect(retry).to_be_visible(timeout=15_000)
        assert await page.locator("#messages > li.notice").count() == 1
        assert await stored(app) == []  # the database refused it: nothing kept
        await look(page, "chat-retry")
    await retry.click()
    await page.wait_for_selector("#messages[data-replies='2']", timeout=15_000)
    assert await page.locator("#messages > li.user.failed").count() == 0
    assert await page.locator(".retry").count() == 0
    answer = await page.locator("#messages > li.assistant").last.inner_text()
    assert answer.startswith("Echo: kept for later")
    assert [role for role, _ in await stored(app)] == ["user", "assistant"]

    # The model fails after the message is stored: Retry writes the reply (as /retry does),
    # and the message is not stored a second time.
    scripted.plans = [SlowStream(["never"], delay=0, fail_after=0)]
    await page.fill("#chat-input", "answer me")
    await page.press("#chat-input", "Enter")
    await expect(retry).to_be_visible(timeout=15_000)
    await retry.click()
    await page.wait_for_selector("#messages[data-replies='4']", timeout=15_000)
    assert await page.locator("#messages > li.user.failed").count() == 0
    kept = await stored(app)
    assert [content for role, content in kept if role == "user"] == ["kept for later", "answer me"]
    assert kept[-1][0] == "assistant" and kept[-1][1].startswith("Echo: answer me")


async def test_server_gone_and_back_resends_the_queue_once(
    app: Chatlink, web: WebDoor, scripted: ScriptedModel, browser: Any
) -> None:
    from playwright.async_api import expect

    line = CuttableLine(web.port)
    await line.start()
    # The page is served through the line, so its origin is the line's (as behind a proxy).
    web.app.state.listen_origins.add(f"http://127.0.0.1:{line.port}")
    gate = asyncio.Event()
    slow = SlowStream(["part one ", "and done"], delay=0.05, gate=gate)
    scripted.plans = [slow]
    try:
        page = await browser.new_page(viewport=SIZES["desktop"])
        await registered(page, f"http://127.0.0.1:{web.port}")  # the cookie is per host
        await page.goto(f"http://127.0.0.1:{line.port}/chat")
        await page.wait_for_selector("#messages[data-connected='true']")
        await page.fill("#chat-input", "first")
        await page.press("#chat-input", "Enter")
        await page.wait_for_selector("#messages > li.assistant[aria-busy]", timeout=15_000)
        await slow.at_gate.wait()

        await line.cut()  # the reply is still being made on the server
        connection = page.locator("#connection")
        await expect(connection).to_have_text("Connection lost. Reconnecting…", timeout=15_000)
        await page.fill("#chat-input", "second")  # typed while the server is away
        await page.press("#chat-input", "Enter")
        assert await page.locator("#messages > li.user.unsent").count() == 2
        await look(page, "chat-reconnecting")
        await asyncio.sleep(1.5)  # a few refused attempts: the backoff grows meanwhile
        await expect(connection).to_be_visible()

        await line.mend()
        await page.wait_for_selector("#messages[data-connected='true']", timeout=30_000)
        await expect(connection).to_be_hidden()
        gate.set()  # the first reply ends now: for the reloaded socket and the resend alike
        await page.wait_for_selector("#messages[data-replies='2']", timeout=15_000)
        bubbles = await page.locator("#messages > li").all_inner_texts()
        assert bubbles[0] == "first" and bubbles[1] == "second"
        assert bubbles[2:4] == ["part one and done", bubbles[3]]
        assert bubbles[3].startswith("Echo: second") and len(bubbles) == 4
        assert await page.locator("#messages > li.unsent, #messages > li.failed").count() == 0
        # Sent twice (before the cut and after), stored and answered once.
        kept = await stored(app)
        assert kept[:3] == [
            ("user", "first"),
            ("assistant", "part one and done"),
            ("user", "second"),
        ]
        assert len(kept) == 4 and kept[3][1].startswith("Echo: second")
    finally:
        gate.set()
        await line.stop()


async def test_counter_copy_and_help(app: Chatlink, web: WebDoor, browser: Any) -> None:
    from playwright.async_api import expect

    base = f"http://127.0.0.1:{web.port}"
    context = await browser.new_context(
        viewport=SIZES["desktop"], permissions=["clipboard-read", "clipboard-write"]
    )
    page = await context.new_page()
    await registered(page, base)
    limit = app.settings.max_message_chars
    counter = page.locator("#chat-counter")
    await page.fill("#chat-input", "x" * 10)
    await expect(counter).to_have_text("")
    await page.fill("#chat-input", "x" * (limit - 40))
    await expect(counter).to_have_text("40 characters left")
    assert "over" not in (await counter.get_attribute("class") or "")
    await page.fill("#chat-input", "x" * (limit + 5))  # the box stops at the limit
    await expect(counter).to_have_text("0 characters left")
    assert "over" in (await counter.get_attribute("class") or "")

    await page.fill("#chat-input", "demo markdown")
    await page.press("#chat-input", "Enter")
    await expect(counter).to_have_text("")
    await page.wait_for_selector("#messages[data-replies='1']", timeout=15_000)
    copy = page.locator("#messages > li.assistant .code-bar .copy").first
    assert await page.locator(".code-bar span").first.inner_text() == "python"
    await copy.click()
    await expect(copy).to_have_text("Copied")
    copied = await page.evaluate("navigator.clipboard.readText()")
    code = DEMO_MARKDOWN.split("```python\n")[1].split("```")[0]
    assert copied == code

    # /help answers in Markdown, rendered like a model reply but drawn as a notice.
    await page.fill("#chat-input", "/help")
    await page.press("#chat-input", "Enter")
    await page.wait_for_selector("#messages[data-replies='2']", timeout=15_000)
    notice = page.locator("#messages > li.notice").last
    for construct in ("h2", "strong", "em", "s", "code", "a[href]", "ul", "ol", "table"):
        assert await notice.locator(construct).count() >= 1, construct
    assert await notice.locator("blockquote, pre code.language-text").count() == 2
    assert "**" not in await notice.inner_text()
    await context.close()
