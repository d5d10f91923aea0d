"""The web door's bounds on the wire, with raw sockets where a client library would not
misbehave: bodies over the limit in every framing, slow and huge headers, the connection cap,
the password queue, and what the access log leaves out."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from adapters.web import WebDoor
from adapters.web.door import RedactCodes
from tests.support.app import OpenApp
from tests.support.settings import PASSWORD

WAIT_S = 20  # a bound on waiting for the server, never a measured time


@asynccontextmanager
async def door_on(open_app: OpenApp, **settings: object) -> AsyncIterator[WebDoor]:
    """A web door served on settings of its own."""
    async with open_app(**settings) as app:
        door = WebDoor(app)
        await door.start()
        try:
            yield door
        finally:
            await door.stop()


async def raw(door: WebDoor, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A socket to the door that has sent `data`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def test_a_chunked_body_over_the_limit_in_one_write_gets_413(web: WebDoor) -> None:
    chunk = b"x" * 70_000  # over MAX_REQUEST_BYTES (65536), sent whole with its last chunk
    request = (
        b"POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    reader, writer = await raw(web, request)
    try:
        status = await asyncio.wait_for(reader.readline(), WAIT_S)
        assert status.startswith(b"HTTP/1.1 413")
    finally:
        writer.close()


async def test_a_declared_length_over_the_limit_never_sent_still_gets_413(web: WebDoor) -> None:
    request = (
        b"POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )  # the body never comes: the drain gives up and answers
    reader, writer = await raw(web, request)
    try:
        status = await asyncio.wait_for(reader.readline(), WAIT_S)
        assert status.startswith(b"HTTP/1.1 413")
    finally:
        writer.close()


async def test_unfinished_headers_are_cut_off(open_app: OpenApp) -> None:
    async with door_on(open_app, web_header_timeout_s=0.5) as door:
        reader, writer = await raw(door, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        try:
            # The server closes the socket: the read ends (b"") instead of waiting forever.
            assert await asyncio.wait_for(reader.read(), WAIT_S) == b""
        finally:
            writer.close()
        # A request that is on time is answered.
        async with httpx.AsyncClient(trust_env=False) as client:
            ok = await client.get(f"http://127.0.0.1:{door.port}/healthz")
            assert ok.status_code == 200


async def test_a_head_trickled_past_the_bound_gets_431_and_one_within_it_is_served(
    open_app: OpenApp,
) -> None:
    async with door_on(open_app, web_max_header_bytes=2048) as door:
        # 5 pieces of 500 bytes go past 2,048 with the head unfinished; 2 are well within.
        for pieces, end, expected in ((5, b"", b"HTTP/1.1 431"), (2, b"\r\n", b"HTTP/1.1 200")):
            reader, writer = await raw(door, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try:
                for n in range(pieces):  # each piece its own read on the server
                    writer.write(b"X-Part-%d: " % n + b"a" * 480 + b"\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.05)
                writer.write(end)
                status = await asyncio.wait_for(reader.readline(), WAIT_S)
                assert status.startswith(expected), (pieces, status)
                if expected.endswith(b"431"):  # and the connection is closed after it
                    rest = await asyncio.wait_for(reader.read(), WAIT_S)
                    assert rest.endswith(b"Request headers too large.")
            finally:
                writer.close()
        # A body arriving in pieces is no head: a 30 KB one, then a request on its heels.
        body = b'{"username": "' + b"a" * 30_000 + b'"}'
        head = b"POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        reader, writer = await raw(door, head)
        try:
            for start in range(0, len(body), 7_600):  # the last piece 6 KB too
                writer.write(body[start : start + 7_600])
                await writer.drain()
                await asyncio.sleep(0.02)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
            assert first.startswith(b"HTTP/1.1 422"), first
            length = int(first.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            second = await asyncio.wait_for(reader.readline(), WAIT_S)
            assert second.startswith(b"HTTP/1.1 200"), second
        finally:
            writer.close()


async def test_huge_headers_are_refused(http: httpx.AsyncClient) -> None:
    answer = await http.get("/healthz", headers={"X-Big": "a" * 100_000})
    assert answer.status_code == 431  # the protocol's bound, or HeaderLimit's if in one read


async def test_connections_past_the_cap_get_503(open_app: OpenApp) -> None:
    async with door_on(open_app, web_max_connections=2) as door:
        held = [await raw(door, b"") for _ in range(2)]
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                answer = await client.get(f"http://127.0.0.1:{door.port}/healthz")
            assert answer.status_code == 503
        finally:
            for _, writer in held:
                writer.close()


async def test_a_full_password_queue_answers_503_with_retry_after(open_app: OpenApp) -> None:
    async with door_on(open_app, login_queue_max=1) as door:
        hasher = door.app.state.chatlink.accounts.hasher
        gate = threading.Event()
        held = asyncio.ensure_future(hasher._off_loop(lambda: gate.wait(30)))
        await asyncio.sleep(0)  # one step of the loop puts it in the only slot
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                answer = await client.post(
                    f"http://127.0.0.1:{door.port}/api/token",
                    data={"username": "alice", "password": PASSWORD},
                )
            assert answer.status_code == 503
            assert int(answer.headers["retry-after"]) >= 1
        finally:
            gate.set()
            await held


def test_the_access_log_leaves_secrets_out() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/login?next=/link/abc123&token=s3cret&code=XYZ&page=2",
         "1.1", 200),
        None,
    )  # fmt: skip
    RedactCodes().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line and "XYZ" not in line and "abc123" not in line
    assert "page=2" in line
