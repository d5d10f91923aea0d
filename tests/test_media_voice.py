"""Voice notes: their bytes go to an OpenAI-compatible /audio/transcriptions endpoint (the
openai SDK against a stand-in), the transcript becomes the person's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Chatlink, open_chatlink
from bot.messages import ReplyKind
from tests.fakes.model_apis import FakeModel, Plan
from tests.fakes.serve import refusing_port, serve
from tests.fakes.speech_api import FakeSpeech
from tests.support.app import OpenApp
from tests.support.media import ogg_voice, sending, voice
from tests.support.people import link_account_first
from tests.support.settings import FakeClock, make_settings


@pytest.fixture
async def speech() -> AsyncIterator[tuple[FakeSpeech, str]]:
    fake = FakeSpeech()
    async with serve(fake.app()) as url:
        yield fake, f"{url}/v1"


def stt(url: str, **extra: object) -> dict[str, object]:
    return {
        "stt_provider": "openai",
        "stt_base_url": url,
        "stt_model": "whisper-test",
        "stt_api_key": "stt-key",
        "stt_timeout_s": 2,
    } | extra


async def test_the_voice_note_reaches_stt_and_its_transcript_the_model(
    speech: tuple[FakeSpeech, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake_stt, stt_url = speech
    fake_stt.text = "remind me to buy oat milk"
    model = FakeModel(plans=[Plan(text="Noted: oat milk.")])
    async with serve(model.openai_app()) as model_url:
        settings = make_settings(
            tmp_path,
            llm_provider="openai",
            llm_base_url=f"{model_url}/v1",
            llm_model="fake-model",
            llm_api_key="sk-test",
            **stt(stt_url),
        )
        async with open_chatlink(settings, clock=clock) as app:
            await link_account_first(app, "alice")
            note = ogg_voice()
            heard, answer = await app.core.handle(sending(voice(note)))
            [upload] = fake_stt.uploads
            assert upload.data == note and upload.model == "whisper-test"
            assert upload.filename == "voice.ogg" and upload.authorization == "Bearer stt-key"
            assert heard.text == '🎤 I heard: "remind me to buy oat milk"'
            assert answer.text == "Noted: oat milk." and answer.kind is ReplyKind.MODEL
            last = model.requests[-1]["messages"][-1]
            assert last == {"role": "user", "content": "remind me to buy oat milk"}
            stored = [m.content for _, m in await app.core.memory.everything(1)]
            assert stored == ["remind me to buy oat milk", "Noted: oat milk."]


async def test_the_file_name_follows_the_bytes(
    speech: tuple[FakeSpeech, str], open_app: OpenApp
) -> None:
    fake_stt, url = speech
    async with open_app(**stt(url)) as app:
        await link_account_first(app, "alice")
        wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64
        note = voice(wav)
        [_heard, reply] = await app.core.handle(sending(note, text="(caption)"))
        assert fake_stt.uploads[-1].filename == "voice.wav"
        assert "Echo: hello from a voice note\n\n(caption)" in reply.text


async def test_a_long_transcript_is_quoted_short(
    speech: tuple[FakeSpeech, str], open_app: OpenApp
) -> None:
    fake_stt, url = speech
    fake_stt.text = " ".join(f"w{i}" for i in range(100))
    async with open_app(**stt(url)) as app:
        await link_account_first(app, "alice")
        heard, _ = await app.core.handle(sending(voice()))
        assert heard.text.endswith('w29 …"') and "w30" not in heard.text
        [stored, _] = [m.content for _, m in await app.core.memory.everything(1)]
        assert stored == fake_stt.text


async def test_without_stt_a_clear_answer(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    [reply] = await app.core.handle(sending(voice()))
    assert reply.kind is ReplyKind.REJECTED and "no speech-to-text is set up" in reply.text
    assert await app.core.memory.store.count() == 0


async def test_stt_down(open_app: OpenApp) -> None:
    with refusing_port() as port:
        async with open_app(**stt(f"http://127.0.0.1:{port}/v1")) as app:
            await link_account_first(app, "alice")
            [reply] = await app.core.handle(sending(voice()))
    assert "speech-to-text service is down or too slow" in reply.text
    assert reply.kind is ReplyKind.REJECTED


async def test_stt_failing(speech: tuple[FakeSpeech, str], open_app: OpenApp) -> None:
    fake_stt, url = speech
    fake_stt.status = 500
    async with open_app(**stt(url)) as app:
        await link_account_first(app, "alice")
        [reply] = await app.core.handle(sending(voice()))
        assert "down or too slow" in reply.text
        assert await app.core.memory.store.count() == 0
        assert len(fake_stt.uploads) == 2  # the SDK tried again once


async def test_stt_slow(speech: tuple[FakeSpeech, str], open_app: OpenApp) -> None:
    fake_stt, url = speech
    fake_stt.delay_s = 3
    async with open_app(**stt(url, stt_timeout_s=0.3)) as app:
        await link_account_first(app, "alice")
        [reply] = await app.core.handle(sending(voice()))
        assert "down or too slow" in reply.text
        assert await app.core.memory.store.count() == 0


async def test_nothing_heard(speech: tuple[FakeSpeech, str], open_app: OpenApp) -> None:
    fake_stt, url = speech
    fake_stt.text = "  "
    async with open_app(**stt(url)) as app:
        await link_account_first(app, "alice")
        [reply] = await app.core.handle(sending(voice()))
        assert reply.text == "I couldn't hear any words in that voice message."
        assert await app.core.memory.store.count() == 0


@pytest.mark.parametrize(
    ("attachment", "says"),
    [
        (voice(seconds=301), "301 seconds long; the limit is 300"),
        (voice(b"<html>not audio</html>"), "is not a sound recording"),
    ],
    ids=["too-long", "not-audio"],
)
async def test_bad_voice_notes_never_reach_stt(
    speech: tuple[FakeSpeech, str], open_app: OpenApp, attachment: object, says: str
) -> None:
    fake_stt, url = speech
    async with open_app(**stt(url)) as app:
        await link_account_first(app, "alice")
        [reply] = await app.core.handle(sending(attachment))  # type: ignore[arg-type]
        assert says in reply.text and reply.kind is ReplyKind.REJECTED
        assert fake_stt.uploads == [] and await app.core.memory.store.count() == 0


def test_stt_openai_needs_a_key_or_an_address(tmp_path: Path) -> None:
    from bot.errors import ConfigError
    from bot.media import make_transcriber

    with pytest.raises(ConfigError, match="STT_API_KEY"):
        make_transcriber(make_settings(tmp_path, stt_provider="openai"))
