"""Server-rendered pages: register, log in, link a chat, account, chat."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.datastructures import FormData

from adapters.web.deps import get_chatlink, log_in, log_out, session_account
from adapters.web.errors import status_of
from adapters.web.security import client_address, csrf_matches, new_csrf_token
from bot.accounts import Account
from bot.conversation import export_account
from bot.errors import ChatlinkError, InputRejected, LoginFailed, RateLimited
from bot.rendering import to_html

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

TEMPLATES = Path(__file__).parent / "templates"

pages = APIRouter(include_in_schema=False)


class CsrfFailed(Exception):
    """A form came back without this session's CSRF token."""


class LoginRequired(Exception):
    """A page for logged-in people was asked for without a session."""


def templates(request: Request) -> Jinja2Templates:
    """The page templates (autoescaped), loaded at the first page: Jinja is not imported
    before a page is asked for, so the API and /healthz answer sooner after a start."""
    found: Jinja2Templates | None = getattr(request.app.state, "templates", None)
    if found is None:
        from fastapi.templating import Jinja2Templates

        found = request.app.state.templates = Jinja2Templates(directory=TEMPLATES)
    return found


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the session's CSRF token and any one-time notice."""
    csrf = request.session.get("csrf")
    if not isinstance(csrf, str):
        csrf = request.session["csrf"] = new_csrf_token()
    context.setdefault("account", None)
    notice = request.session.pop("notice", None)
    rich = bool(request.session.pop("notice_markdown", False)) and isinstance(notice, str)
    if rich:
        notice = Markup(to_html(notice))  # /help on the no-JavaScript chat: one HTML path
    context.update(
        csrf=csrf,
        notice=notice,
        notice_rich=rich,
        registration=get_chatlink(request).settings.registration,
    )
    return templates(request).TemplateResponse(request, name, context, status_code=status)


def redirect(
    path: str, notice: str | None = None, request: Request | None = None, *, markdown: bool = False
) -> Response:
    """303 to `path` (so a reload never re-posts), optionally with a one-time notice (in
    Markdown, rendered, when `markdown`)."""
    if notice and request is not None:
        request.session["notice"] = notice
        if markdown:
            request.session["notice_markdown"] = True
    return RedirectResponse(path, status_code=303)


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's."""
    form = await request.form()
    if not csrf_matches(request.session.get("csrf"), form.get("csrf_token")):
        raise CsrfFailed()
    return form


def field(form: FormData, name: str) -> str:
    """A text field of the form ('' when missing or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def safe_next(target: str | None) -> str:
    """Only same-site relative paths may be redirected to."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/chat"


@pages.get("/")
async def home(request: Request) -> Response:
    account = await session_account(request)
    if account is not None:
        return redirect("/chat")
    return render(request, "home.html")


@pages.get("/register")
async def register_form(request: Request) -> Response:
    return render(request, "register.html")


@pages.post("/register")
async def register(request: Request) -> Response:
    form = await checked_form(request)
    username = field(form, "username")
    try:
        if field(form, "password") != field(form, "password_repeat"):
            raise InputRejected("The two passwords do not match.")
        account = await get_chatlink(request).accounts.register(
            username,
            field(form, "password"),
            client=client_address(request.scope),
            invite=field(form, "invite") or None,
        )
    except ChatlinkError as error:
        return render(
            request, "register.html", status_of(error), error=str(error), username=username
        )
    await log_in(request, account)
    return redirect("/chat", f"Welcome, {account.username}!", request)


@pages.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=safe_next(next))


@pages.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    username, target = field(form, "username"), safe_next(field(form, "next"))
    try:
        account = await get_chatlink(request).accounts.authenticate(
            username, field(form, "password"), client=client_address(request.scope)
        )
    except ChatlinkError as error:
        return render(
            request, "login.html", status_of(error), error=str(error), username=username,
            next=target,
        )  # fmt: skip
    await log_in(request, account)
    return redirect(target)


@pages.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    await log_out(request)
    return redirect("/", "You are logged out.", request)


@pages.post("/account/logout-everywhere")
async def logout_everywhere(request: Request) -> Response:
    """End every web session of the account, this one included."""
    await checked_form(request)
    account = await require_account(request)
    await log_out(request, everywhere=account)
    return redirect("/", "You are logged out on every device.", request)


@pages.get("/link/{code}")
async def link_form(request: Request, code: str) -> Response:
    chatlink = get_chatlink(request)
    account = await session_account(request)
    try:
        asking = await chatlink.links.describe_chat_request(
            code, client=client_address(request.scope)
        )
    except ChatlinkError as error:
        return render(request, "link.html", status_of(error), account=account, error=str(error))
    return render(request, "link.html", account=account, code=code, asking=asking)


@pages.post("/link/{code}")
async def link(request: Request, code: str) -> Response:
    form = await checked_form(request)
    chatlink = get_chatlink(request)
    account = await session_account(request)
    action, username = field(form, "action"), field(form, "username")
    client = client_address(request.scope)
    try:
        if action == "confirm" and account is not None:
            # Asking for the password again: a link sent by someone else is not one click away.
            done = await chatlink.links.complete_with_login(
                code, account.username, field(form, "password"), client=client
            )
        elif action == "login":
            done = await chatlink.links.complete_with_login(
                code, username, field(form, "password"), client=client
            )
        elif action == "register":
            if field(form, "password") != field(form, "password_repeat"):
                raise InputRejected("The two passwords do not match.")
            done = await chatlink.links.complete_with_registration(
                code, username, field(form, "password"), client=client,
                invite=field(form, "invite") or None,
            )  # fmt: skip
        else:
            raise InputRejected("Choose to log in, register or confirm.")
    except ChatlinkError as error:
        asking = None
        if not isinstance(error, RateLimited):  # the try just made is counted already
            with contextlib.suppress(ChatlinkError):
                asking = await chatlink.links.describe_chat_request(code)
        return render(
            request, "link.html", status_of(error), account=account, code=code, asking=asking,
            error=str(error), username=username, tab=action,
        )  # fmt: skip
    await log_in(request, done.account)
    notice = f"Your {done.identity.platform} chat is now linked to {done.account.username}."
    return redirect("/account", notice, request)


async def require_account(request: Request) -> Account:
    """The logged-in account; LoginRequired (a redirect to the login page) otherwise."""
    account = await session_account(request)
    if account is None:
        raise LoginRequired()
    return account


@pages.get("/account")
async def account_page(request: Request) -> Response:
    account = await require_account(request)
    return await _account_view(request, account)


async def _account_view(
    request: Request, account: Account, issued: dict[str, str | None] | None = None
) -> Response:
    chatlink = get_chatlink(request)
    identities = await chatlink.accounts.identities_of(account.id)
    response = render(
        request, "account.html", account=account, identities=identities, issued=issued,
        stored=await chatlink.core.memory.count(account.id),
        pending_codes=await chatlink.links.pending_for_account(account.id),
    )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/account/link-code")
async def make_link_code(request: Request) -> Response:
    await checked_form(request)
    account = await require_account(request)
    chatlink = get_chatlink(request)
    try:
        issued = await chatlink.links.issue_for_account(account.id)
    except ChatlinkError as error:
        return redirect("/account", str(error), request)
    # Shown in this response only (never stored in the cookie, never cached).
    return await _account_view(
        request,
        account,
        {
            "code": issued.code,
            "expires_at": f"{issued.expires_at:%Y-%m-%d %H:%M} UTC",
            "deep_link": chatlink.links.telegram_deep_link(issued.code),
        },
    )


@pages.post("/account/link-codes/void")
async def void_link_codes(request: Request) -> Response:
    """Void the account's unused link codes (after the page's confirmation)."""
    await checked_form(request)
    account = await require_account(request)
    voided = await get_chatlink(request).links.void_for_account(account.id)
    notice = (
        f"Voided {voided} unused link code{'s' if voided != 1 else ''}: they can link no chat."
        if voided
        else "You had no unused link codes."
    )
    return redirect("/account", notice, request)


@pages.post("/account/identities/{platform}/unlink")
async def unlink(request: Request, platform: str) -> Response:
    await checked_form(request)
    account = await require_account(request)
    removed = await get_chatlink(request).accounts.unlink_platform(account.id, platform)
    notice = f"Your {platform} chat is unlinked." if removed else "That chat was not linked."
    return redirect("/account", notice, request)


@pages.post("/account/password")
async def change_password(request: Request) -> Response:
    form = await checked_form(request)
    account = await require_account(request)
    if field(form, "new_password") != field(form, "new_password_repeat"):
        return redirect("/account", "The two new passwords do not match.", request)
    try:
        updated = await get_chatlink(request).accounts.change_password(
            account,
            field(form, "current_password"),
            field(form, "new_password"),
            client=client_address(request.scope),
        )
    except LoginFailed:
        return redirect("/account", "The current password is wrong.", request)
    except ChatlinkError as error:
        return redirect("/account", str(error), request)
    # Other sessions end here (and API tokens with the old password).
    await get_chatlink(request).sessions.end_all(account.id)
    await log_in(request, updated)
    return redirect("/account", "Password changed. Other sessions are logged out.", request)


@pages.post("/account/delete")
async def delete_account(request: Request) -> Response:
    """Delete the logged-in account for good, after its password."""
    form = await checked_form(request)
    account = await require_account(request)
    chatlink = get_chatlink(request)
    try:
        await chatlink.accounts.delete_own(
            account,
            field(form, "password"),
            forget=chatlink.core.memory.forget,
            client=client_address(request.scope),
        )
    except LoginFailed:
        return redirect("/account", "The password is wrong: the account was not deleted.", request)
    except ChatlinkError as error:
        return redirect("/account", str(error), request)
    request.session.clear()
    return redirect("/", "Your account and everything in it are deleted.", request)


@pages.get("/account/export")
async def export(request: Request) -> Response:
    account = await require_account(request)
    chatlink = get_chatlink(request)
    data = await export_account(account, chatlink.accounts, chatlink.core.memory)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="chatlink-{account.username}.json"',
            "Cache-Control": "no-store",
        },
    )


@pages.post("/account/history/delete")
async def delete_history(request: Request) -> Response:
    await checked_form(request)
    account = await require_account(request)
    removed = await get_chatlink(request).core.memory.forget(account.id)
    return redirect("/account", f"Deleted {removed} messages.", request)
