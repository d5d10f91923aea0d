"""WS /api/ws: chat on the private thread with the reply streamed in chunks.

The client sends `{"message": "...", "id": "..."}` (the id is optional: up to 64 characters of
A-Z a-z 0-9 _ -); the server answers with `{"type": "chunk", "text": ...}` pieces (each appends
to the reply so far) and `{"type": "reply", "text": ..., "kind": ..., "id": ..., "last": ...}`
frames holding whole replies (`last` on the message's final one; Markdown replies, the
model's and /help, also carry `html`, rendered and sanitised); a message with no reply at all
gets `{"type": "done", "id": ...}`. A message sent again with the same id (the page resends
what was not answered after a reconnect) is handled once and answered again (adapters.web.resends).
`{"type": "stop"}` while a reply streams stops it (the model call ends, nothing half-written is
stored, and that message's reply says so); it is answered at once with
`{"type": "stopped", "stopped": true|false}` (whether a reply was being made). Messages sent
meanwhile wait their turn, in order. Files uploaded first (POST /api/uploads) go with a
message that names them: `{"message": "...", "files": ["<id>", ...]}` (the message may be empty
then). Bad frames get `{"type": "error", "detail": ...}` and the socket stays.
Authentication: `Authorization: Bearer <token>`, or the page's session cookie from the same origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from adapters.web.api import web_message
from adapters.web.deps import account_from_token, get_chatlink, get_tokens, session_account
from adapters.web.resends import CLIENT_ID, Handling, resends_of
from bot.accounts import Account, credential_version
from bot.app import Chatlink
from bot.conversation import PRIVATE_THREAD
from bot.delivery import answer_for, describe
from bot.errors import AccountDisabled, ChatlinkError
from bot.messages import Reply, ReplyKind
from bot.rendering import to_html

log = logging.getLogger(__name__)

live = APIRouter()

POLICY_VIOLATION = 1008
SERVICE_RESTART = 1012  # close code: the server is restarting, come back later (door.Draining)
CLIENT_LEFT = "client_left_mid_reply"  # an everyday event (a reload, a closed tab): INFO
BAD_FRAME = (
    'Send text frames of JSON like {"message": "hello"} or {"type": "stop"}, in valid UTF-8'
    " (an id, if any, up to 64 characters of A-Z a-z 0-9 _ -; files uploaded first go along"
    ' as "files": ["<id>"]).'
)
MOST_FILES = 10


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
    opened = time.monotonic()
    # The one log line of this socket (uvicorn's own are quietened, adapters.web.door).
    outcome = "cut_off"  # unless _serve returns: cancelled at the end of a shutdown's grace
    chatlink = get_chatlink(websocket)
    frames: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def read() -> None:
        # Read all the time, so a stop frame arrives while a reply streams.
        while True:
            frame = dict(await websocket.receive())
            if frame["type"] != "websocket.disconnect" and _is_stop(frame.get("text")):
                # As /stop and POST /api/stop: the core closes the model stream (on whichever
                # replica writes it) and the reply being made answers that it stopped.
                stopped = await chatlink.core.controls.stop(account, PRIVATE_THREAD)
                if not await _send(websocket, {"type": "stopped", "stopped": stopped}):
                    return
                continue
            await frames.put(frame)
            if frame["type"] == "websocket.disconnect":
                return  # a reply being made still finishes and is stored

    reader = asyncio.create_task(read())
    # A page reloaded while its reply was being made gets that reply when it is done.
    earlier = _in_flight(websocket).get(account.id)
    late = asyncio.create_task(_deliver(websocket, *earlier)) if earlier else None
    try:
        outcome = await _serve(websocket, chatlink, account, session, frames)
    finally:
        for task in (reader, late):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        client = websocket.client.host if websocket.client else "-"
        log.info(
            "web: WebSocket closed: account_id=%s client=%s seconds=%.1f outcome=%s",
            account.id,
            client,
            time.monotonic() - opened,
            outcome,
        )


async def _serve(
    websocket: WebSocket,
    chatlink: Chatlink,
    account: Account,
    session: str | None,
    frames: asyncio.Queue[dict[str, object]],
) -> str:
    """Serve the socket's messages until it ends; how it ended, for the log line."""
    while True:
        frame = await frames.get()
        if frame["type"] == "websocket.disconnect":
            code = frame.get("code")
            return "server_restarting" if code == SERVICE_RESTART else f"client_closed code={code}"
        # A password change, a logout elsewhere or a disabled account ends the socket too.
        # Through the core's account cache, as bearer tokens are read: a change made here is
        # seen at once, one made by another process within seconds (bot.accounts.cache).
        current = await chatlink.core.accounts.by_id(account.id)
        if (
            current is None
            or credential_version(current) != credential_version(account)
            or (session is not None and await chatlink.sessions.account_of(session) is None)
        ):
            await websocket.close(code=POLICY_VIOLATION, reason="session ended")
            return "session_ended"
        if current.disabled:
            # Said as POST /api/chat says it (there a 403), before the session ends.
            refused = _reply_frame(Reply.refused(AccountDisabled()))
            await websocket.send_json(refused | {"last": True})
            await websocket.close(code=POLICY_VIOLATION, reason="session ended")
            return "account_disabled"
        message = _message(frame.get("text"))
        if message is None:
            await websocket.send_json({"type": "error", "detail": BAD_FRAME})
            continue
        text, client_id, files = message
        try:
            seen = resends_of(websocket).get(account.id, client_id) if client_id else None
            if seen is not None:  # sent again after a reconnect: answered from its handling
                await _send_replies(websocket, await asyncio.shield(seen), client_id)
            else:
                await _answer(websocket, chatlink, current, text, client_id, files)
        except WebSocketDisconnect:
            return CLIENT_LEFT
        except Exception as error:
            if websocket.client_state.name != "CONNECTED":
                return CLIENT_LEFT  # the page went away; its reply was stored all the same
            # The socket stays: once the trouble (a database refusing writes) is over, the
            # next message works.
            log.error("web: a WebSocket message failed: %s", describe(error))
            log.debug("web: the failure in full", exc_info=error)
            failure: dict[str, str | bool] = {"type": "error", "detail": answer_for(error)}
            if not await _send(websocket, failure | ({"id": client_id} if client_id else {})):
                return CLIENT_LEFT


async def _answer(
    websocket: WebSocket,
    chatlink: Chatlink,
    account: Account,
    text: str,
    client_id: str | None,
    files: list[str],
) -> None:
    sent = 0
    gone = False
    try:
        # Kept until the message is answered: a refused one (a limit, no vision, STT down)
        # can be sent again with the same files (the page's Retry).
        attachments = await chatlink.core.files.take(account.id, files, keep=True) if files else ()
    except ChatlinkError as error:  # gone, or someone else's: answered like any refusal
        await _send_replies(websocket, [Reply.refused(error)], client_id)
        return

    async def stream(so_far: str) -> None:
        nonlocal sent, gone
        if not gone and len(so_far) > sent:
            # The page may be gone (reloaded): the reply is still made, stored and delivered.
            gone = not await _send(websocket, {"type": "chunk", "text": so_far[sent:]})
            sent = len(so_far)

    async def handle() -> list[Reply]:
        replies = await chatlink.core.handle(
            web_message(account, text, attachments), on_progress=stream, account=account
        )
        if files and replies and replies[0].kind not in (ReplyKind.REJECTED, ReplyKind.ERROR):
            await chatlink.core.files.drop(account.id, files)
        return replies

    handling = asyncio.create_task(handle())
    if client_id:
        resends_of(websocket).add(account.id, client_id, handling)
    registry = _in_flight(websocket)
    registry[account.id] = (handling, client_id)

    def leave(done: Handling) -> None:
        current = registry.get(account.id)
        if current is not None and current[0] is done:
            del registry[account.id]

    handling.add_done_callback(leave)
    await _send_replies(websocket, await handling, client_id)


async def _deliver(websocket: WebSocket, handling: Handling, client_id: str | None) -> None:
    # Shielded: this socket closing must not cancel a reply another socket asked for.
    with contextlib.suppress(Exception):
        await _send_replies(websocket, await asyncio.shield(handling), client_id)


async def _send_replies(websocket: WebSocket, replies: list[Reply], client_id: str | None) -> None:
    """One message's replies, the last one marked (or "done" when there is none)."""
    tag: dict[str, str | bool] = {"id": client_id} if client_id else {}
    if not replies:
        await websocket.send_json({"type": "done"} | tag)
    for index, reply in enumerate(replies):
        await websocket.send_json(_reply_frame(reply) | tag | {"last": index == len(replies) - 1})


def _in_flight(websocket: WebSocket) -> dict[int, tuple[Handling, str | None]]:
    """Per account, the reply being made now and its message's id (kept on the app, not in a
    module global)."""
    state = websocket.app.state
    if not hasattr(state, "replies_in_flight"):
        state.replies_in_flight = {}
    registry: dict[int, tuple[Handling, str | None]] = state.replies_in_flight
    return registry


async def _send(websocket: WebSocket, frame: dict[str, str | bool]) -> bool:
    try:
        await websocket.send_json(frame)
    except Exception:  # closed under us: the reader sees the disconnect
        return False
    return True


def _reply_frame(reply: Reply) -> dict[str, str | bool]:
    # A refusal is a reply like the others here: its text, and kind "rejected".
    frame: dict[str, str | bool] = {"type": "reply", "text": reply.text, "kind": reply.kind.value}
    if reply.is_markdown:
        frame["html"] = to_html(reply.text)
    return frame


def _is_stop(raw: object) -> bool:
    if not isinstance(raw, str) or '"stop"' not in raw:
        return False
    with contextlib.suppress(ValueError, RecursionError):
        data = json.loads(raw)
        return isinstance(data, dict) and data.get("type") == "stop"
    return False


def _message(raw: object) -> tuple[str, str | None, list[str]] | None:
    """The message's text, client id and the upload ids it names, or None for a bad frame."""
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return None
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return None
    client_id = data.get("id")
    if client_id is not None and not (
        isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)
    ):
        return None
    text: str = data["message"]
    files = data.get("files", [])
    if (
        not isinstance(files, list)
        or len(files) > MOST_FILES
        or not all(isinstance(f, str) and 0 < len(f) <= 64 for f in files)
    ):
        return None
    try:
        text.encode("utf-8")  # a lone surrogate (\ud800) is valid JSON, not text
    except UnicodeEncodeError:
        return None
    return text, client_id, files
