"""bot.media's downloads against real HTTP servers on 127.0.0.1: the refusals made before any
download, the cap, the timeout, redirects and the allowed hosts."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.errors import (
    DownloadFailed,
    DownloadTimedOut,
    FileSourceRefused,
    FileTooLarge,
    VoiceTooLong,
)
from bot.media import Downloader, RemoteFile, Source, max_attachment_bytes
from bot.messages import Attachment, AttachmentKind
from tests.fakes.serve import refusing_port, serve
from tests.fakes.served_files import FileShelf
from tests.support.settings import make_settings

CAP = 100_000


class Site:
    """A server with files on a shelf and a few redirects, recording every path asked."""

    def __init__(self) -> None:
        self.shelf = FileShelf()
        self.asked: list[str] = []
        self.base = ""
        self.elsewhere = ""  # another site's base URL, for a redirect away

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/files/{path:path}", self._file),
                Route("/moved/{path:path}", self._moved),
                Route("/away", self._away),
                Route("/loop", self._loop),
                Route("/gzip-bomb", self._bomb),
            ]
        )

    async def _file(self, request: Request) -> Response:
        self.asked.append(request.url.path)
        return await self.shelf.respond(request.path_params["path"], request)

    async def _moved(self, request: Request) -> Response:
        self.asked.append(request.url.path)
        return RedirectResponse(f"/files/{request.path_params['path']}", 302)

    async def _away(self, request: Request) -> Response:
        self.asked.append(request.url.path)
        return RedirectResponse(f"{self.elsewhere}/files/a.bin", 302)

    async def _loop(self, request: Request) -> Response:
        self.asked.append(request.url.path)
        return RedirectResponse("/loop", 302)

    async def _bomb(self, request: Request) -> Response:
        # 1 MB on the wire... unpacked, 100 MB of zeros: the cap counts what is unpacked.
        self.asked.append(request.url.path)
        packed = gzip.compress(bytes(100 * 1024 * 1024), compresslevel=9)
        return Response(packed, headers={"Content-Encoding": "gzip"})


@pytest.fixture
async def sites() -> AsyncIterator[tuple[Site, Site]]:
    one, two = Site(), Site()
    async with serve(one.app()) as one.base, serve(two.app()) as two.base:
        one.elsewhere, two.elsewhere = two.base, one.base
        try:
            yield one, two
        finally:
            one.shelf.release()
            two.shelf.release()


def downloader(
    allowed: list[str] | None = None, timeout_s: float = 5.0, at_once: int = 8
) -> Downloader:
    return Downloader(
        max_bytes=CAP, max_voice_s=60, timeout_s=timeout_s, allowed_hosts=allowed, at_once=at_once
    )


def remote(
    url: str, *, size: int | None = None, kind: AttachmentKind = AttachmentKind.DOCUMENT
) -> RemoteFile:
    return RemoteFile(kind, "f.bin", "application/octet-stream", size, Source(url, size))


def test_limits_come_from_the_settings(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, max_attachment_mb=2.5, max_voice_seconds=90, download_timeout_s=7
    )
    made = Downloader.from_settings(settings, allowed_hosts=["cdn.example"])
    assert (made.max_bytes, made.max_voice_s, made.timeout_s) == (2_621_440, 90, 7)
    assert max_attachment_bytes(settings) == 2_621_440


def test_refusals_before_downloading() -> None:
    fetch = downloader(["cdn.example", "127.0.0.1:8443", "[::1]:9000"])
    with pytest.raises(FileTooLarge, match=r"too large \(0.1 MB\): I take files up to 0.1 MB"):
        fetch.check([remote("https://cdn.example/a", size=CAP + 1)])
    voice = RemoteFile(
        AttachmentKind.AUDIO, "v.ogg", "audio/ogg", 10, Source("https://cdn.example/v"), 60.2
    )
    with pytest.raises(VoiceTooLong, match=r"too long \(1:01\): I take up to 1:00"):
        fetch.check([voice])
    fetch.check([remote("https://cdn.example/a", size=CAP)])  # at the limit: fine
    fetch.check([remote("https://cdn.example:444/a"), remote("http://127.0.0.1:8443/a")])
    fetch.check([remote("http://[::1]:9000/a")])
    for url in (
        "https://cdn.example.evil/a",
        "https://evil.example/cdn.example",
        "https://cdn.example@evil.example/a",
        "http://127.0.0.1:8444/a",
        "http://[::1]:9001/a",
        "file:///etc/passwd",
        "ftp://cdn.example/a",
        "https:///a",
        "https://cdn.example:99999/a",
        "not a url at all",
    ):
        with pytest.raises(FileSourceRefused):
            fetch.check([remote(url)])


async def test_downloads_the_bytes_and_follows_redirects_on_the_same_host(
    sites: tuple[Site, Site],
) -> None:
    one, _ = sites
    one.shelf.put("a.bin", b"abc" * 1000)
    fetch = downloader()
    try:
        got = await fetch.fetch(
            [remote(f"{one.base}/files/a.bin"), remote(f"{one.base}/moved/a.bin")]
        )
    finally:
        await fetch.aclose()
    file = Attachment(AttachmentKind.DOCUMENT, "f.bin", "application/octet-stream", b"abc" * 1000)
    assert got == (file, file)
    assert one.asked == ["/files/a.bin", "/moved/a.bin", "/files/a.bin"]


async def test_a_redirect_to_another_host_is_not_followed(sites: tuple[Site, Site]) -> None:
    one, two = sites
    two.shelf.put("a.bin", b"secret")
    fetch = downloader()  # even with no allow-list
    with pytest.raises(DownloadFailed):
        await fetch.fetch([remote(f"{one.base}/away")])
    with pytest.raises(DownloadFailed):
        await fetch.fetch([remote(f"{one.base}/loop")])  # too many redirects
    await fetch.aclose()
    assert two.asked == [] and one.asked[0] == "/away" and len(one.asked) == 5


async def test_the_cap_holds_whatever_was_stated(sites: tuple[Site, Site]) -> None:
    one, _ = sites
    one.shelf.put("honest.bin", bytes(CAP + 1))  # a Content-Length over the cap: not read
    one.shelf.put("liar.bin", b"x", stated=1, padding=64 * 1024 * 1024)
    fetch = downloader()
    with pytest.raises(FileTooLarge, match=r"\(0.1 MB\)"):
        await fetch.fetch([remote(f"{one.base}/files/honest.bin", size=10)])
    with pytest.raises(FileTooLarge, match=r"up to 0\.1 MB"):
        await fetch.fetch([remote(f"{one.base}/files/liar.bin", size=1)])
    with pytest.raises(FileTooLarge):
        await fetch.fetch([remote(f"{one.base}/gzip-bomb")])
    await fetch.aclose()
    assert one.shelf.sent["liar.bin"] < 16 * 1024 * 1024


async def test_slow_missing_and_unreachable_files_fail_with_a_short_answer(
    sites: tuple[Site, Site],
) -> None:
    one, _ = sites
    one.shelf.put("slow.bin", bytes(CAP // 2), hang=True)
    fetch = downloader(timeout_s=0.5)
    with pytest.raises(DownloadTimedOut, match="took too long"):
        await fetch.fetch([remote(f"{one.base}/files/slow.bin")])
    with pytest.raises(DownloadFailed, match="could not download"):
        await fetch.fetch([remote(f"{one.base}/files/missing.bin")])  # a 404
    with refusing_port() as port, pytest.raises(DownloadFailed):
        await fetch.fetch([remote(f"http://127.0.0.1:{port}/a")])
    await fetch.aclose()


async def test_a_located_file_is_checked_again_by_the_size_its_source_states(
    sites: tuple[Site, Site],
) -> None:
    one, _ = sites
    one.shelf.put("a.bin", b"a")
    asked: list[str] = []

    async def locate() -> Source:  # as Telegram's getFile: the size comes with the address
        asked.append("getFile")
        return Source(f"{one.base}/files/a.bin", CAP * 2)

    fetch = downloader()
    file = RemoteFile(AttachmentKind.IMAGE, "p.jpg", "image/jpeg", None, locate)
    with pytest.raises(FileTooLarge):
        await fetch.fetch([file])
    assert asked == ["getFile"] and one.asked == []


async def test_downloads_at_once_are_bounded(sites: tuple[Site, Site]) -> None:
    one, _ = sites
    for name in ("a", "b", "c"):
        one.shelf.put(name, b"x" * 1000, hang=True)
    fetch = downloader(timeout_s=30, at_once=2)
    tasks = [
        asyncio.create_task(fetch.fetch([remote(f"{one.base}/files/{name}")]))
        for name in ("a", "b", "c")
    ]
    await one.shelf.wait_fetched(2)
    await asyncio.sleep(0.2)  # room for a third request, were the bound not kept
    assert sorted(one.shelf.fetched) == ["a", "b"]
    one.shelf.release()  # the hanging ones end (short): the third one starts then
    for task in tasks:
        [got] = await task
        assert got.data == b"x" * 1000
    assert sorted(one.shelf.fetched) == ["a", "b", "c"]
    await fetch.aclose()
