"""WS /api/ws: chat on the private thread with the reply streamed in chunks.

The client sends `{"message": "..."}`; the server answers with `{"type": "chunk", "text": ...}`
pieces (each appends to the reply so far) and one `{"type": "reply", "text": ..., "kind": ...}`
holding the whole reply. Bad frames get `{"type": "error", "detail": ...}` and the socket stays.
Authentication: `Authorization: Bearer <token>`, or the page's session cookie from the same origin.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from adapters.web.api import web_message
from adapters.web.deps import account_from_token, get_chatlink, get_tokens, session_account
from bot.accounts import Account, credential_version
from bot.app import Chatlink
from bot.delivery import answer_for, describe
from bot.errors import AccountDisabled
from bot.messages import Reply

log = logging.getLogger(__name__)

live = APIRouter()

POLICY_VIOLATION = 1008
BAD_FRAME = 'Send text frames of JSON like {"message": "hello"}, in valid UTF-8.'


def allowed_origins(websocket: WebSocket) -> set[str]:
    """PUBLIC_URL's origin, and the address this server listens on: never one built from
    the request's own Host header."""
    parts = urlsplit(get_chatlink(websocket).settings.public_url)
    origins = {f"{parts.scheme}://{parts.netloc}"}
    origins.update(getattr(websocket.app.state, "listen_origins", ()))
    return origins


def _same_origin(websocket: WebSocket) -> bool:
    # A cookie is sent on cross-site WebSocket handshakes too: only trust it from our origin.
    origin = websocket.headers.get("origin")
    return bool(origin) and origin in allowed_origins(websocket)


async def _authenticate(websocket: WebSocket) -> tuple[Account | None, str | None]:
    """The account, and the session token when the cookie (not a bearer token) vouched."""
    chatlink = get_chatlink(websocket)
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        return await account_from_token(chatlink, get_tokens(websocket), token), None
    if _same_origin(websocket):
        session = websocket.session.get("sid")
        return await session_account(websocket), session if isinstance(session, str) else None
    return None, None


@live.websocket("/api/ws")
async def chat_socket(websocket: WebSocket) -> None:
    """Chat over a WebSocket, one message at a time, replies streamed."""
    account, session = await _authenticate(websocket)
    if account is None:
        await websocket.close(code=POLICY_VIOLATION, reason="not authenticated")
        return
    await websocket.accept()
    chatlink = get_chatlink(websocket)
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        # A password change, a logout elsewhere or a disabled account ends the socket too.
        current = await chatlink.accounts.by_id(account.id)
        if (
            current is None
            or credential_version(current) != credential_version(account)
            or (session is not None and await chatlink.sessions.account_of(session) is None)
        ):
            await websocket.close(code=POLICY_VIOLATION, reason="session ended")
            return
        if current.disabled:
            # Said as POST /api/chat says it (there a 403), before the session ends.
            await websocket.send_json(_reply_frame(Reply.refused(AccountDisabled())))
            await websocket.close(code=POLICY_VIOLATION, reason="session ended")
            return
        text = _message_text(frame.get("text"))
        if text is None:
            await websocket.send_json({"type": "error", "detail": BAD_FRAME})
            continue
        try:
            await _answer(websocket, chatlink, current, text)
        except WebSocketDisconnect:
            return
        except Exception as error:
            # The socket stays: once the trouble (a database refusing writes) is over, the
            # next message works.
            log.error("web: a WebSocket message failed: %s", describe(error))
            log.debug("web: the failure in full", exc_info=error)
            await websocket.send_json({"type": "error", "detail": answer_for(error)})


async def _answer(websocket: WebSocket, chatlink: Chatlink, account: Account, text: str) -> None:
    sent = 0

    async def stream(so_far: str) -> None:
        nonlocal sent
        if len(so_far) > sent:
            await websocket.send_json({"type": "chunk", "text": so_far[sent:]})
            sent = len(so_far)

    replies = await chatlink.core.handle(
        web_message(account, text), on_progress=stream, account=account
    )
    for reply in replies:
        await websocket.send_json(_reply_frame(reply))


def _reply_frame(reply: Reply) -> dict[str, str]:
    # A refusal is a reply like the others here: its text, and kind "rejected".
    return {"type": "reply", "text": reply.text, "kind": reply.kind.value}


def _message_text(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return None
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return None
    text: str = data["message"]
    try:
        text.encode("utf-8")  # a lone surrogate (\ud800) is valid JSON, not text
    except UnicodeEncodeError:
        return None
    return text
