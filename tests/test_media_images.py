"""Images through the core: checked and re-encoded, stored with their message, sent to vision
models as image parts, refused with nothing stored when they cannot be used."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import Chatlink, open_chatlink
from bot.conversation import export_account
from bot.messages import ReplyKind
from tests.fakes.model_apis import FakeModel, Plan
from tests.fakes.serve import serve
from tests.support.app import OpenApp
from tests.support.media import (
    CAMERA,
    animated_gif,
    bomb,
    document,
    image,
    jpeg_with_exif,
    png,
    sending,
)
from tests.support.people import dm, link_account_first
from tests.support.settings import FakeClock, make_settings

ON_BOTH_DATABASES = True


@pytest.fixture
async def seeing(open_app: OpenApp) -> AsyncIterator[Chatlink]:
    """The echo model, able to see (LLM_VISION), and alice linked."""
    async with open_app(llm_vision=True) as app:
        await link_account_first(app, "alice")
        yield app


async def stored(app: Chatlink) -> tuple[int, int]:
    return await app.core.memory.store.count(), await app.core.memory.media.count()


async def test_echo_describes_the_image_it_got(seeing: Chatlink) -> None:
    replies = await seeing.core.handle(sending(image(jpeg_with_exif(800, 600)), text="what is it?"))
    [reply] = replies
    assert reply.kind is ReplyKind.MODEL
    assert "Echo: what is it?" in reply.text
    assert "(I got an image, 800x600, JPEG.)" in reply.text
    assert await stored(seeing) == (2, 1)


async def test_a_photo_without_caption_is_answered(seeing: Chatlink) -> None:
    [reply] = await seeing.core.handle(sending(image(png(300, 200), "shot.png", "image/png")))
    assert reply.text.startswith("(I got an image, 300x200, JPEG.)")


async def test_large_image_is_bounded_and_loses_its_metadata(seeing: Chatlink) -> None:
    [reply] = await seeing.core.handle(sending(image(jpeg_with_exif(5000, 2500))))
    assert "(I got an image, 2048x1024, JPEG.)" in reply.text
    [kept] = await seeing.core.memory.media.images_of_account(1)
    picture = Image.open(io.BytesIO(kept.data))
    assert picture.format == "JPEG" and max(picture.size) == 2048
    assert (
        not picture.getexif() and "exif" not in picture.info and "icc_profile" not in picture.info
    )
    assert CAMERA.encode() not in kept.data


async def test_image_max_side_is_the_setting(open_app: OpenApp) -> None:
    async with open_app(llm_vision=True, image_max_side=256) as app:
        await link_account_first(app, "alice")
        [reply] = await app.core.handle(sending(image(jpeg_with_exif(1000, 500))))
        assert "(I got an image, 256x128, JPEG.)" in reply.text


async def test_an_animation_gives_its_first_frame(seeing: Chatlink) -> None:
    [reply] = await seeing.core.handle(sending(image(animated_gif(), "a.gif", "image/gif")))
    assert "(I got an image, 64x48, JPEG.)" in reply.text
    [kept] = await seeing.core.memory.media.images_of_account(1)
    assert Image.open(io.BytesIO(kept.data)).getpixel((10, 10))[0] > 200  # red, the first


async def test_transparency_comes_out_as_png(seeing: Chatlink) -> None:
    [reply] = await seeing.core.handle(sending(image(png(40, 30, "RGBA"), "t.png", "image/png")))
    assert "(I got an image, 40x30, PNG.)" in reply.text


async def test_an_image_document_is_an_image(seeing: Chatlink) -> None:
    [reply] = await seeing.core.handle(
        sending(document(jpeg_with_exif(), "scan.jpg", "image/jpeg"))
    )
    assert "(I got an image, 800x600, JPEG.)" in reply.text


@pytest.mark.parametrize(
    ("attachment", "says"),
    [
        (image(jpeg_with_exif()[:2000]), "damaged or cut short"),  # truncated
        (image(b"\xff\xd8\xff\xe0" + b"\x13" * 5000), "damaged or cut short"),  # corrupt
        (image(bomb(), "bomb.png", "image/png"), "too many pixels"),
        (image(b"%PDF-1.4 not a photo", "cat.png", "image/png"), "not an image"),
        (image(b"just some text", "cat.jpg"), "not an image"),
    ],
    ids=["truncated", "corrupt", "bomb", "pdf-named-png", "text-named-jpg"],
)
async def test_bad_images_are_refused_with_nothing_stored(
    seeing: Chatlink, attachment: Any, says: str
) -> None:
    [reply] = await seeing.core.handle(sending(attachment, text="look"))
    assert reply.kind is ReplyKind.REJECTED and says in reply.text
    assert await stored(seeing) == (0, 0)


async def test_a_model_without_vision_refuses_and_stores_nothing(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    [reply] = await app.core.handle(sending(image(jpeg_with_exif()), text="see this?"))
    assert reply.kind is ReplyKind.REJECTED
    assert reply.text == "This model can't see images; /model lists one that can."
    assert await stored(app) == (0, 0)


async def test_only_the_last_images_go_back_as_images(open_app: OpenApp) -> None:
    async with open_app(llm_vision=True, history_max_images=2) as app:
        await link_account_first(app, "alice")
        for side in (100, 200, 300):
            await app.core.handle(sending(image(png(side, side)), text=f"picture {side}"))
        context = await app.core.memory.history(1, vision=True)
        users = [t for t in context.turns if t.role == "user"]
        assert [len(t.images) for t in users] == [0, 1, 1]
        assert users[0].content.startswith("(an image came with this message; it is no longer")
        assert [t.images[0].width for t in users[1:]] == [200, 300]
        blind = await app.core.memory.history(1, vision=False)
        assert all(not t.images for t in blind.turns)


async def test_forget_reset_and_undo_remove_stored_images(seeing: Chatlink) -> None:
    await seeing.core.handle(sending(image(png(50, 50))))
    assert await stored(seeing) == (2, 1)
    await seeing.core.handle(dm("/undo"))
    assert await stored(seeing) == (0, 0)
    await seeing.core.handle(sending(image(png(50, 50))))
    await seeing.core.handle(dm("/reset"))
    assert await stored(seeing) == (0, 0)
    await seeing.core.handle(sending(image(png(50, 50))))
    [answer] = await seeing.core.handle(dm("/forget"))
    if answer.choices:  # asks to confirm
        await seeing.core.handle(dm(answer.choices[0]))
    assert await stored(seeing) == (0, 0)


async def test_account_deletion_and_retention_remove_images(
    seeing: Chatlink, clock: FakeClock
) -> None:
    await seeing.core.handle(sending(image(png(50, 50))))
    clock.advance(days=40)
    assert await seeing.core.memory.store.prune_batch(clock(), 100) == 2
    assert await stored(seeing) == (0, 0)
    await seeing.core.handle(sending(image(png(50, 50))))
    await seeing.admin.delete_account("operator", "alice")
    assert await stored(seeing) == (0, 0)


async def test_the_export_holds_the_images(seeing: Chatlink) -> None:
    await seeing.core.handle(sending(image(jpeg_with_exif(120, 90)), text="my cat"))
    alice = await seeing.accounts.by_username("alice")
    assert alice is not None
    data = await export_account(alice, seeing.accounts, seeing.core.memory)
    [sent, _reply] = data["messages"]
    [picture] = sent["images"]
    assert (sent["content"], picture["type"], picture["width"]) == ("my cat", "image/jpeg", 120)
    assert Image.open(io.BytesIO(base64.b64decode(picture["data_base64"]))).size == (120, 90)


# --- real SDKs against the model stand-ins ----------------------------------------------------


@pytest.fixture(params=["openai", "anthropic"])
async def vision_chat(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[str, FakeModel, Chatlink]]:
    fake = FakeModel()
    provider = str(request.param)
    app_ = fake.openai_app() if provider == "openai" else fake.anthropic_app()
    async with serve(app_) as url:
        settings = make_settings(
            tmp_path,
            llm_provider=provider,
            llm_base_url=f"{url}/v1" if provider == "openai" else url,
            llm_model="fake-model",
            llm_api_key="sk-test",
            llm_vision=True,
            llm_timeout_s=5,
        )
        async with open_chatlink(settings, clock=clock) as app:
            await link_account_first(app, "alice")
            yield provider, fake, app


def images_sent(provider: str, body: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(media type, bytes) of every image part of the request's last user message."""
    content = body["messages"][-1]["content"]
    found = []
    for part in content if isinstance(content, list) else []:
        if provider == "openai" and part["type"] == "image_url":
            header, data = part["image_url"]["url"].split(",", 1)
            found.append((header.removeprefix("data:").removesuffix(";base64"), data))
        elif provider == "anthropic" and part["type"] == "image":
            found.append((part["source"]["media_type"], part["source"]["data"]))
    return [(kind, base64.b64decode(data)) for kind, data in found]


async def test_the_image_reaches_the_model_clean_and_bounded(
    vision_chat: tuple[str, FakeModel, Chatlink],
) -> None:
    provider, fake, app = vision_chat
    fake.plans = [Plan(text="A blue square.")]
    [reply] = await app.core.handle(sending(image(jpeg_with_exif(4000, 3000)), text="what?"))
    assert reply.text == "A blue square."
    [(kind, data)] = images_sent(provider, fake.requests[-1])
    picture = Image.open(io.BytesIO(data))
    assert kind == "image/jpeg" and picture.format == "JPEG"
    assert picture.size == (2048, 1536) and not picture.getexif()
    assert CAMERA.encode() not in data
    texts = [p for p in fake.requests[-1]["messages"][-1]["content"] if p["type"] == "text"]
    assert texts[0]["text"] == "what?"


async def test_text_turns_stay_plain_strings(vision_chat: tuple[str, FakeModel, Chatlink]) -> None:
    _, fake, app = vision_chat
    await app.core.handle(dm("just words"))
    content = fake.requests[-1]["messages"][-1]["content"]
    if isinstance(content, list):  # Anthropic: a text block, for its prompt-cache breakpoint
        assert [(b["type"], b["text"]) for b in content] == [("text", "just words")]
    else:
        assert content == "just words"


async def test_an_image_counts_against_the_limits(open_app: OpenApp) -> None:
    from bot.conversation.tokens import image_tokens

    async with open_app(llm_vision=True, rate_limit_per_minute=2, daily_token_budget=2000) as app:
        await link_account_first(app, "alice")
        await app.core.handle(sending(image(png(800, 600)), text="hi"))
        [whoami] = await app.core.handle(dm("/whoami"))
        tokens = int(whoami.text.split("Model tokens today: ")[1].split(".")[0].split()[0])
        assert tokens >= image_tokens(800, 600) == 640
        # The rate limit counts it as a message: the next one within the minute is refused.
        await app.core.handle(dm("two"))
        [refused] = await app.core.handle(sending(image(png(10, 10))))
        assert refused.kind is ReplyKind.REJECTED and "Too many" in refused.text
        assert await stored(app) == (4, 1)


async def test_undo_of_an_image_says_so(seeing: Chatlink) -> None:
    await seeing.core.handle(sending(image(png(50, 50))))
    [undone] = await seeing.core.handle(dm("/undo"))
    assert 'Removed your message "(an image)"' in undone.text


async def test_the_history_cache_holds_no_image_bytes(seeing: Chatlink) -> None:
    if not seeing.core.memory.store.caches_may_stand_for_database:
        pytest.skip("the history cache is on where this process is the one writer (SQLite)")
    cache = seeing.core.memory._cache
    before = cache.size
    [reply] = await seeing.core.handle(sending(image(png(1500, 1500))))
    assert "(I got an image, 1500x1500, JPEG.)" in reply.text  # read from the database
    assert len(cache) == 1 and cache.size - before < 2_000  # two messages, not the image
