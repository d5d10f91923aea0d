"""Media that comes with a message: downloading what the chat platforms offer, within bounds."""

from __future__ import annotations

from bot.media.fetching import Downloader, Locate, RemoteFile, Source, max_attachment_bytes

__all__ = ["Downloader", "Locate", "RemoteFile", "Source", "max_attachment_bytes"]
