"""The last resort of the web door: an unexpected failure gets one log line and a short answer.

The core answers chat messages itself when the database fails; everything else (registering,
pages, the history, a bug) would otherwise reach uvicorn, which logs the whole traceback and
answers a bare "Internal Server Error". How a failure is named and answered is the core's
(`bot.delivery.failures`); the status is ours: 503 when the database failed (it comes back,
so a retry later is right), 500 for a bug (retrying the same request meets the same bug).
"""

from __future__ import annotations

import contextlib
import logging

from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.web.deps import viewer
from adapters.web.pages import render
from bot.delivery import answer_for, database_failed, describe

log = logging.getLogger(__name__)

INTERNAL_ERROR = 1011  # WebSocket close code: the server met an unexpected condition


def _where(scope: Scope) -> str:
    # The route's template (/api/links/{code}), never the path: it may hold a link code.
    route = scope.get("route")
    path = getattr(route, "path", None) or "?"
    return f"{scope.get('method', 'WEBSOCKET')} {path}"


class Failsafe:
    """ASGI middleware: any exception left over becomes 500, or 503 when the database failed,
    with a short answer (JSON under /api, the error page elsewhere), or a WebSocket close, and
    one ERROR line in the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] in (
                "http.response.start",
                "websocket.accept",
                "websocket.close",
            )
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            log.error("web: %s failed: %s", _where(scope), describe(error))
            log.debug("web: the failure in full", exc_info=error)
            status = 503 if database_failed(error) else 500
            await self._answer(scope, receive, send, started, status, answer_for(error))

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, started: bool, status: int, text: str
    ) -> None:
        if scope["type"] == "websocket":
            with contextlib.suppress(Exception):  # the socket may be gone already
                await send({"type": "websocket.close", "code": INTERNAL_ERROR, "reason": ""})
            return
        if started:
            return  # the answer is under way: nothing more can be said
        path = str(scope.get("path", ""))
        if path.startswith("/api") or path == "/healthz":
            response = JSONResponse({"detail": text}, status)
            await response(scope, receive, send)
            return
        request = Request(scope, receive)
        page = render(request, "error.html", status, account=await viewer(request), error=text)
        await page(scope, receive, send)
