"""The FastAPI application of the web door: middleware, routers, error pages, docs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from adapters.web.admin import AdminOnly, admin
from adapters.web.api import api, health
from adapters.web.chat_page import chat
from adapters.web.controls_api import controls_api
from adapters.web.deps import viewer
from adapters.web.errors import headers_of, status_of
from adapters.web.failsafe import Failsafe
from adapters.web.live import live
from adapters.web.media_api import UPLOAD_PATHS, media_api, upload_max_bytes
from adapters.web.pages import CsrfFailed, LoginRequired, pages, redirect, render
from adapters.web.security import (
    ApiTokens,
    BodyLimit,
    ForwardedFor,
    HeaderLimit,
    SecurityHeaders,
)
from adapters.web.webhooks import webhooks
from bot.app import Chatlink
from bot.delivery import WebhookReceiver
from bot.errors import ChatlinkError
from bot.secret import derive_key

HERE = Path(__file__).parent


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api", "/telegram/")) or path == "/healthz"


def _describe(error: RequestValidationError) -> str:
    # Never echo the offending input: it may be a password.
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


def create_app(
    chatlink: Chatlink, secret_key: str, receivers: Sequence[WebhookReceiver] = ()
) -> FastAPI:
    """The web page and HTTP API around an assembled core, plus a route for each receiver of
    pushed updates (the Telegram webhook)."""
    settings = chatlink.settings
    app = FastAPI(
        title="chatlink",
        summary="Accounts, link codes and chat over HTTP and WebSocket.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )
    app.state.chatlink = chatlink
    app.state.tokens = ApiTokens(secret_key, timedelta(minutes=settings.token_expire_minutes))

    # First: FastAPI prepares an included router's routes when a request first passes
    # through it, so /healthz after a start prepares its own two, not the whole API's.
    app.include_router(health)
    app.include_router(api)
    app.include_router(media_api)
    app.include_router(controls_api)
    app.include_router(live)
    app.include_router(pages)
    app.include_router(chat)
    app.include_router(admin)
    app.include_router(webhooks(receivers))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    docs_assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-static", StaticFiles(directory=docs_assets), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="chatlink API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon.png",
        )

    @app.exception_handler(ChatlinkError)
    async def chatlink_error(request: Request, error: ChatlinkError) -> Response:
        status = status_of(error)
        if _wants_json(request):
            return JSONResponse({"detail": str(error)}, status, headers=headers_of(error))
        return render(
            request, "error.html", status, account=await viewer(request), error=str(error)
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": _describe(error)}, 422)
        return render(
            request, "error.html", 422, account=await viewer(request),
            error="That request was not understood.",
        )  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": str(error.detail)}, error.status_code, headers=error.headers
            )
        text = "Page not found." if error.status_code == 404 else str(error.detail)
        account = await viewer(request)
        return render(request, "error.html", error.status_code, account=account, error=text)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, error: LoginRequired) -> Response:
        return redirect(f"/login?next={request.url.path}")

    @app.exception_handler(AdminOnly)
    async def admin_only(request: Request, error: AdminOnly) -> Response:
        return render(request, "error.html", 403, account=error.account, error="Admins only.")

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, error: CsrfFailed) -> Response:
        return render(
            request, "error.html", 403, account=await viewer(request),
            error="This form has expired or came from another site. Reload the page and try again.",
        )  # fmt: skip

    # Innermost, so that the error page it renders has the session.
    app.add_middleware(Failsafe)
    app.add_middleware(
        SessionMiddleware,
        secret_key=derive_key(secret_key, "chatlink.web-session"),
        session_cookie="chatlink_session",
        # The cookie only carries the session; the server decides when it ends
        # (adapters.web.deps.session_account).
        max_age=settings.session_absolute_days * 24 * 3600,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_request_bytes,
        upload_paths=UPLOAD_PATHS,
        upload_max_bytes=upload_max_bytes(settings.max_attachment_mb),
    )
    # Only our own names in Host: a page on a rebinding domain cannot drive this server,
    # and redirects built from Host (the trailing slash) point nowhere else.
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts(), www_redirect=False
    )
    app.add_middleware(SecurityHeaders, hsts=settings.public_url.startswith("https://"))
    # Outermost: the client address every limit and log line uses is settled first.
    app.add_middleware(ForwardedFor, trusted=settings.forwarded_allow_ips)
    app.add_middleware(HeaderLimit, max_bytes=settings.web_max_header_bytes)
    return app
