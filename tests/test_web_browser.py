"""A person in headless Chromium: link a chat from the page, then chat with a streamed reply."""

from __future__ import annotations

import shutil

import pytest

from adapters.web import WebDoor
from bot.app import Chatlink
from tests.support.people import dm
from tests.support.settings import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)",
)


async def test_link_from_the_page_then_chat(app: Chatlink, web: WebDoor) -> None:
    from playwright.async_api import async_playwright

    [reply] = await app.core.handle(dm("/link", "1001", display_name="Alice on Telegram"))
    code = reply.text.split()[-1]
    base = f"http://127.0.0.1:{web.port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            await page.goto(f"{base}/link/{code}")
            assert "Alice on Telegram" in await page.inner_text("main")
            form = page.locator("#register-form")
            await form.locator("input[name=username]").fill("alice")
            await form.locator("input[name=password]").fill(PASSWORD)
            await form.locator("input[name=password_repeat]").fill(PASSWORD)
            await form.locator("button[type=submit]").click()
            await page.wait_for_url(f"{base}/account")
            assert "telegram chat is now linked to alice" in await page.inner_text("main")
            identity = await app.accounts.store.identity("telegram", "1001")
            assert identity is not None

            await app.core.handle(dm("said on telegram first", "1001"))
            await page.goto(f"{base}/chat")
            await page.fill("#chat-input", "hello from the browser")
            await page.press("#chat-input", "Enter")
            await page.wait_for_selector("#messages[data-replies='1']", timeout=15_000)
            answer = await page.locator("#messages li.assistant").last.inner_text()
            assert answer.startswith("Echo: hello from the browser")
            assert 'you said: "said on telegram first"' in answer
            await page.screenshot(path=str(app.settings.data_dir / "chat.png"))
        finally:
            await browser.close()
