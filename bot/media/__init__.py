"""Media that comes with a message: downloading what the chat platforms offer, within bounds."""

from __future__ import annotations

from bot.media.fetching import Downloader, RemoteFile, Source, max_attachment_bytes, url_source

__all__ = ["Downloader", "RemoteFile", "Source", "max_attachment_bytes", "url_source"]
