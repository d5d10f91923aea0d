"""Photos, documents, voice notes and audio through the Telegram door: located with getFile,
downloaded from TELEGRAM_FILE_BASE_URL within the limits, against the Bot API stand-in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import PhotoSize

from adapters.telegram_bot import TelegramDoor
from adapters.telegram_bot.media import largest_photo
from bot.app import Chatlink, open_chatlink
from bot.messages import Attachment, AttachmentKind, IncomingMessage
from bot.settings import Settings
from storage import Account
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.serve import serve
from tests.fakes.speech_api import FakeSpeech
from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeTelegram
from tests.support.media import jpeg_with_exif
from tests.support.people import link_account_first
from tests.support.settings import FakeClock, make_settings

LIMIT_MB = 1
MB = 1024 * 1024
GROUP = -100500


class Running:
    """The door serving against the stand-in, with what reached the core recorded."""

    def __init__(self, fake: FakeTelegram, app: Chatlink, alice: Account) -> None:
        self.fake, self.app, self.alice = fake, app, alice
        self.seen: list[IncomingMessage] = []
        handle = app.core.handle

        async def recording(message: IncomingMessage, *args: Any, **kwargs: Any) -> Any:
            self.seen.append(message)
            return await handle(message, *args, **kwargs)

        app.core.handle = recording  # type: ignore[method-assign]

    async def answer(self, **message: Any) -> str:
        """Send a message (text None, with files) and return the bot's answer to it."""
        before = len(self.fake.sent())
        await self.fake.say(message.pop("text", None), **message)
        return (await self.fake.wait_sent(before + 1))[-1]

    async def stored(self) -> list[str]:
        await self.app.core.memory.settle()
        return [m.content for _, m in await self.app.core.memory.everything(self.alice.id)]


def door_settings(tmp_path: Path, url: str, **extra: Any) -> Settings:
    """The Telegram door against the stand-in at `url`, files fetched from it too."""
    return make_settings(
        tmp_path,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=f"{url}/bot",
        telegram_file_base_url=f"{url}/file/bot",
        **extra,
    )


@pytest.fixture
async def running(
    tmp_path: Path, clock: FakeClock, scripted: ScriptedModel
) -> AsyncIterator[Running]:
    fake = FakeTelegram()
    async with serve(fake.app()) as url:
        settings = door_settings(
            tmp_path,
            url,
            max_attachment_mb=LIMIT_MB,
            max_voice_seconds=60,
            download_timeout_s=1.0,
            llm_vision=True,
        )
        async with open_chatlink(settings, clock=clock, provider=scripted) as app:
            alice = await link_account_first(app, "alice")
            door = TelegramDoor(app, poll_timeout=1)
            await door.start()
            try:
                yield Running(fake, app, alice)
            finally:
                fake.files.release()
                await door.stop()


async def test_photo_takes_the_largest_size_within_the_limit(running: Running) -> None:
    fake = running.fake
    small, middle, big = b"s" * 900, jpeg_with_exif(800, 600), os.urandom(2 * MB)
    sizes = fake.photo((small, 90, 90, None), (middle, 800, 600, None), (big, 2560, 1920, None))
    answer = await running.answer(text=None, photo=sizes, caption="what is this?")
    assert answer.startswith("Echo: what is this?"), answer
    assert "an image, 800x600, JPEG" in answer, answer  # re-encoded by the core, then echoed
    [message] = running.seen
    assert message.text == "what is this?"
    assert message.attachments == (
        Attachment(AttachmentKind.IMAGE, "photo.jpg", "image/jpeg", middle),
    )
    assert message.attachments[0].data == middle  # the stand-in's bytes, whole
    # Only the chosen size was fetched: the bigger one is over MAX_ATTACHMENT_MB by its size.
    assert [fake.fetched(size) for size in sizes] == [False, True, False]
    [get_file] = [c for c in fake.calls if c.method == "getFile"]
    assert get_file.params["file_id"] == sizes[1]["file_id"]


async def test_documents_voice_and_audio_reach_the_core(running: Running) -> None:
    fake = running.fake
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)
    image = fake.add_file(png) | {"file_name": "diagram.png", "mime_type": "image/png"}
    await running.answer(text=None, document=image, caption="look")
    report = fake.add_file(b"%PDF-1.7 ...") | {
        "file_name": "report.pdf",
        "mime_type": "application/pdf",
    }
    await running.answer(text=None, document=report, caption="read this")
    ogg = b"OggS" + os.urandom(5000)
    voice = fake.add_file(ogg, folder="voice") | {"duration": 12, "mime_type": "audio/ogg"}
    await running.answer(text=None, voice=voice)
    song = fake.add_file(b"ID3" + os.urandom(2000), folder="music") | {
        "duration": 30, "mime_type": "audio/mpeg", "file_name": "song.mp3",
    }  # fmt: skip
    await running.answer(text=None, audio=song, caption="listen")

    got = [m.attachments for m in running.seen]
    assert [(a.kind, a.name, a.claimed_type) for [a] in got] == [
        (AttachmentKind.IMAGE, "diagram.png", "image/png"),
        (AttachmentKind.DOCUMENT, "report.pdf", "application/pdf"),
        (AttachmentKind.AUDIO, "voice.ogg", "audio/ogg"),
        (AttachmentKind.AUDIO, "song.mp3", "audio/mpeg"),
    ]
    assert got[0][0].data == png and got[2][0].data == ogg
    assert [a.duration_s for [a] in got] == [None, None, 12.0, 30.0]


async def test_oversized_file_is_refused_without_any_download(running: Running) -> None:
    fake = running.fake
    document = fake.add_file(os.urandom(1000), stated=5 * MB) | {"file_name": "big.zip"}
    answer = await running.answer(text=None, document=document, caption="unpack this")
    assert answer == "That file is too large (5 MB): I take files up to 1 MB."
    assert not fake.fetched(document) and "getFile" not in fake.methods()
    assert running.seen == [] and await running.stored() == []  # nothing stored
    assert (await running.answer(text="still there?")).startswith("Echo: still there?")


async def test_voice_note_over_the_duration_is_refused_before_download(running: Running) -> None:
    fake = running.fake
    voice = fake.add_file(b"OggS" + bytes(1000), folder="voice") | {"duration": 61}
    answer = await running.answer(text=None, voice=voice)
    assert answer == "That recording is too long (1:01): I take up to 1:00."
    assert not fake.fetched(voice) and "getFile" not in fake.methods()
    assert running.seen == [] and await running.stored() == []


async def test_a_file_larger_than_stated_is_cut_at_the_cap(running: Running) -> None:
    fake = running.fake
    # Stated 2 KB; the server streams 512 MB, more than any socket buffer holds.
    real = 512 * MB
    document = fake.add_file(b"x" * 2000, stated=2000, padding=real) | {"file_name": "small.txt"}
    answer = await running.answer(text=None, document=document)
    assert answer == "That file is too large: I take files up to 1 MB."
    assert fake.fetched(document)
    [path] = fake.files.sent
    assert fake.files.sent[path] < real // 4  # the download stopped early, not read to its end
    assert running.seen == [] and await running.stored() == []


async def test_a_slow_download_times_out_and_the_bot_keeps_answering(running: Running) -> None:
    fake = running.fake
    document = fake.add_file(os.urandom(200_000), hang=True) | {"file_name": "notes.txt"}
    answer = await running.answer(text=None, document=document, caption="summarise")
    assert answer.startswith("Downloading that file took too long"), answer
    assert running.seen == [] and await running.stored() == []
    assert (await running.answer(text="hello again")).startswith("Echo: hello again")


async def test_an_unknown_file_id_is_a_short_answer(running: Running) -> None:
    document = {"file_id": "never-given", "file_unique_id": "x", "file_size": 10}
    answer = await running.answer(text=None, document=document)
    assert answer == "I could not download that file. Please send it again."
    [call] = [c for c in running.fake.calls if c.method == "getFile"]
    assert call.params["file_id"] == "never-given"  # Telegram answered 400 "invalid file_id"
    assert running.seen == []


async def test_group_photos_are_fetched_only_when_addressed(running: Running) -> None:
    fake = running.fake
    chatter = fake.photo((os.urandom(500), 90, 90, None))
    await fake.say(None, chat_id=GROUP, chat_type="supergroup", photo=chatter, caption="lol")
    mention = {"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}
    asked = fake.photo((jpeg_with_exif(90, 90), 90, 90, None))
    await fake.say(
        None, chat_id=GROUP, chat_type="supergroup", photo=asked,
        caption=f"@{BOT_USERNAME} what is it?", caption_entities=[mention],
    )  # fmt: skip
    [answer] = await fake.wait_sent(1, chat_id=GROUP)
    assert answer.startswith("Echo: what is it?"), answer
    assert not fake.fetched(chatter[0]) and fake.fetched(asked[0])
    [message] = running.seen
    assert message.text == "what is it?" and len(message.attachments) == 1


def test_largest_photo_within_the_limit() -> None:
    def size(width: int, stated: int | None) -> PhotoSize:
        return PhotoSize(f"id{width}", f"u{width}", width, width, stated)

    sizes = [size(90, 1_000), size(320, 20_000), size(800, 90_000), size(1280, 300_000)]
    assert largest_photo(sizes, 100_000) == sizes[2]
    assert largest_photo(sizes, 999) is None  # every size is over: refused by its size
    unstated = [size(90, 1_000), size(800, None)]  # no file_size: the download's cap decides
    assert largest_photo(unstated, 5_000) == unstated[1]


async def test_an_animation_is_not_read_as_a_document(running: Running) -> None:
    fake = running.fake
    gif = fake.add_file(b"\x00\x00\x00\x18ftypmp42", folder="animations")
    animation = gif | {"width": 320, "height": 240, "duration": 3}
    # Telegram sends a GIF's `document` too, for older clients.
    document = gif | {"file_name": "cat.gif.mp4", "mime_type": "video/mp4"}
    answer = await running.answer(text=None, animation=animation, document=document)
    assert answer == "I can only read text, images, voice messages and documents."
    assert not fake.fetched(gif) and running.seen[0].attachments == ()


async def test_files_from_a_group_not_allowed_are_never_fetched(
    tmp_path: Path, clock: FakeClock, scripted: ScriptedModel
) -> None:
    fake = FakeTelegram()
    async with serve(fake.app()) as url:
        settings = door_settings(
            tmp_path,
            url,
            telegram_allowed_chats=[-100999],  # not GROUP
            llm_vision=True,
        )
        async with open_chatlink(settings, clock=clock, provider=scripted) as app:
            await link_account_first(app, "alice")
            door = TelegramDoor(app, poll_timeout=1)
            await door.start()
            try:
                mention = {"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}
                outside = fake.photo((jpeg_with_exif(90, 90), 90, 90, None))
                await fake.say(
                    None, chat_id=GROUP, chat_type="supergroup", photo=outside,
                    caption=f"@{BOT_USERNAME} look", caption_entities=[mention],
                )  # fmt: skip
                await fake.say("/help")
                await fake.wait_sent(1)
            finally:
                fake.files.release()
                await door.stop()  # waits for every update taken to be handled
    assert not fake.fetched(outside[0])
    assert [c for c in fake.calls if c.method == "getFile"] == []
    assert fake.sent(chat_id=GROUP) == []


async def test_voice_note_and_document_through_the_door_to_the_model(
    tmp_path: Path, clock: FakeClock, scripted: ScriptedModel
) -> None:
    """End to end: a Telegram voice note reaches the speech-to-text stand-in as sent and its
    transcript is the person's message; a CSV document is a labelled block in the turn."""
    fake, speech = FakeTelegram(), FakeSpeech(text="remind me to buy oat milk")
    async with serve(fake.app()) as url, serve(speech.app()) as stt_url:
        settings = door_settings(
            tmp_path,
            url,
            stt_provider="openai",
            stt_base_url=f"{stt_url}/v1",
            stt_model="whisper-test",
        )
        async with open_chatlink(settings, clock=clock, provider=scripted) as app:
            alice = await link_account_first(app, "alice")
            door = TelegramDoor(app, poll_timeout=1)
            await door.start()
            try:
                ogg = b"OggS" + os.urandom(3000)
                voice = fake.add_file(ogg, folder="voice") | {
                    "duration": 4,
                    "mime_type": "audio/ogg",
                }
                await fake.say(None, voice=voice)
                sent = await fake.wait_sent(2)
                table = fake.add_file(b"name,price\ntea,3\n") | {
                    "file_name": "prices.csv", "mime_type": "text/csv",
                }  # fmt: skip
                await fake.say(None, document=table, caption="total?")
                sent = await fake.wait_sent(3)
            finally:
                fake.files.release()
                await door.stop()
            [upload] = speech.uploads
            assert upload.data == ogg and upload.model == "whisper-test"
            assert '🎤 I heard: "remind me to buy oat milk"' in sent
            assert any(s.startswith("Echo: remind me to buy oat milk") for s in sent), sent
            assert "file prices.csv" in sent[-1] and "tea,3" in sent[-1], sent[-1]
            await app.core.memory.settle()
            stored = [m.content for _, m in await app.core.memory.everything(alice.id)]
            assert stored[0] == "remind me to buy oat milk"
