"""Images, voice messages, audio and files through the Discord door: fetched only from
DISCORD_CDN_HOSTS, within the limits, against the gateway/REST and CDN stand-ins."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord_bot import DiscordDoor
from bot.app import Chatlink, open_chatlink
from bot.messages import AttachmentKind, IncomingMessage, Platform
from storage import Account
from tests.fakes.discord_api import TOKEN, FakeDiscord
from tests.fakes.discord_cdn import IS_VOICE_MESSAGE, FakeCdn
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.serve import serve
from tests.support.media import png
from tests.support.people import link_account_first
from tests.support.settings import FakeClock, make_settings

MB = 1024 * 1024
CANT_DOWNLOAD = "I can't download that file: it is not stored where this chat's files are."


class Running:
    """The door serving against the stand-ins, with what reached the core recorded."""

    def __init__(
        self, fake: FakeDiscord, cdn: FakeCdn, elsewhere: FakeCdn, app: Chatlink, alice: Account
    ) -> None:
        self.fake, self.cdn, self.elsewhere, self.app, self.alice = fake, cdn, elsewhere, app, alice
        self.seen: list[IncomingMessage] = []
        handle = app.core.handle

        async def recording(message: IncomingMessage, *args: Any, **kwargs: Any) -> Any:
            self.seen.append(message)
            return await handle(message, *args, **kwargs)

        app.core.handle = recording  # type: ignore[method-assign]

    async def answer(self, content: str = "", **message: Any) -> str:
        """Deliver a DM and return the bot's answer to it."""
        before = len(self.fake.sent())
        await self.fake.message(content, **message)
        return str((await self.fake.wait_for(before + 1))[-1].body["content"])

    async def stored(self) -> list[str]:
        await self.app.core.memory.settle()
        return [m.content for _, m in await self.app.core.memory.everything(self.alice.id)]


@pytest.fixture
async def running(
    tmp_path: Path, clock: FakeClock, scripted: ScriptedModel
) -> AsyncIterator[Running]:
    fake, cdn, elsewhere = FakeDiscord(), FakeCdn(), FakeCdn()
    async with (
        serve(fake.app()) as url,
        serve(cdn.app()) as cdn.base,
        serve(elsewhere.app()) as elsewhere.base,
    ):
        settings = make_settings(
            tmp_path,
            discord_bot_token=TOKEN,
            discord_api_base_url=f"{url}/api/v10",
            discord_gateway_url=url.replace("http://", "ws://") + "/gateway",
            # Only the first CDN's host and port: the second one is "another host".
            discord_cdn_hosts=cdn.base.removeprefix("http://"),
            max_attachment_mb=1,
            max_voice_seconds=60,
            download_timeout_s=1.0,
            llm_vision=True,
        )
        async with open_chatlink(settings, clock=clock, provider=scripted) as app:
            alice = await link_account_first(app, "alice", platform=Platform.DISCORD)
            door = DiscordDoor(app)
            await door.start()
            await fake.wait_connected()
            try:
                yield Running(fake, cdn, elsewhere, app, alice)
            finally:
                cdn.files.release()
                await door.stop()


async def test_image_voice_audio_and_files_reach_the_core_as_sent(running: Running) -> None:
    cdn = running.cdn
    picture = png(40, 30)
    image = cdn.attachment("cat.png", picture, content_type="image/png")
    answer = await running.answer("what is this?", attachments=[image])
    # The echo model (LLM_VISION here) says what reached it, after the core re-encoded it.
    assert answer.startswith("Echo: what is this?"), answer
    assert "an image, 40x30" in answer, answer
    [message] = running.seen
    [got] = message.attachments
    assert (got.kind, got.name, got.claimed_type, got.data) == (
        AttachmentKind.IMAGE, "cat.png", "image/png", picture,
    )  # fmt: skip

    ogg = b"OggS" + os.urandom(4000)
    voice = cdn.attachment("voice-message.ogg", ogg, content_type="audio/ogg", duration_secs=5.5)
    await running.answer(attachments=[voice], flags=IS_VOICE_MESSAGE)
    mp3, text = b"ID3" + os.urandom(1000), b"name,price\ntea,3\n"
    song = cdn.attachment("song.mp3", mp3, content_type="audio/mpeg")
    table = cdn.attachment("prices.csv", text, content_type="text/csv; charset=utf-8")
    blob = cdn.attachment("data.bin", b"\x00\x01")  # Discord names no type for some files
    await running.answer("both of these", attachments=[song, table, blob])

    voice_message, files = running.seen[1:]
    [note] = voice_message.attachments
    assert (note.kind, note.duration_s, note.data) == (AttachmentKind.AUDIO, 5.5, ogg)
    assert [(a.kind, a.name, a.claimed_type, a.data) for a in files.attachments] == [
        (AttachmentKind.AUDIO, "song.mp3", "audio/mpeg", mp3),
        (AttachmentKind.DOCUMENT, "prices.csv", "text/csv; charset=utf-8", text),
        (AttachmentKind.DOCUMENT, "data.bin", "application/octet-stream", b"\x00\x01"),
    ]


async def test_a_host_not_allowed_is_never_fetched(running: Running) -> None:
    # One file on the allowed CDN, one elsewhere: refused before either is downloaded.
    fine = running.cdn.attachment("a.png", b"\x89PNG....", content_type="image/png")
    crafted = running.elsewhere.attachment("b.png", b"\x89PNG....", content_type="image/png")
    assert await running.answer(attachments=[fine, crafted]) == CANT_DOWNLOAD
    assert running.elsewhere.files.fetched == [] and running.cdn.files.fetched == []
    # The same file under a name a payload might use to look local: refused too.
    spoofed = dict(crafted, url=crafted["url"].replace("http://", "http://cdn.discordapp.com@"))
    assert await running.answer(attachments=[spoofed]) == CANT_DOWNLOAD
    assert running.elsewhere.files.fetched == [] and running.seen == []
    assert await running.stored() == []


async def test_oversized_attachment_is_refused_without_any_download(running: Running) -> None:
    big = running.cdn.attachment("film.mp4", b"x" * 100, stated=3 * MB, content_type="video/mp4")
    answer = await running.answer("watch this", attachments=[big])
    assert answer == "That file is too large (3 MB): I take files up to 1 MB."
    assert running.cdn.files.fetched == [] and running.seen == []
    assert await running.stored() == []


async def test_voice_message_over_the_duration_is_refused_before_download(
    running: Running,
) -> None:
    long = running.cdn.attachment(
        "voice-message.ogg", b"OggS" * 10, content_type="audio/ogg", duration_secs=301.2
    )
    answer = await running.answer(attachments=[long], flags=IS_VOICE_MESSAGE)
    assert answer == "That recording is too long (5:02): I take up to 1:00."  # rounded up
    assert running.cdn.files.fetched == [] and running.seen == []


async def test_a_file_larger_than_stated_is_cut_at_the_cap(running: Running) -> None:
    real = 512 * MB
    lying = running.cdn.attachment("small.txt", b"hello", stated=5, padding=real)
    answer = await running.answer("read it", attachments=[lying])
    assert answer == "That file is too large: I take files up to 1 MB."
    assert running.cdn.fetched(lying)
    [sent] = running.cdn.files.sent.values()
    assert sent < real // 4  # stopped early, not read to its end
    assert running.seen == [] and await running.stored() == []


async def test_a_slow_download_times_out_and_the_bot_keeps_answering(running: Running) -> None:
    slow = running.cdn.attachment("notes.txt", os.urandom(300_000), hang=True)
    answer = await running.answer("summarise", attachments=[slow])
    assert answer.startswith("Downloading that file took too long"), answer
    assert running.seen == [] and await running.stored() == []
    assert (await running.answer("hello again")).startswith("Echo: hello again")


async def test_guild_files_are_fetched_only_when_the_bot_is_addressed(running: Running) -> None:
    cdn = running.cdn
    asked = cdn.attachment("chart.png", png(8, 8), content_type="image/png")
    await running.fake.message(
        "<@4242> and this?", guild=True, mentions_bot=True, attachments=[asked]
    )
    answer = (await running.fake.wait_for(1))[-1].body["content"]
    assert answer.startswith("Echo: and this?"), answer
    [message] = running.seen
    assert [a.name for a in message.attachments] == ["chart.png"] and cdn.fetched(asked)
