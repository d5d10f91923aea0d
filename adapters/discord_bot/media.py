"""The attachments of a Discord message as `RemoteFile`s: images, voice messages and audio,
anything else as a document. Their URLs are fetched by bot.media only from DISCORD_CDN_HOSTS."""

from __future__ import annotations

import discord

from bot.media import RemoteFile, Source
from bot.messages import AttachmentKind


def kind_of(attachment: discord.Attachment, voice_message: bool) -> AttachmentKind:
    """What the attachment says it is (the core checks its bytes before believing it)."""
    claimed = (attachment.content_type or "").lower()
    if voice_message or attachment.is_voice_message() or claimed.startswith("audio/"):
        return AttachmentKind.AUDIO
    if claimed.startswith("image/"):
        return AttachmentKind.IMAGE
    return AttachmentKind.DOCUMENT


def offered_files(message: discord.Message) -> list[RemoteFile]:
    """The message's attachments, in order, with the size and duration Discord states."""
    voice = message.flags.voice  # IS_VOICE_MESSAGE: its one attachment carries duration_secs
    return [
        RemoteFile(
            kind_of(attachment, voice),
            attachment.filename,
            attachment.content_type or "application/octet-stream",
            attachment.size,
            Source(attachment.url, attachment.size),
            duration_s=attachment.duration,
        )
        for attachment in message.attachments
    ]
