"""Web security pieces: API tokens, CSRF tokens, security headers, request size limits."""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.accounts import Account, credential_version
from bot.secret import derive_key

TOKEN_ALGORITHM = "HS256"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)
# Swagger UI starts itself with an inline script.
DOCS_CSP = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")


class TokenError(Exception):
    """The bearer token is missing, forged, expired or outdated."""


class ApiTokens:
    """Bearer tokens (JWT, HS256) naming an account and its credential version."""

    def __init__(self, secret_key: str, lifetime: timedelta) -> None:
        self._key = derive_key(secret_key, "chatlink.api-token")
        self.lifetime = lifetime

    def issue(self, account: Account) -> str:
        """A signed token for `account`, valid for the configured lifetime."""
        now = datetime.now(UTC)
        claims = {
            "sub": str(account.id),
            "ver": credential_version(account),
            "iat": now,
            "exp": now + self.lifetime,
        }
        return jwt.encode(claims, self._key, algorithm=TOKEN_ALGORITHM)

    def read(self, token: str) -> tuple[int, str]:
        """(account id, credential version) from a valid token; TokenError otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[TOKEN_ALGORITHM],
                options={"require": ["sub", "exp", "iat", "ver"]},
            )
            return int(claims["sub"]), str(claims["ver"])
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenError() from exc


def new_csrf_token() -> str:
    """A random per-session token that every form must carry back."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: object, given: object) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if not isinstance(expected, str) or not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class SecurityHeaders:
    """Adds CSP, nosniff, frame and referrer headers to every HTTP response."""

    def __init__(self, app: ASGIApp, docs_paths: tuple[str, ...] = ("/docs",)) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] in self.docs_paths else PAGE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    # /link/<code> must not travel in a Referer header.
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


DRAIN_BYTES = 1 << 20


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413: by Content-Length when given,
    else by reading (and buffering, since it is small) a chunked body before the app runs."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = DRAIN_BYTES + 1
            if declared > self.max_bytes:
                if declared <= DRAIN_BYTES:
                    # Read it first: a client still writing would see a reset, not the 413.
                    await self._drain(receive, 0)
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._drain(receive, len(body))
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, seen: int) -> None:
        # Read a little more of the refused body, so a client still sending gets the 413
        # instead of a reset connection; give up after DRAIN_BYTES.
        while seen < DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            seen += len(message.get("body", b""))

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"Request body too large (limit {self.max_bytes} bytes)."}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def client_address(scope: dict[str, Any] | Scope) -> str:
    """The client's address (uvicorn applies trusted proxy headers before this)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
