"""Media that comes with a message: images re-encoded with Pillow, documents read as text,
voice notes transcribed; each checked from its bytes, within the limits."""

from __future__ import annotations

from bot.media.documents import Document
from bot.media.images import CleanImage, clean_image
from bot.media.intake import Intake, MediaReader, is_image, kind_for
from bot.media.sniff import sniff
from bot.media.speech import NoTranscriber, OpenAITranscriber, Transcriber, make_transcriber

__all__ = [
    "CleanImage",
    "Document",
    "Intake",
    "MediaReader",
    "NoTranscriber",
    "OpenAITranscriber",
    "Transcriber",
    "clean_image",
    "is_image",
    "kind_for",
    "make_transcriber",
    "sniff",
]
