"""Speech to text through an OpenAI-compatible `/audio/transcriptions` endpoint.

OpenAI Whisper and the local servers that speak the same API (faster-whisper-server,
speaches, whisper.cpp's server) take ogg/opus, mp3, m4a, wav and webm as they are: the bytes
go unchanged, under a file name whose extension matches what they are.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot.errors import ConfigError, SpeechFailed, VoiceRejected
from bot.media.sniff import AUDIO_SUFFIX, sniff, suffix
from bot.settings import Settings

log = logging.getLogger(__name__)

NOTHING_HEARD = "I couldn't hear any words in that voice message."
NOT_AUDIO = "{name} is not a sound recording I can read, whatever its name says."
NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


class Transcriber(Protocol):
    """Something that turns a recording into text."""

    async def transcribe(self, data: bytes, name: str) -> str:
        """The words heard; VoiceRejected or SpeechFailed saying why there are none."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class NoTranscriber:
    """STT_PROVIDER=none: every voice note gets the answer that none is set up."""

    async def transcribe(self, data: bytes, name: str) -> str:
        raise VoiceRejected()

    async def close(self) -> None:
        """Nothing to release."""


def upload_name(data: bytes, name: str) -> str:
    """The file name the server is sent: its extension tells the server the format, so it
    is the one the bytes show (a voice note named `voice` or `note.bin` still has one)."""
    real = sniff(data)
    if real is None or real not in AUDIO_SUFFIX:
        raise VoiceRejected(NOT_AUDIO.format(name=name))
    ext = AUDIO_SUFFIX[real]
    if suffix(name) == ext or (ext == ".ogg" and suffix(name) in (".oga", ".opus")):
        return name
    stem = name.rsplit(".", 1)[0] if "." in name else (name or "voice")
    return stem + ext


class OpenAITranscriber:
    """`audio.transcriptions.create` of the openai SDK, bounded by STT_TIMEOUT_S a try."""

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str,
        api_key: str | None,
        timeout_s: float,
        max_retries: int = 1,
    ) -> None:
        from openai import AsyncOpenAI

        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.client = AsyncOpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=max_retries,
        )

    async def transcribe(self, data: bytes, name: str) -> str:
        from openai import APIError

        sent = upload_name(data, name)
        try:
            # Every try bounded by the SDK's timeout; the whole, retries and all, by this one.
            async with asyncio.timeout(self.timeout_s * (self.max_retries + 1) + 2):
                result = await self.client.audio.transcriptions.create(
                    model=self.model, file=(sent, data)
                )
        except (APIError, TimeoutError) as exc:
            log.warning("speech to text failed: %s", type(exc).__name__)
            raise SpeechFailed() from None
        text = (result.text or "").strip()
        if not text:
            raise VoiceRejected(NOTHING_HEARD)
        return text

    async def close(self) -> None:
        await self.client.close()


def make_transcriber(settings: Settings) -> Transcriber:
    """The transcriber STT_PROVIDER names; ConfigError naming a missing setting."""
    if settings.stt_provider == "none":
        return NoTranscriber()
    key = settings.stt_api_key.get_secret_value() if settings.stt_api_key else None
    if key is None and settings.stt_base_url is None:
        raise ConfigError(
            "STT_PROVIDER=openai needs STT_API_KEY (or STT_BASE_URL for a local server "
            "such as faster-whisper-server that takes no key)."
        )
    return OpenAITranscriber(
        base_url=settings.stt_base_url,
        model=settings.stt_model,
        api_key=key,
        timeout_s=settings.stt_timeout_s,
    )
