"""Media that comes with a message: what the chat doors download (bounded), then images
re-encoded with Pillow, documents read as text, voice notes transcribed; each checked from its
bytes, within the limits."""

from __future__ import annotations

from bot.media.documents import Document
from bot.media.fetching import Downloader, Locate, RemoteFile, Source, max_attachment_bytes
from bot.media.images import CleanImage, clean_image
from bot.media.intake import Intake, MediaReader, is_image, kind_for
from bot.media.sniff import sniff
from bot.media.speech import NoTranscriber, OpenAITranscriber, Transcriber, make_transcriber

__all__ = [
    "CleanImage",
    "Document",
    "Downloader",
    "Intake",
    "Locate",
    "MediaReader",
    "NoTranscriber",
    "OpenAITranscriber",
    "RemoteFile",
    "Source",
    "Transcriber",
    "clean_image",
    "is_image",
    "kind_for",
    "make_transcriber",
    "max_attachment_bytes",
    "sniff",
]
