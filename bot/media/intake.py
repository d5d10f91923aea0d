"""A message's attachments turned into what its turn needs: clean images, document blocks and
what was heard in voice notes. Any attachment that cannot be used refuses the whole message,
before anything is stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import NoVision, VoiceRejected
from bot.media.documents import Document, read_document
from bot.media.images import CleanImage, read_image
from bot.media.sniff import sniff, suffix
from bot.media.speech import NoTranscriber, Transcriber
from bot.messages import Attachment, AttachmentKind

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})
AUDIO_SUFFIXES = frozenset({".ogg", ".oga", ".opus", ".mp3", ".m4a", ".wav", ".webm", ".flac"})
TOO_LONG = "That voice message is {seconds:.0f} seconds long; the limit is {limit} seconds."


@dataclass(frozen=True, slots=True)
class Intake:
    """What a message's attachments gave, in the order they came."""

    images: tuple[CleanImage, ...] = ()
    documents: tuple[Document, ...] = ()
    heard: tuple[str, ...] = ()  # transcripts of voice notes

    def text(self, caption: str) -> str:
        """The person's message as stored and sent: document blocks, then what was heard,
        then their own words."""
        parts = [d.block() for d in self.documents] + list(self.heard)
        text = "\n\n".join([*parts, caption] if caption else parts)
        return text.replace("\x00", "")  # never meant anything; PostgreSQL text refuses it


def is_image(attachment: Attachment) -> bool:
    """Whether an attachment goes on as an image: sent as one, or a file whose name or type
    says image and whose bytes agree."""
    if attachment.kind is AttachmentKind.IMAGE:
        return True
    if attachment.kind is not AttachmentKind.DOCUMENT:
        return False
    said = suffix(attachment.name) in IMAGE_SUFFIXES or attachment.claimed_type.startswith("image/")
    return said and (sniff(attachment.data) or "").startswith("image/")


def kind_for(name: str, claimed_type: str) -> AttachmentKind:
    """What a file named so, of that claimed type, is sent as (for a door that is told no
    more, like a browser's upload); the bytes are checked later all the same."""
    claimed = claimed_type.split(";")[0].strip().lower()
    if claimed.startswith("image/") or suffix(name) in IMAGE_SUFFIXES:
        return AttachmentKind.IMAGE
    if claimed.startswith(("audio/", "video/webm")) or suffix(name) in AUDIO_SUFFIXES:
        return AttachmentKind.AUDIO
    return AttachmentKind.DOCUMENT


class MediaReader:
    """Reads attachments within the limits: IMAGE_MAX_SIDE, MAX_DOCUMENT_CHARS,
    MAX_VOICE_SECONDS, and the transcriber STT_PROVIDER names."""

    def __init__(
        self,
        *,
        transcriber: Transcriber | None = None,
        image_max_side: int = 2048,
        max_document_chars: int = 50_000,
        max_voice_seconds: int = 300,
    ) -> None:
        self.transcriber = transcriber or NoTranscriber()
        self.image_max_side = image_max_side
        self.max_document_chars = max_document_chars
        self.max_voice_seconds = max_voice_seconds

    async def read(self, attachments: Sequence[Attachment], *, vision: bool) -> Intake:
        """Every attachment checked and read; the first that cannot be used refuses it all.

        Cheap refusals come first (an image for a model without vision, a voice note over
        the duration), then images and documents (CPU, off the event loop), then speech to
        text (a network call) last.
        """
        images = [a for a in attachments if is_image(a)]
        voices = [a for a in attachments if a.kind is AttachmentKind.AUDIO]
        documents = [
            a for a in attachments if not is_image(a) and a.kind is not AttachmentKind.AUDIO
        ]
        if images and not vision:
            raise NoVision()
        for voice in voices:
            if voice.duration_s is not None and voice.duration_s > self.max_voice_seconds:
                raise VoiceRejected(
                    TOO_LONG.format(seconds=voice.duration_s, limit=self.max_voice_seconds)
                )
        clean = [await read_image(a.data, a.name, self.image_max_side) for a in images]
        read = [
            await read_document(a.data, a.name, a.claimed_type, self.max_document_chars)
            for a in documents
        ]
        heard = [await self.transcriber.transcribe(a.data, a.name) for a in voices]
        return Intake(tuple(clean), tuple(read), tuple(heard))

    async def close(self) -> None:
        """Release the transcriber's connections."""
        await self.transcriber.close()
