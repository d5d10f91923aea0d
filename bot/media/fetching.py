"""Files offered with a chat message, downloaded within bounds: the doors' one way to fetch.

A door describes each file as the platform states it (`RemoteFile`); `Downloader.fetch`
refuses what is over the limits before anything is downloaded (MAX_ATTACHMENT_MB from the
stated size, MAX_VOICE_SECONDS from the stated duration), then streams each file with a hard
cap on the bytes whatever the platform claimed, a timeout (DOWNLOAD_TIMEOUT_S), redirects
followed only to the same host, and, where the door gives one, an allow-list of hosts
(DISCORD_CDN_HOSTS), so that a crafted payload cannot make the bot request another URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import (
    DownloadFailed,
    DownloadTimedOut,
    FileSourceRefused,
    FileTooLarge,
    VoiceTooLong,
)
from bot.messages import Attachment, AttachmentKind
from bot.settings import Settings

if TYPE_CHECKING:
    import httpx

# httpx is imported at the first download, not with the module: only the chat doors fetch
# files, and a web-only `chatlink run` starts without it (benchmarks/startup.py).

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
# Files downloading at once, per door: each holds up to MAX_ATTACHMENT_MB in memory.
AT_ONCE = 8
CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Asked for as stored; were a server to compress anyway, the cap counts the bytes unpacked.
IDENTITY = {"Accept-Encoding": "identity"}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a file is downloaded from, and its size if the platform states it there."""

    url: str
    size: int | None = None


Locate = Callable[[], Awaitable[Source]]


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file a platform offered with a message, not downloaded yet.

    `size` and `duration_s` are what the platform states (checked before downloading, never
    trusted while downloading); `source` is its address where the message carries it
    (Discord), else the call that asks for it (Telegram's getFile).
    """

    kind: AttachmentKind
    name: str
    claimed_type: str
    size: int | None
    source: Source | Locate
    duration_s: float | None = None


def max_attachment_bytes(settings: Settings) -> int:
    """MAX_ATTACHMENT_MB in bytes (an MB of 1024 * 1024 bytes)."""
    return int(settings.max_attachment_mb * 1024 * 1024)


class Downloader:
    """Checks and downloads the files of a message; one per door, closed when it stops."""

    def __init__(
        self,
        *,
        max_bytes: int,
        max_voice_s: float,
        timeout_s: float,
        allowed_hosts: Collection[str] | None = None,
        at_once: int = AT_ONCE,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`allowed_hosts` ("host" or "host:port" entries): the only places files may come
        from; None trusts the addresses the door's own platform API gave (Telegram's).
        `at_once` bounds the downloads running together (the others wait their turn)."""
        self.max_bytes = max_bytes
        self.max_voice_s = max_voice_s
        self.timeout_s = timeout_s
        self.allowed = None if allowed_hosts is None else [_entry(h) for h in allowed_hosts]
        self._transport = transport
        self._at_once = asyncio.Semaphore(at_once)
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, allowed_hosts: Collection[str] | None = None
    ) -> Downloader:
        """The limits of MAX_ATTACHMENT_MB, MAX_VOICE_SECONDS and DOWNLOAD_TIMEOUT_S."""
        return cls(
            max_bytes=max_attachment_bytes(settings),
            max_voice_s=settings.max_voice_seconds,
            timeout_s=settings.download_timeout_s,
            allowed_hosts=allowed_hosts,
        )

    def check(self, files: Sequence[RemoteFile]) -> None:
        """Refuse, before any download, a file stated too large, a recording too long or an
        address outside the allowed hosts."""
        for file in files:
            if isinstance(file.source, Source):
                self._refuse_foreign(file.source.url)
            if file.size is not None and file.size > self.max_bytes:
                raise FileTooLarge(self.max_bytes, file.size)
            if (
                file.kind is AttachmentKind.AUDIO
                and file.duration_s is not None
                and file.duration_s > self.max_voice_s
            ):
                raise VoiceTooLong(self.max_voice_s, file.duration_s)

    async def fetch(self, files: Sequence[RemoteFile]) -> tuple[Attachment, ...]:
        """Every file downloaded, in order; all are checked before the first download, and
        the first that fails refuses the message (a FileTooLarge, DownloadFailed ...)."""
        self.check(files)
        fetched = []
        for file in files:
            data = await self._fetch_one(file)
            fetched.append(
                Attachment(
                    kind=file.kind,
                    name=file.name,
                    claimed_type=file.claimed_type,
                    data=data,
                    duration_s=file.duration_s,
                )
            )
        return tuple(fetched)

    async def _fetch_one(self, file: RemoteFile) -> bytes:
        try:
            async with self._at_once, asyncio.timeout(self.timeout_s):
                source = file.source if isinstance(file.source, Source) else await file.source()
                if source.size is not None and source.size > self.max_bytes:
                    raise FileTooLarge(self.max_bytes, source.size)
                return await self.download(source.url)
        except TimeoutError:
            log.warning("media: a download took over %gs and was cut off", self.timeout_s)
            raise DownloadTimedOut() from None

    async def download(self, url: str) -> bytes:
        """The body at `url`, at most `max_bytes` of it; redirects only to the same host."""
        import httpx

        target = self._refuse_foreign(url)
        client = self._open()
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with client.stream("GET", target, headers=IDENTITY) as response:
                    if response.is_redirect and "location" in response.headers:
                        following = target.join(response.headers["location"])
                        if _origin(following) != _origin(target):
                            log.warning("media: a redirect to another host was not followed")
                            raise DownloadFailed()
                        target = following
                        continue
                    if response.status_code != 200:
                        log.warning("media: download answered HTTP %d", response.status_code)
                        raise DownloadFailed()
                    return await self._read_capped(response)
            except httpx.TimeoutException:
                raise DownloadTimedOut() from None
            except httpx.HTTPError as error:
                log.warning("media: download failed: %s", type(error).__name__)
                raise DownloadFailed() from None
        log.warning("media: more than %d redirects", MAX_REDIRECTS)
        raise DownloadFailed()

    async def _read_capped(self, response: httpx.Response) -> bytes:
        stated = response.headers.get("content-length", "")
        if stated.isdigit() and int(stated) > self.max_bytes:
            raise FileTooLarge(self.max_bytes, int(stated))  # said at once: nothing read
        body = bytearray()
        async for chunk in response.aiter_bytes(CHUNK):
            body += chunk
            if len(body) > self.max_bytes:
                # More than the platform stated (or no size at all): cut off here.
                log.warning("media: a download went over %d bytes and was cut off", self.max_bytes)
                raise FileTooLarge(self.max_bytes)
        return bytes(body)

    def _refuse_foreign(self, address: str) -> httpx.URL:
        """The parsed address, unless it is not http(s) or outside the allowed hosts."""
        import httpx

        try:
            url = httpx.URL(address)
        except httpx.InvalidURL:
            raise FileSourceRefused() from None
        if url.scheme not in _DEFAULT_PORTS or not url.host or not 0 < (url.port or 1) < 65536:
            raise FileSourceRefused()
        if self.allowed is None:
            return url
        host, port = url.host.lower(), url.port or _DEFAULT_PORTS[url.scheme]
        if not any(host == h and (p is None or p == port) for h, p in self.allowed):
            log.warning("media: a file on a host outside the allowed ones was not fetched")
            raise FileSourceRefused()
        return url

    def _open(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s, follow_redirects=False, transport=self._transport
            )
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool (a later fetch opens a new one)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _entry(text: str) -> tuple[str, int | None]:
    # "cdn.discordapp.com" (any port), "127.0.0.1:8443" or "[::1]:8443" (that port only).
    text = text.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    host, colon, port = text.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host, int(port)
    return text, None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme)
