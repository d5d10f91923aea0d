"""Routes for updates pushed by a platform (the Telegram webhook), served on the web port.

They sit behind the same middleware as every page: the body limit (413), the drain (503 while
stopping) and the security headers. What a body means is the receiving door's business."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from bot.delivery import Pushed, WebhookReceiver

# What Telegram sends (a parameter such as charset is let through); anything else gets 415.
CONTENT_TYPE = "application/json"
RETRY_AFTER_S = "5"

_REFUSALS: dict[Pushed, tuple[int, str]] = {
    Pushed.FORBIDDEN: (403, "Missing or wrong secret token."),
    Pushed.MALFORMED: (400, "The body is not a JSON update object."),
    Pushed.UNAVAILABLE: (503, "Not taking updates right now, send again shortly."),
}


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == CONTENT_TYPE


def webhooks(receivers: Sequence[WebhookReceiver]) -> APIRouter:
    """One POST route per receiver, at the path it names; none when there are none (404)."""
    router = APIRouter(include_in_schema=False)
    for receiver in receivers:
        router.add_api_route(receiver.path, _endpoint(receiver), methods=["POST"])
    return router


def _endpoint(receiver: WebhookReceiver) -> Callable[[Request], Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        if not _is_json(request.headers.get("content-type")):
            return JSONResponse({"detail": f"Content-Type must be {CONTENT_TYPE}."}, 415)
        body = await request.body()
        outcome = await receiver.receive(body, request.headers.get(receiver.secret_header))
        if outcome is Pushed.ACCEPTED:
            # Empty: Telegram would run a method named in a JSON answer to its call.
            return Response(status_code=200)
        status, detail = _REFUSALS[outcome]
        headers = {"Retry-After": RETRY_AFTER_S} if outcome is Pushed.UNAVAILABLE else None
        return JSONResponse({"detail": detail}, status, headers=headers)

    return receive
