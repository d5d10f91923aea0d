"""What the web door logs per WebSocket: one line, with how it ended; a client gone mid-reply
is an everyday event (INFO), never a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from adapters.web import WebDoor
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slow_model import SlowStream
from tests.support.settings import PASSWORD

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")

CLOSED = "web: WebSocket closed: "


async def bearer(http: httpx.AsyncClient) -> dict[str, str]:
    await http.post("/api/register", json={"username": "alice", "password": PASSWORD})
    response = await http.post("/api/token", data={"username": "alice", "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def socket_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Every line a WebSocket made: the server's and the door's, not the core's nor httpx's."""
    return [r for r in caplog.records if not r.name.startswith(("bot.", "httpx"))]


class LineSeen(logging.Handler):
    """Sets `seen` when a line starting with `prefix` is logged (from the test's own loop)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.seen.set()


@pytest.fixture
def logged() -> Iterator[Callable[[str], asyncio.Event]]:
    """`logged(prefix)`: an event set once a line starting with `prefix` is logged."""
    handlers: list[LineSeen] = []

    def watch(prefix: str) -> asyncio.Event:
        handlers.append(LineSeen(prefix))
        logging.getLogger().addHandler(handlers[-1])
        return handlers[-1].seen

    yield watch
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


async def closed_line(caplog: pytest.LogCaptureFixture, closed: asyncio.Event) -> str:
    """Our close line, once it is logged (the server ends the socket after the client)."""
    async with asyncio.timeout(10):
        await closed.wait()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith(CLOSED)]
    return line


async def test_each_websocket_logs_one_line_with_its_outcome(
    http: httpx.AsyncClient,
    web: WebDoor,
    caplog: pytest.LogCaptureFixture,
    logged: Callable[[str], asyncio.Event],
) -> None:
    auth = await bearer(http)
    caplog.set_level(logging.INFO)
    caplog.clear()
    closed = logged(CLOSED)
    async with connect(f"ws://127.0.0.1:{web.port}/api/ws", additional_headers=auth) as ws:
        await ws.send(json.dumps({"message": "hello"}))
        while json.loads(await ws.recv())["type"] != "reply":
            pass
    line = await closed_line(caplog, closed)
    assert line.startswith(f"{CLOSED}account_id=1 client=127.0.0.1 seconds=")
    assert line.endswith(" outcome=client_closed code=1000")
    assert [(r.levelname, r.getMessage()) for r in socket_lines(caplog)] == [("INFO", line)]


async def test_a_refused_websocket_is_one_line(
    web: WebDoor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(InvalidStatus):
        async with connect(f"ws://127.0.0.1:{web.port}/api/ws"):
            pass
    lines = [r.getMessage() for r in socket_lines(caplog)]
    [line] = lines
    assert line.endswith('"WebSocket /api/ws" 403')


async def _close(ws: ClientConnection) -> None:
    await ws.close()


async def _drop(ws: ClientConnection) -> None:
    ws.transport.abort()  # a tab killed, a network gone: no closing handshake


@pytest.mark.parametrize("leave", [_close, _drop], ids=["closed", "dropped"])
async def test_a_client_leaving_mid_reply_is_one_info_line(
    http: httpx.AsyncClient,
    web: WebDoor,
    scripted: ScriptedModel,
    caplog: pytest.LogCaptureFixture,
    logged: Callable[[str], asyncio.Event],
    leave: Callable[[ClientConnection], Awaitable[None]],
) -> None:
    gate = asyncio.Event()
    slow = SlowStream(["one ", "two ", "three"], delay=0.01, gate=gate)
    scripted.plans.append(slow)
    auth = await bearer(http)
    caplog.set_level(logging.INFO)
    caplog.clear()
    closed = logged(CLOSED)
    ws = await connect(f"ws://127.0.0.1:{web.port}/api/ws", additional_headers=auth)
    await ws.send(json.dumps({"message": "hi"}))
    assert json.loads(await ws.recv()) == {"type": "chunk", "text": "one "}
    await slow.at_gate.wait()
    await leave(ws)
    gate.set()  # the reply is finished (and stored) for a page that is gone
    line = await closed_line(caplog, closed)
    assert line.endswith(" outcome=client_left_mid_reply")
    assert [(r.levelname, r.getMessage()) for r in socket_lines(caplog)] == [("INFO", line)]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_an_http_client_gone_mid_reply_logs_no_trouble(
    http: httpx.AsyncClient,
    web: WebDoor,
    scripted: ScriptedModel,
    caplog: pytest.LogCaptureFixture,
    logged: Callable[[str], asyncio.Event],
) -> None:
    gate = asyncio.Event()
    slow = SlowStream(["one ", "two ", "three"], delay=0.01, gate=gate)
    scripted.plans.append(slow)
    auth = await bearer(http)
    caplog.set_level(logging.INFO)
    caplog.clear()
    replied = logged("replied:")
    asking = asyncio.create_task(http.post("/api/chat", json={"message": "hi"}, headers=auth))
    await slow.at_gate.wait()
    asking.cancel()  # the client gives up: its connection closes
    with pytest.raises(asyncio.CancelledError):
        await asking
    gate.set()
    async with asyncio.timeout(10):  # the reply is still made and stored
        await replied.wait()
    assert await web.drain.in_flight.finish(10) == 0  # and the request has ended
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
