"""The web door: uvicorn serving the FastAPI app inside `chatlink run`'s event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import socket
from collections.abc import Iterator, Sequence

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.web.app import create_app
from adapters.web.connections import BoundedHeads
from adapters.web.live import SERVICE_RESTART
from bot.app import Chatlink
from bot.delivery import SHUTTING_DOWN, InFlight, WebhookReceiver
from bot.errors import ConfigError

log = logging.getLogger(__name__)


_CODE_IN_PATH = re.compile(r"(/link/|/api/links/)[^/?\s]+")
_SECRET_IN_QUERY = re.compile(r"((?:^|&)(?:code|token|access_token|next|invite)=)[^&\s]*", re.I)


def redact(target: str) -> str:
    """A path and query for the log: link codes, tokens and `next` targets left out."""
    path, mark, query = target.partition("?")
    path = _CODE_IN_PATH.sub(r"\1<code>", path)
    return path + mark + _SECRET_IN_QUERY.sub(r"\1<redacted>", query)


class RedactCodes(logging.Filter):
    """Access-log lines show /link/<code> and ?token=<redacted>, never the values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = redact(str(args[2]))
            record.args = tuple(args)
        return True


# uvicorn's lines per WebSocket ("[accepted]", then websockets' "connection open" and
# "connection closed"): adapters.web.live logs one line instead, with how the socket ended.
# A refused handshake keeps uvicorn's one '"WebSocket /api/ws" 403' line, not websockets'
# "connection rejected" after it.
_WEBSOCKET_LINES = frozenset(
    {
        '%s - "WebSocket %s" [accepted]',
        "connection open",
        "connection closed",
        "connection rejected (%d %s)",
    }
)


class QuietWebSockets(logging.Filter):
    """Drops uvicorn's per-WebSocket lines, which our own close line replaces."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _WEBSOCKET_LINES


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: `chatlink run` owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


RETRY_AFTER_S = 5
_REFUSAL = json.dumps({"detail": SHUTTING_DOWN}).encode()
_REFUSAL_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_REFUSAL)).encode()),
    (b"retry-after", str(RETRY_AFTER_S).encode()),
    (b"connection", b"close"),
]


class Draining:
    """Around the app: every request and WebSocket is tracked in flight; once `draining` is
    set, new ones get 503 and open WebSockets close (1012) after the reply they are writing.

    The listening socket stays open meanwhile, so new work gets that short answer rather
    than a refused connection; uvicorn's own shutdown comes after."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = InFlight()
        self.draining = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.draining.is_set():
            await _refuse(send, "http.")
            return
        self.in_flight.track()
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            if not self.in_flight.cut:
                raise
            # Cut off at the end of the grace period: answer, and end this task normally.
            _uncancel()
            if not started:
                await _refuse(send, "http.")
            # else the response is left incomplete and uvicorn closes the connection

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.draining.is_set():
            if "websocket.http.response" in scope.get("extensions", {}):
                await _refuse(send, "websocket.http.")
            else:
                await send({"type": "websocket.close", "code": SERVICE_RESTART})
            return
        self.in_flight.track()
        accepted = closing = False

        async def until_draining() -> Message:
            # The socket's next message, or a disconnect once draining: a reply being
            # written is finished first, since the app only reads between messages.
            nonlocal closing
            frame = asyncio.ensure_future(receive())
            drain = asyncio.ensure_future(self.draining.wait())
            await asyncio.wait({frame, drain}, return_when=asyncio.FIRST_COMPLETED)
            drain.cancel()
            if frame.done():
                return frame.result()
            frame.cancel()
            closing = True
            return {"type": "websocket.disconnect", "code": SERVICE_RESTART}

        async def watched(message: Message) -> None:
            nonlocal accepted
            accepted = accepted or message["type"] == "websocket.accept"
            await send(message)

        try:
            await self.app(scope, until_draining, watched)
        except asyncio.CancelledError:
            if not self.in_flight.cut:
                raise
            _uncancel()
            closing = accepted
        if closing:
            with contextlib.suppress(Exception):  # the client may be gone already
                await send(
                    {"type": "websocket.close", "code": SERVICE_RESTART, "reason": SHUTTING_DOWN}
                )


def _uncancel() -> None:
    task = asyncio.current_task()
    assert task is not None
    task.uncancel()


async def _refuse(send: Send, prefix: str) -> None:
    await send({"type": f"{prefix}response.start", "status": 503, "headers": _REFUSAL_HEADERS})
    await send({"type": f"{prefix}response.body", "body": _REFUSAL})


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"The web page cannot listen on {host}:{port} ({exc.strerror}). "
            "Change WEB_HOST / WEB_PORT, or set WEB_ENABLED=false."
        ) from None
    sock.listen(2048)
    return sock


class WebDoor:
    """Serves the web page and the HTTP API on WEB_HOST:WEB_PORT."""

    name = "web"

    def __init__(self, chatlink: Chatlink, receivers: Sequence[WebhookReceiver] = ()) -> None:
        """`receivers`: other doors' webhooks (Telegram's), served on this port too."""
        settings = chatlink.settings
        self.app = create_app(chatlink, chatlink.secret_key, receivers)
        self.drain = Draining(self.app)
        self.grace_s = settings.shutdown_grace_s
        self.host, self.port = settings.web_host, settings.web_port
        self.config = uvicorn.Config(
            self.drain,
            log_config=None,
            lifespan="off",
            # Forwarded headers are the app's business (adapters.web.security.ForwardedFor):
            # believed only from FORWARDED_ALLOW_IPS, and only when they hold addresses.
            proxy_headers=False,
            server_header=False,
            ws_max_size=settings.max_request_bytes,
            # No permessage-deflate: chat frames are a few hundred bytes, and compressing
            # each cost CPU per frame and a zlib context per open socket.
            ws_per_message_deflate=False,
            # Slow or huge headers: a deadline, a size bound, and a cap on connections (past
            # it, 503). Per-address connection limits are the reverse proxy's (README).
            http=BoundedHeads.bounded(settings.web_header_timeout_s, settings.web_max_header_bytes),
            limit_concurrency=settings.web_max_connections,
            timeout_keep_alive=5,
            # Only a backstop: `stop` has drained every request and socket before uvicorn
            # shuts down, so nothing is left for uvicorn to wait for.
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        )
        self.server = _Server(self.config)
        access = logging.getLogger("uvicorn.access")
        if not any(isinstance(f, RedactCodes) for f in access.filters):
            access.addFilter(RedactCodes())
        server_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, QuietWebSockets) for f in server_log.filters):
            server_log.addFilter(QuietWebSockets())
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind (a clear error when the port is taken), then serve in the background."""
        sock = _listen(self.host, self.port)
        self.port = sock.getsockname()[1]
        # The page as served straight from here is our origin too (adapters.web.live).
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.app.state.listen_origins = {f"http://{host}:{self.port}"}
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise ConfigError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("web page and API on http://%s:%d (docs at /docs)", self.host, self.port)

    async def stop(self) -> None:
        """Refuse new requests (503), give those in flight SHUTDOWN_GRACE_S to finish and cut
        off the rest, then close the connections."""
        if self._task is None:
            return
        self.drain.draining.set()
        log.info("web: answering 503 to new requests; %d in flight", len(self.drain.in_flight))
        if cut := await self.drain.in_flight.finish(self.grace_s):
            log.warning("web: %d request(s) cut off after SHUTDOWN_GRACE_S=%gs", cut, self.grace_s)
        self.server.should_exit = True
        await self._task
        self._task = None
