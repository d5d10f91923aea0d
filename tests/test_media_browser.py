"""The chat page in headless Chromium: attach an image, send it, see it in the conversation
(and again after a reload, served from the database). A screenshot goes to build/screenshots/."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.web import WebDoor
from bot.app import Chatlink
from bot.settings import Settings
from tests.fakes.serve import serve
from tests.fakes.speech_api import FakeSpeech
from tests.support.app import OpenApp
from tests.support.media import jpeg_with_exif
from tests.support.settings import make_settings
from tests.test_web_browser import ARGS, CHROMIUM
from tests.test_web_chat_browser import SHOTS, SIZES, WATCH, registered

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium: apt-get install -y chromium"
)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url, llm_vision=True)


async def test_an_image_is_attached_sent_and_shown(
    app: Chatlink, web: WebDoor, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(jpeg_with_exif(800, 600))
    base = f"http://127.0.0.1:{web.port}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport=SIZES["desktop"])
            await context.add_init_script(WATCH)
            page = await context.new_page()
            await registered(page, base)
            await page.set_input_files("#attach-input", str(photo))
            assert "holiday.jpg" in await page.locator("#attachments").inner_text()
            await page.fill("#chat-input", "where was this?")
            await page.click("#send")
            await page.wait_for_selector("#messages[data-replies='1']", timeout=20_000)
            reply = await page.locator("#messages > li.assistant").last.inner_text()
            assert "(I got an image, 800x600, JPEG.)" in reply and "where was this?" in reply
            sent = page.locator("#messages > li.user img.attached").last
            await page.wait_for_function(
                "() => { const i = document.querySelector('li.user img.attached');"
                " return i && i.complete && i.naturalWidth > 0; }"
            )
            assert await sent.get_attribute("alt") == "An image you sent"
            assert await page.locator("#attachments li").count() == 0
            await page.screenshot(path=str(SHOTS / "chat-image-desktop.png"), full_page=True)
            # After a reload the image comes from the server, to its owner.
            await page.reload()
            shown = page.locator("#messages > li.user img.attached")
            assert await shown.count() == 1
            src = await shown.get_attribute("src")
            assert src is not None and src.startswith("/api/messages/")
            await page.wait_for_function(
                "() => { const i = document.querySelector('li.user img.attached');"
                " return i && i.complete && i.naturalWidth === 800; }"
            )
            assert await page.evaluate("window.__csp") == []
        finally:
            await browser.close()
    assert await app.core.memory.media.count() == 1


@pytest.fixture
async def speech() -> AsyncIterator[tuple[FakeSpeech, str]]:
    fake = FakeSpeech(text="what is the weather like")
    async with serve(fake.app()) as url:
        yield fake, f"{url}/v1"


async def test_the_record_button_sends_a_voice_message(
    open_app: OpenApp, speech: tuple[FakeSpeech, str]
) -> None:
    from playwright.async_api import async_playwright

    fake_stt, url = speech
    async with open_app(stt_provider="openai", stt_base_url=url) as app:
        door = WebDoor(app)
        await door.start()
        try:
            base = f"http://127.0.0.1:{door.port}"
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    # A fake microphone (a tone) instead of a device, and no permission prompt.
                    args=[
                        *ARGS,
                        "--use-fake-device-for-media-stream",
                        "--use-fake-ui-for-media-stream",
                    ],
                )
                try:
                    context = await browser.new_context(viewport=SIZES["desktop"])
                    await context.grant_permissions(["microphone"], origin=base)
                    page = await context.new_page()
                    await registered(page, base)
                    await page.click("#record")
                    await page.wait_for_selector("#record:has-text('Stop recording')")
                    await page.wait_for_timeout(700)  # some sound to record
                    await page.click("#record")
                    await page.wait_for_selector("#attachments li")
                    await page.click("#send")
                    # Two replies: what was heard, then the model's answer to it.
                    await page.wait_for_selector("#messages[data-replies='2']", timeout=20_000)
                    texts = await page.locator("#messages > li").all_inner_texts()
                finally:
                    await browser.close()
        finally:
            await door.stop()
    [upload] = fake_stt.uploads
    assert upload.filename.startswith("voice.") and upload.data[:4] == b"\x1a\x45\xdf\xa3"  # webm
    assert any('I heard: "what is the weather like"' in t for t in texts), texts
    assert any("Echo: what is the weather like" in t for t in texts), texts
