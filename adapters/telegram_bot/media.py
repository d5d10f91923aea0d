"""The files of a Telegram message (photos, documents, voice notes, audio) as `RemoteFile`s:
each located with getFile, then downloaded from TELEGRAM_FILE_BASE_URL by bot.media."""

from __future__ import annotations

import datetime as dtm
import logging
from collections.abc import Sequence

from telegram import Bot, Document, Message, PhotoSize
from telegram.error import BadRequest, TelegramError

from bot.errors import DownloadFailed, FileTooLarge
from bot.media import Locate, RemoteFile, Source
from bot.messages import AttachmentKind

log = logging.getLogger(__name__)


def carries_files(message: Message) -> bool:
    """Whether the message has a file the bot reads: a photo, document, voice note or audio."""
    return bool(message.photo or _document(message) or message.voice or message.audio)


def _document(message: Message) -> Document | None:
    # An animation (a GIF sent as a video) comes with `document` set too: not one to read.
    return None if message.animation is not None else message.document


def largest_photo(sizes: Sequence[PhotoSize], max_bytes: int) -> PhotoSize | None:
    """The largest size of a photo within `max_bytes` (a size Telegram states no file_size
    for counts as within: the download's cap still holds); None when every one is over."""
    fitting = [size for size in sizes if size.file_size is None or size.file_size <= max_bytes]
    if not fitting:
        return None
    return max(fitting, key=lambda size: (size.width * size.height, size.file_size or 0))


def offered_files(message: Message, bot: Bot, max_bytes: int) -> list[RemoteFile]:
    """The files a message carries, largest photo size first chosen; none for plain text."""
    files = []
    if message.photo:
        photo = largest_photo(message.photo, max_bytes)
        # All sizes over the limit: the smallest one is offered, to be refused by its size.
        chosen = photo or min(message.photo, key=lambda size: size.file_size or 0)
        files.append(
            RemoteFile(
                AttachmentKind.IMAGE,
                "photo.jpg",
                "image/jpeg",
                chosen.file_size,
                _locator(bot, chosen.file_id),
            )
        )
    if (document := _document(message)) is not None:
        claimed = document.mime_type or "application/octet-stream"
        kind = AttachmentKind.IMAGE if claimed.startswith("image/") else AttachmentKind.DOCUMENT
        files.append(
            RemoteFile(
                kind,
                document.file_name or "document",
                claimed,
                document.file_size,
                _locator(bot, document.file_id),
            )
        )
    if message.voice is not None:
        voice = message.voice
        files.append(
            RemoteFile(
                AttachmentKind.AUDIO,
                "voice.ogg",
                voice.mime_type or "audio/ogg",
                voice.file_size,
                _locator(bot, voice.file_id),
                duration_s=_seconds(voice.duration),
            )
        )
    if message.audio is not None:
        audio = message.audio
        files.append(
            RemoteFile(
                AttachmentKind.AUDIO,
                audio.file_name or "audio",
                audio.mime_type or "audio/mpeg",
                audio.file_size,
                _locator(bot, audio.file_id),
                duration_s=_seconds(audio.duration),
            )
        )
    return files


def _locator(bot: Bot, file_id: str) -> Locate:
    async def locate() -> Source:
        """getFile: the download URL (under TELEGRAM_FILE_BASE_URL) and the size again."""
        try:
            file = await bot.get_file(file_id)
        except BadRequest as error:
            if "too big" in error.message.lower():  # the Bot API serves files up to 20 MB
                raise FileTooLarge(20 * 1024 * 1024) from None
            log.warning("telegram: getFile refused: %s", error.message)
            raise DownloadFailed() from None
        except TelegramError as error:
            log.warning("telegram: getFile failed: %s", error)
            raise DownloadFailed() from None
        if not file.file_path:
            raise DownloadFailed()
        return Source(file.file_path, file.file_size)

    return locate


def _seconds(duration: int | dtm.timedelta) -> float:
    if isinstance(duration, dtm.timedelta):
        return duration.total_seconds()
    return float(duration)
