"""A Discord stand-in: the REST routes discord.py uses and a gateway WebSocket.

The gateway speaks plain JSON text frames: HELLO, heartbeat ACKs, READY and GUILD_CREATE after
IDENTIFY, then whatever MESSAGE_CREATE / INTERACTION_CREATE the test dispatches. Guild message
content is blanked unless the bot asked for the message-content intent (or is mentioned), as
Discord does. Every REST call is recorded with its JSON body.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

TOKEN = "discord-test-token.abc.def"
BOT_ID = 4242
APP_ID = 4242
GUILD_ID = 5000
CHANNEL_ID = 5001
MESSAGE_CONTENT_INTENT = 1 << 15
TIMESTAMP = "2026-11-26T12:00:00.000000+00:00"


@dataclass
class RestCall:
    """One REST request the bot made."""

    method: str
    path: str
    body: Any
    query: dict[str, str]
    status: int = 200


def user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id), "username": name, "global_name": name, "discriminator": "0",
        "avatar": None, "bot": bot,
    }  # fmt: skip


BOT_USER = user(BOT_ID, "chatlink", bot=True)


@dataclass
class FakeDiscord:
    """State of the stand-in: recorded calls, the connected gateway, ids."""

    token: str = TOKEN
    calls: list[RestCall] = field(default_factory=list)
    identify: dict[str, Any] | None = None
    _socket: WebSocket | None = None
    _sequence: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(900_000))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    synced: dict[str | None, list[dict[str, Any]]] = field(default_factory=dict)
    fail_next: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    slow_callbacks: int = 0  # how many next interaction callbacks answer 0.5 s late

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/gateway", self._gateway),
                Route(
                    "/api/v10/{path:path}",
                    self._rest,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )

    # --- what the test does ---------------------------------------------------------------
    @property
    def content_intent(self) -> bool:
        return bool(self.identify and int(self.identify["intents"]) & MESSAGE_CONTENT_INTENT)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._socket is not None, "the bot is not connected"
        self._sequence += 1
        await self._socket.send_json({"op": 0, "t": event, "s": self._sequence, "d": data})

    async def message(
        self,
        content: str,
        *,
        author_id: int = 1001,
        name: str = "alice",
        guild: bool = False,
        mentions_bot: bool = False,
        author_bot: bool = False,
        attachments: list[dict[str, Any]] | None = None,
        flags: int = 0,
    ) -> None:
        """Deliver a MESSAGE_CREATE: a DM, or a message in the test guild's channel (files:
        see discord_cdn; `flags` 8192 is IS_VOICE_MESSAGE)."""
        author = user(author_id, name, bot=author_bot)
        data: dict[str, Any] = {
            "id": str(next(self._ids)), "author": author, "content": content,
            "timestamp": TIMESTAMP, "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [BOT_USER] if mentions_bot else [],
            "mention_roles": [],
            "attachments": attachments or [], "embeds": [], "pinned": False, "type": 0,
            "flags": flags,
        }  # fmt: skip
        if guild:
            data.update(channel_id=str(CHANNEL_ID), guild_id=str(GUILD_ID))
            data["member"] = {
                "roles": [],
                "joined_at": TIMESTAMP,
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
            if not self.content_intent and not mentions_bot:
                # No message-content intent: Discord sends content and files blank.
                data.update(content="", attachments=[])
        else:
            data["channel_id"] = str(self.dm_channel_id(author_id))
        await self.dispatch("MESSAGE_CREATE", data)

    def dm_channel_id(self, user_id: int) -> int:
        return 700_000 + user_id

    async def command(
        self,
        name: str,
        options: dict[str, str] | None = None,
        *,
        author_id: int = 1001,
        author_name: str = "alice",
        guild: bool = True,
    ) -> str:
        """Deliver an INTERACTION_CREATE for a slash command; returns the interaction id."""
        registered = next(c for c in self.commands if c["name"] == name)  # guild ones first
        interaction_id = str(next(self._ids))
        data: dict[str, Any] = {
            "id": registered["id"], "name": name, "type": 1,
            "options": [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()],
        }  # fmt: skip
        payload: dict[str, Any] = {
            "id": interaction_id, "application_id": str(APP_ID), "type": 2, "data": data,
            "token": f"itoken-{interaction_id}", "version": 1, "app_permissions": "0",
            "locale": "en-US", "entitlements": [], "authorizing_integration_owners": {},
            "attachment_size_limit": 8388608,
        }  # fmt: skip
        author = user(author_id, author_name)
        if guild:
            if registered.get("guild_id"):
                data["guild_id"] = registered["guild_id"]
            payload.update(
                guild_id=str(GUILD_ID), channel_id=str(CHANNEL_ID), guild_locale="en-US",
                channel={"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID),
                         "name": "general"},
                member={"user": author, "roles": [], "joined_at": TIMESTAMP, "deaf": False,
                        "mute": False, "permissions": "0", "flags": 0},
                context=0,
            )  # fmt: skip
        else:
            channel_id = str(self.dm_channel_id(author_id))
            payload.update(
                channel_id=channel_id, user=author, context=1,
                channel={"id": channel_id, "type": 1, "recipients": [author]},
            )  # fmt: skip
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    async def autocomplete(self, name: str, option: str, typed: str, **kwargs: Any) -> str:
        """Deliver the autocomplete interaction (type 4) Discord sends as `option` of
        command `name` is typed; the bot answers with a callback of type 8."""
        original = self.dispatch

        async def as_autocomplete(event: str, data: dict[str, Any]) -> None:
            data["type"] = 4
            data["data"]["options"] = [{"name": option, "type": 3, "value": typed, "focused": True}]
            await original(event, data)

        self.dispatch = as_autocomplete  # type: ignore[method-assign]
        try:
            return await self.command(name, **kwargs)
        finally:
            self.dispatch = original  # type: ignore[method-assign]

    @property
    def commands(self) -> list[dict[str, Any]]:
        """Registered commands, the guild's before the global ones."""
        return [
            c for scope, cs in sorted(self.synced.items(), key=lambda i: i[0] is None) for c in cs
        ]

    def calls_to(self, method: str, fragment: str) -> list[RestCall]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    def sent(self) -> list[RestCall]:
        """Every message the bot posted: channel messages and interaction followups."""
        return [
            c for c in self.calls
            if c.method == "POST" and c.status < 400
            and (c.path.endswith("/messages") or c.path.startswith("webhooks/"))
        ]  # fmt: skip

    def edits(self) -> list[RestCall]:
        """Every message edit (interaction followups and channel messages)."""
        return [c for c in self.calls if c.method == "PATCH" and "/messages/" in c.path]

    def texts(self) -> list[str]:
        return [str(c.body.get("content")) for c in self.sent()]

    async def wait_for(self, count: int, within: float = 15) -> list[RestCall]:
        """Wait until the bot has posted `count` messages in all."""
        deadline = time.monotonic() + within
        async with self._changed:
            while len(self.sent()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} messages, got {self.texts()}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return self.sent()

    async def until(self, condition: Callable[[], bool], within: float = 15) -> bool:
        """Wait until `condition()` holds, checked at each REST call the bot makes; whether
        it did (the caller asserts, so its failure shows what was seen)."""
        deadline = time.monotonic() + within
        async with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def wait_connected(self, within: float = 15) -> None:
        """Wait until the bot has identified on the gateway."""
        identified = await self.until(lambda: None not in (self._socket, self.identify), within)
        assert identified, "the bot never identified"

    # --- the gateway ----------------------------------------------------------------------
    async def _gateway(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}
        )
        try:
            while True:
                frame = await websocket.receive_json()
                if frame["op"] == 1:
                    await websocket.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif frame["op"] == 2:
                    async with self._changed:
                        self.identify = frame["d"]
                        self._socket = websocket
                        self._changed.notify_all()
                    await self._ready()
        except WebSocketDisconnect:
            pass
        finally:
            if self._socket is websocket:
                self._socket = None

    async def _ready(self) -> None:
        url = "ws://placeholder/gateway"
        await self.dispatch("READY", {
            "v": 10, "user": BOT_USER, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": "session-1", "resume_gateway_url": url,
            "shard": (self.identify or {}).get("shard") or [0, 1],
            "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [],
            "relationships": [],
        })  # fmt: skip
        await self.dispatch("GUILD_CREATE", {
            "id": str(GUILD_ID), "name": "Test guild", "owner_id": "1", "icon": None,
            "splash": None, "discovery_splash": None, "afk_channel_id": None, "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "application_id": None,
            "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
            "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
            "preferred_locale": "en-US", "public_updates_channel_id": None, "nsfw_level": 0,
            "premium_progress_bar_enabled": False, "features": [], "emojis": [], "stickers": [],
            "roles": [{"id": str(GUILD_ID), "name": "@everyone", "permissions": "0",
                       "position": 0, "color": 0, "hoist": False, "managed": False,
                       "mentionable": False, "flags": 0}],
            "channels": [{"id": str(CHANNEL_ID), "type": 0, "name": "general", "position": 0,
                          "permission_overwrites": [], "nsfw": False, "parent_id": None}],
            "members": [{"user": BOT_USER, "roles": [], "joined_at": TIMESTAMP, "deaf": False,
                         "flags": 0, "mute": False}],
            "threads": [], "voice_states": [], "presences": [], "stage_instances": [],
            "guild_scheduled_events": [], "member_count": 2, "large": False,
            "unavailable": False, "joined_at": TIMESTAMP,
        })  # fmt: skip

    # --- REST -----------------------------------------------------------------------------
    async def _rest(self, request: Request) -> Response:
        path = request.path_params["path"]
        # Interaction callbacks and followups are authorised by the interaction token instead.
        by_token = path.startswith(("interactions/", "webhooks/"))
        if not by_token and request.headers.get("authorization") != f"Bot {self.token}":
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, 401)
        raw = await request.body()
        body: Any = None
        if raw and request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
        call = RestCall(request.method, path, body, dict(request.query_params))
        if path.endswith("/callback") and self.slow_callbacks:
            self.slow_callbacks -= 1
            await asyncio.sleep(0.5)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        for index, (fragment, status, answer) in enumerate(self.fail_next):
            if fragment in path:
                del self.fail_next[index]
                call.status = status
                # discord.py only trusts a 429 that came through Discord's proxy (a Via header).
                headers = {"X-RateLimit-Scope": "user", "Via": "1.1 google"}
                return JSONResponse(answer, status, headers=headers)
        return self._answer(call)

    def _answer(self, call: RestCall) -> Response:
        method, path, body = call.method, call.path, call.body
        if path == "users/@me" and method == "GET":
            return JSONResponse(BOT_USER)
        if path == "oauth2/applications/@me":
            return JSONResponse({
                "id": str(APP_ID), "name": "chatlink", "icon": None, "description": "",
                "bot_public": True, "bot_require_code_grant": False, "verify_key": "k",
                "owner": user(1, "owner"), "flags": 0, "team": None,
            })  # fmt: skip
        if path == "gateway/bot":
            return JSONResponse(
                {
                    "url": "ws://placeholder",
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 1000,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if (
            path.startswith(f"applications/{APP_ID}/")
            and path.endswith("/commands")
            and method == "PUT"
        ):
            guild_id = path.split("/")[3] if "/guilds/" in path else None
            self.synced[guild_id] = [
                {**c, "id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1",
                 "guild_id": guild_id, "default_member_permissions": None, "type": c.get("type", 1)}
                for c in body
            ]  # fmt: skip
            return JSONResponse(self.synced[guild_id])
        if path.startswith("interactions/") and path.endswith("/callback"):
            ephemeral = bool((body.get("data") or {}).get("flags", 0) & 64)
            return JSONResponse({
                "interaction": {"id": path.split("/")[1], "type": 2,
                                "response_message_loading": body["type"] == 5,
                                "response_message_ephemeral": ephemeral},
            })  # fmt: skip
        if path.startswith("webhooks/") and method == "DELETE":
            return Response(status_code=204)
        if method == "PATCH" and "/messages/" in path:  # an edit of an earlier message
            parts = path.split("/")
            channel_id = parts[1] if path.startswith("channels/") else str(CHANNEL_ID)
            return JSONResponse(self._message_from_bot(channel_id, body or {}) | {"id": parts[-1]})
        if path.startswith("webhooks/") or path.endswith("/messages"):
            channel_id = path.split("/")[1] if path.startswith("channels/") else str(CHANNEL_ID)
            return JSONResponse(self._message_from_bot(channel_id, body or {}))
        if path.endswith("/typing"):
            return Response(status_code=204)
        if path == "users/@me/channels":
            recipient = int(body["recipient_id"])
            return JSONResponse({"id": str(self.dm_channel_id(recipient)), "type": 1,
                                 "recipients": [user(recipient, "someone")]})  # fmt: skip
        if path.startswith("users/"):
            return JSONResponse(user(int(path.split("/")[1]), "someone"))
        return JSONResponse({"message": "404: Not Found", "code": 0}, 404)

    def _message_from_bot(self, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)), "channel_id": channel_id, "author": BOT_USER,
            "content": body.get("content", ""), "timestamp": TIMESTAMP, "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": False, "type": 0,
            "flags": body.get("flags", 0),
        }  # fmt: skip
