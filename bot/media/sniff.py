"""What a file really is, from its first bytes (never from its name or claimed type)."""

from __future__ import annotations

from pathlib import PurePath

# (signature at offset 0, what it is); checked in order.
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
    (b"\x1a\x45\xdf\xa3", "audio/webm"),
    (b"PK\x03\x04", "application/zip"),
]
AUDIO_SUFFIX = {
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "audio/webm": ".webm",
    "audio/wav": ".wav",
    "audio/mp4": ".m4a",
}


def sniff(data: bytes) -> str | None:
    """The media type the bytes themselves show, or None when they show none."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":  # ISO media: m4a, mp4 (both sent to speech-to-text as they are)
        return "audio/mp4"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG audio frame
        return "audio/mpeg"
    return None


def suffix(name: str) -> str:
    """The name's extension, lower case with its dot ("" when it has none)."""
    return PurePath(name).suffix.lower()
