"""WS /api/ws: chat on the private thread with the reply streamed in chunks.

The client sends `{"message": "..."}`; the server answers with `{"type": "chunk", "text": ...}`
pieces (each appends to the reply so far) and one `{"type": "reply", "text": ..., "kind": ...}`
holding the whole reply. `{"type": "stop"}` stops the reply being written (answered with
`{"type": "stopped", "stopped": true|false}`; the stopped reply ends with its own "reply" frame).
Bad frames get `{"type": "error", "detail": ...}` and the socket stays.
Authentication: `Authorization: Bearer <token>`, or the page's session cookie from the same origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from adapters.web.api import web_message
from adapters.web.deps import account_from_token, get_chatlink, get_tokens, session_account
from bot.accounts import Account, credential_version
from bot.app import Chatlink
from bot.conversation import PRIVATE_THREAD
from bot.delivery import answer_for, describe
from bot.errors import AccountDisabled
from bot.messages import Reply

log = logging.getLogger(__name__)

live = APIRouter()

POLICY_VIOLATION = 1008
BAD_FRAME = 'Send text frames of JSON like {"message": "hello"} or {"type": "stop"}.'


def _same_origin(websocket: WebSocket, public_url: str) -> bool:
    # A cookie is sent on cross-site WebSocket handshakes too: only trust it from our origin.
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    host = websocket.headers.get("host", "")
    allowed = {f"http://{host}", f"https://{host}"}
    parts = urlsplit(public_url)
    allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin in allowed


async def _authenticate(websocket: WebSocket) -> Account | None:
    chatlink = get_chatlink(websocket)
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return await account_from_token(chatlink, get_tokens(websocket), header[7:].strip())
    if _same_origin(websocket, chatlink.settings.public_url):
        return await session_account(websocket)
    return None


@live.websocket("/api/ws")
async def chat_socket(websocket: WebSocket) -> None:
    """Chat over a WebSocket, one message at a time, replies streamed."""
    account = await _authenticate(websocket)
    if account is None:
        await websocket.close(code=POLICY_VIOLATION, reason="not authenticated")
        return
    await websocket.accept()
    chatlink = get_chatlink(websocket)
    # Answers run behind one another in tasks, so frames keep being read meanwhile: a
    # {"type": "stop"} frame reaches the reply it stops.
    answering: asyncio.Task[None] | None = None
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            # A password change, a logout elsewhere or a disabled account ends the socket too.
            current = await chatlink.accounts.by_id(account.id)
            if current is None or credential_version(current) != credential_version(account):
                await websocket.close(code=POLICY_VIOLATION, reason="session ended")
                return
            if current.disabled:
                # Said as POST /api/chat says it (there a 403), before the session ends.
                await websocket.send_json(_reply_frame(Reply.refused(AccountDisabled())))
                await websocket.close(code=POLICY_VIOLATION, reason="session ended")
                return
            if _is_stop(frame.get("text")):
                stopped = await chatlink.core.controls.stop(current, PRIVATE_THREAD)
                await websocket.send_json({"type": "stopped", "stopped": stopped})
                continue
            text = _message_text(frame.get("text"))
            if text is None:
                await websocket.send_json({"type": "error", "detail": BAD_FRAME})
                continue
            answering = asyncio.create_task(
                _answer_after(answering, websocket, chatlink, current, text)
            )
    finally:
        if answering is not None:
            with contextlib.suppress(Exception):
                await answering


async def _answer_after(
    previous: asyncio.Task[None] | None,
    websocket: WebSocket,
    chatlink: Chatlink,
    account: Account,
    text: str,
) -> None:
    if previous is not None:
        with contextlib.suppress(Exception):
            await previous
    try:
        await _answer(websocket, chatlink, account, text)
    except WebSocketDisconnect:
        return
    except Exception as error:
        # The socket stays: once the trouble (a database refusing writes) is over, the
        # next message works.
        log.error("web: a WebSocket message failed: %s", describe(error))
        log.debug("web: the failure in full", exc_info=error)
        with contextlib.suppress(Exception):
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


def _is_stop(raw: object) -> bool:
    # {"type": "stop"}: stop the reply being written in the private thread.
    if not isinstance(raw, str):
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "stop"


def _message_text(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return None
    text: str = data["message"]
    return text
