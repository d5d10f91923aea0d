"""The web door: uvicorn serving the FastAPI app inside `chatlink run`'s event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Iterator

import uvicorn

from adapters.web.app import create_app
from bot.app import Chatlink
from bot.errors import ConfigError

log = logging.getLogger(__name__)


_CODE_IN_PATH = re.compile(r"(/link/|/api/links/)[^/?\s]+")


class RedactCodes(logging.Filter):
    """Access-log lines show /link/<code>, never the code itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = _CODE_IN_PATH.sub(r"\1<code>", str(args[2]))
            record.args = tuple(args)
        return True


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: `chatlink run` owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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

    def __init__(self, chatlink: Chatlink) -> None:
        settings = chatlink.settings
        self.app = create_app(chatlink, chatlink.secret_key)
        self.host, self.port = settings.web_host, settings.web_port
        self.config = uvicorn.Config(
            self.app,
            log_config=None,
            lifespan="off",
            proxy_headers=True,
            server_header=False,
            ws_max_size=settings.max_request_bytes,
            timeout_graceful_shutdown=10,
        )
        self.server = _Server(self.config)
        access = logging.getLogger("uvicorn.access")
        if not any(isinstance(f, RedactCodes) for f in access.filters):
            access.addFilter(RedactCodes())
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind (a clear error when the port is taken), then serve in the background."""
        sock = _listen(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise ConfigError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("web page and API on http://%s:%d (docs at /docs)", self.host, self.port)

    async def stop(self) -> None:
        """Finish requests in flight, close connections."""
        if self._task is None:
            return
        self.server.should_exit = True
        await self._task
        self._task = None
