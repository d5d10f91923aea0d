"""The web chat in headless Chromium: rendered replies, no script, Stop, order, accessibility.

Screenshots (light and dark, desktop 1280x800 and phone 390x844) are written to
build/screenshots/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from adapters.web import WebDoor
from bot.app import Chatlink
from bot.providers import DEMO_MARKDOWN
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slow_model import SlowStream
from tests.support.settings import PASSWORD
from tests.test_web_browser import ARGS, CHROMIUM

SHOTS = Path(__file__).parent.parent / "build" / "screenshots"
HOSTILE = "\n\n<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
"""

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium: apt-get install -y chromium"
)


async def registered(page: Any, base: str) -> None:
    await page.goto(f"{base}/register")
    form = page.locator("form[action='/register']")
    await form.locator("input[name=username]").fill("alice")
    await form.locator("input[name=password]").fill(PASSWORD)
    await form.locator("input[name=password_repeat]").fill(PASSWORD)
    await form.locator("button[type=submit]").click()
    await page.wait_for_url(f"{base}/chat")


async def serious(page: Any) -> list[str]:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    return [
        f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_a_rendered_reply_runs_nothing_and_reads_well(
    app: Chatlink, web: WebDoor, scripted: ScriptedModel
) -> None:
    from playwright.async_api import async_playwright

    scripted.default = SlowStream([DEMO_MARKDOWN[:400], DEMO_MARKDOWN[400:] + HOSTILE], delay=0.05)
    base = f"http://127.0.0.1:{web.port}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport=SIZES["desktop"])
            await context.add_init_script(WATCH)
            page = await context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            await registered(page, base)
            for n in range(3):  # enough to scroll
                await page.fill("#chat-input", f"show me {n}")
                await page.press("#chat-input", "Enter")
                await page.wait_for_selector(f"#messages[data-replies='{n + 1}']", timeout=15_000)
            reply = page.locator("#messages > li.assistant").last
            assert await reply.locator("pre code.language-python").count() == 1
            assert await reply.locator("table").count() == 1
            assert await reply.locator("strong").count() >= 2
            assert await reply.locator("script, img").count() == 0
            assert await reply.locator(".code-bar button").count() == 1
            assert await page.locator("#announcer").inner_text() != ""
            await page.reload()  # history is rendered by the same path
            assert await page.locator("#messages > li.assistant pre code").count() == 3
            assert await page.locator("#messages > li.assistant a[href^=javascript]").count() == 0
            for size, viewport in SIZES.items():
                await page.set_viewport_size(viewport)
                for scheme in ("light", "dark"):
                    await page.emulate_media(color_scheme=scheme)
                    await page.goto(f"{base}/chat")
                    await page.wait_for_selector("#messages[data-connected='true']")
                    # The newest bubble is fully visible above the sticky message box.
                    last = await page.locator("#messages > li").last.bounding_box()
                    box = await page.locator("#chat-form").bounding_box()
                    assert last is not None and box is not None
                    assert last["y"] + last["height"] <= box["y"] + 1, (size, last, box)
                    await page.screenshot(path=str(SHOTS / f"chat-{size}-{scheme}.png"))
                    if size == "desktop":
                        assert await serious(page) == [], scheme
                        for path in ("/account", "/nowhere"):
                            await page.goto(base + path)
                            assert await serious(page) == [], (scheme, path)
                        # The 404 page keeps the logged-in menu.
                        assert "Log out (alice)" in await page.inner_text("header")
            await asyncio.sleep(0)
            assert dialogs == []
            assert await page.evaluate("window.__csp") == []
        finally:
            await browser.close()


async def test_stop_and_a_message_sent_while_streaming(
    app: Chatlink, web: WebDoor, scripted: ScriptedModel
) -> None:
    from playwright.async_api import async_playwright

    gate = asyncio.Event()
    slow = SlowStream(["Thinking ", "hard ", "about it"], delay=0.05, gate=gate)
    scripted.plans = [slow, SlowStream(["second answer"], delay=0), SlowStream(["third"], delay=0)]
    base = f"http://127.0.0.1:{web.port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport=SIZES["phone"])
            await registered(page, base)
            await page.fill("#chat-input", "first")
            await page.press("#chat-input", "Enter")
            await page.wait_for_selector("#stop:not([hidden])", timeout=15_000)
            await page.wait_for_selector("#messages > li.assistant[aria-busy]", timeout=15_000)
            # Typed while the reply streams: kept, and sent once the first is answered.
            await page.fill("#chat-input", "second")
            await page.press("#chat-input", "Enter")
            await page.click("#stop")
            await page.wait_for_selector("#messages[data-replies='2']", timeout=15_000)
            texts = await page.locator("#messages > li").all_inner_texts()
            assert texts[-1] == "second answer" and "Stopped" in texts[-2]
            account = await app.accounts.by_username("alice")
            assert account is not None
            thread = await app.core.memory.thread(account.id, "private")
            stored = await app.core.memory.store.recent(thread, 10)
            assert [(m.role, m.content) for m in stored] == [
                ("user", "first"),
                ("user", "second"),
                ("assistant", "second answer"),
            ]  # nothing half-written kept
        finally:
            gate.set()
            await browser.close()


async def test_older_messages_and_a_reload_mid_stream(
    app: Chatlink, web: WebDoor, scripted: ScriptedModel
) -> None:
    from playwright.async_api import async_playwright, expect

    from adapters.web.api import web_message

    base = f"http://127.0.0.1:{web.port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport=SIZES["phone"])
            await registered(page, base)
            alice = await app.accounts.by_username("alice")
            assert alice is not None
            for n in range(30):  # 60 messages: more than the page opens with
                await app.core.handle(web_message(alice, f"note {n}"), account=alice)
            await page.goto(f"{base}/chat")
            assert await page.locator("#messages > li").count() == 50
            assert await page.locator("#messages > li").first.inner_text() == "note 5"
            await page.click("#load-older")  # GET /api/history?before=, by the session cookie
            await expect(page.locator("#messages > li")).to_have_count(60)
            assert await page.locator("#messages > li").first.inner_text() == "note 0"
            assert await page.locator("#load-older").count() == 0  # nothing older left

            gate = asyncio.Event()
            scripted.plans = [SlowStream(["half ", "and the rest"], delay=0.05, gate=gate)]
            await page.fill("#chat-input", "slow one")
            await page.press("#chat-input", "Enter")
            await page.wait_for_selector("#messages > li.assistant[aria-busy]", timeout=15_000)
            await page.reload()
            await page.wait_for_selector("#messages[data-connected='true']", timeout=15_000)
            gate.set()
            await page.wait_for_selector("#messages[data-replies='1']", timeout=15_000)
            assert await page.locator("#messages > li").last.inner_text() == "half and the rest"
        finally:
            await browser.close()
