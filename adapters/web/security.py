"""Web security pieces: API tokens, CSRF tokens, security headers, request size limits."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.accounts import credential_version
from storage import Account

TOKEN_ALGORITHM = "HS256"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)
# Swagger UI starts itself with an inline script.
DOCS_CSP = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")


def derive_key(secret_key: str, purpose: str) -> str:
    """A key for one purpose, so a token of one kind can never pass as another."""
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


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


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, by header or by counting."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(send)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

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
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def client_address(scope: dict[str, Any] | Scope) -> str:
    """The client's address (uvicorn applies trusted proxy headers before this)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
