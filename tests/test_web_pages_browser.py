"""Every page in headless Chromium, desktop 1280x800 and phone 390x844, light and dark: the
accessibility engine axe-core finds nothing serious or critical, nothing breaks the
Content-Security-Policy, and a screenshot of each goes to build/screenshots/ for a person."""

from __future__ import annotations

import shutil

import pytest

from adapters.web import WebDoor
from bot.app import Chatlink
from tests.support.people import dm
from tests.test_web_browser import ARGS, CHROMIUM
from tests.test_web_chat_browser import SHOTS, SIZES, WATCH, registered, serious

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium: apt-get install -y chromium"
)


async def test_every_page_light_and_dark(app: Chatlink, web: WebDoor) -> None:
    from playwright.async_api import async_playwright

    base = f"http://127.0.0.1:{web.port}"
    [linking] = await app.core.handle(dm("/link", "1001", display_name="Alice on Telegram"))
    code = linking.text.split()[-1]
    SHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport=SIZES["desktop"])
            await context.add_init_script(WATCH)
            page = await context.new_page()

            async def look(name: str, path: str | None = None) -> None:
                """`path` opened (or the page as it is) at both sizes, light and dark."""
                for size, viewport in SIZES.items():
                    await page.set_viewport_size(viewport)
                    for scheme in ("light", "dark"):
                        await page.emulate_media(color_scheme=scheme)
                        if path is not None:
                            await page.goto(base + path)
                        await page.screenshot(path=str(SHOTS / f"{name}-{size}-{scheme}.png"))
                        found[f"{name} {size} {scheme}"] = await serious(page)
                        assert await page.evaluate("window.__csp") == [], name

            await look("home", "/")
            await look("login", "/login")
            await look("register", "/register")
            await look("link", f"/link/{code}")
            await look("sorry", "/link/not-a-code")
            await registered(page, base)
            await app.admin.set_admin("test", "alice", True)
            for text in ("demo markdown", "/help"):
                await page.fill("#chat-input", text)
                await page.press("#chat-input", "Enter")
            await page.wait_for_selector("#messages[data-replies='2']", timeout=15_000)
            await look("chat-help")  # as it is: a reload would only keep the model's reply
            await page.goto(f"{base}/account")
            await page.click("text=Link another chat")  # the page with a fresh code on it
            await page.wait_for_selector("#issued-code")
            await look("account")
            await look("admin", "/admin")
            await look("not-found", "/nowhere")
            assert "Log out (alice)" in await page.inner_text("header")
        finally:
            await browser.close()
    assert {where: what for where, what in found.items() if what} == {}
