"""Web security pieces: API tokens, CSRF tokens, security headers, request size limits."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.accounts import Account, credential_version
from bot.secret import derive_key

TOKEN_ALGORITHM = "HS256"
# Tokens remembered once verified (about 0.35 KB each): the 50 clients of benchmarks/
# web_tutorial.py spent some 6% of the web door's CPU decoding the same few tokens again.
VERIFIED_TOKENS = 10_000

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

    def __init__(
        self,
        secret_key: str,
        lifetime: timedelta,
        *,
        remembered: int = VERIFIED_TOKENS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = derive_key(secret_key, "chatlink.api-token")
        self.lifetime = lifetime
        self.remembered = remembered
        self.clock = clock
        # token -> (its expiry, account id, credential version): each checked once
        self._verified: OrderedDict[str, tuple[float, int, str]] = OrderedDict()

    def issue(self, account: Account) -> str:
        """A signed token for `account`, valid for the configured lifetime."""
        import jwt  # PyJWT and cryptography behind it: imported at the first token, not at start

        now = datetime.now(UTC)
        claims = {
            "sub": str(account.id),
            "ver": credential_version(account),
            "iat": now,
            "exp": now + self.lifetime,
        }
        return jwt.encode(claims, self._key, algorithm=TOKEN_ALGORITHM)

    def read(self, token: str) -> tuple[int, str]:
        """(account id, credential version) from a valid token; TokenError otherwise.

        A token's signature is checked once; until it expires, the same string is known good.
        The caller still compares the version with the account's (a password change or a
        disable ends every token at once)."""
        known = self._verified.get(token)
        if known is not None:
            expires, account_id, version = known
            if self.clock() < expires:
                return account_id, version
            del self._verified[token]
            raise TokenError()
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[TOKEN_ALGORITHM],
                options={"require": ["sub", "exp", "iat", "ver"]},
            )
            account_id, version, expires = int(claims["sub"]), str(claims["ver"]), claims["exp"]
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenError() from exc
        if self.remembered > 0 and isinstance(expires, int | float):
            self._verified[token] = (float(expires), account_id, version)
            if len(self._verified) > self.remembered:
                self._verified.popitem(last=False)  # the longest remembered goes first
        return account_id, version


def new_csrf_token() -> str:
    """A random per-session token that every form must carry back."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: object, given: object) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if not isinstance(expected, str) or not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


HSTS = b"max-age=31536000"
# Static files may be cached; every other answer may carry a session, a token or a code.
CACHEABLE = ("/static/", "/docs-static/")


class SecurityHeaders:
    """Adds CSP, nosniff, frame and referrer headers to every HTTP response; `no-store`
    unless the response is a static file or says otherwise; HSTS when served over https."""

    def __init__(
        self, app: ASGIApp, docs_paths: tuple[str, ...] = ("/docs",), *, hsts: bool = False
    ) -> None:
        self.app = app
        self.docs_paths = docs_paths
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] in self.docs_paths else PAGE_CSP
        cacheable = str(scope["path"]).startswith(CACHEABLE)

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
                if not cacheable and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


DRAIN_BYTES = 1 << 20
DRAIN_S = 2.0  # how long a refused body is read on before the 413 goes out anyway


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413: by Content-Length when given,
    else by reading (and buffering) a chunked body before the app runs.

    A multipart POST to one of `upload_paths` (files: MAX_ATTACHMENT_MB) may be up to
    `upload_max_bytes` instead; every other request keeps MAX_REQUEST_BYTES."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload_paths: tuple[str, ...] = (),
        upload_max_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_paths = upload_paths
        self.upload_max_bytes = upload_max_bytes

    def limit(self, scope: Scope) -> int:
        """The bound of this request's body."""
        if scope.get("method") == "POST" and scope["path"] in self.upload_paths:
            kind = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
            if kind.lower().startswith(b"multipart/form-data"):
                return max(self.max_bytes, self.upload_max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        # A little over a large bound is read on too, so that a file just too big is told so.
        drain = DRAIN_BYTES if limit == self.max_bytes else limit + DRAIN_BYTES
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = DRAIN_BYTES + 1
            if declared > limit:
                if declared <= drain:
                    # Read it first: a client still writing would see a reset, not the 413.
                    await self._drain(receive, 0, drain)
                await self._refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                if more:  # else the whole body is in: nothing is left to drain
                    await self._drain(receive, len(body), drain)
                await self._refuse(send, limit)
                return
            if not more:
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, seen: int, most: int = DRAIN_BYTES) -> None:
        # Read a little more of the refused body, so a client still sending gets the 413
        # instead of a reset connection; give up after DRAIN_BYTES or DRAIN_S, so a client
        # that stops sending holds neither the request nor a shutdown.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_S):
                while seen < most:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        return
                    seen += len(message.get("body", b""))

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps({"detail": f"Request body too large (limit {limit} bytes)."}).encode()
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


def _forwarded_addresses_valid(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name != b"x-forwarded-for":
            continue
        for item in value.decode("latin1").split(","):
            host = item.strip()
            if host.startswith("[") and "]" in host:  # [v6]:port
                host = host[1 : host.index("]")]
            elif host.count(":") == 1:  # v4:port
                host = host.split(":")[0]
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return False
    return True


class ForwardedFor:
    """X-Forwarded-For/-Proto believed only from FORWARDED_ALLOW_IPS (uvicorn's middleware
    does the rest), and only when every address in it is an IP address: anything else is
    refused with 400 before it can reach a limit's key or the access log."""

    def __init__(self, app: ASGIApp, trusted: list[str]) -> None:
        self.app = app
        self.trusted = trusted
        self.proxied = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.trusted:
            await self.app(scope, receive, send)
            return
        peer = client_address(scope)
        if peer in self.proxied.trusted_hosts and not _forwarded_addresses_valid(
            scope.get("headers", [])
        ):
            await _bad_request(scope, send, "X-Forwarded-For must hold IP addresses only.")
            return
        await self.proxied(scope, receive, send)  # type: ignore[arg-type]


class HeaderLimit:
    """Refuses a request whose headers add up to more than `max_bytes` (431).

    The protocol's bound (adapters.web.connections) applies only while a head is still
    arriving: a large head that came in one read slips past it, so the total is checked here
    too."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            size = sum(len(k) + len(v) + 4 for k, v in scope.get("headers", []))
            if size > self.max_bytes:
                await _bad_request(scope, send, "Request headers too large.", status=431)
                return
        await self.app(scope, receive, send)


async def _bad_request(scope: Scope, send: Send, detail: str, status: int = 400) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": detail})
        return
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
