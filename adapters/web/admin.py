"""The admin page: accounts, invites, link codes and the audit log (admins only)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.web.deps import get_chatlink
from adapters.web.pages import checked_form, field, redirect, render, require_account
from bot.accounts import Account
from bot.errors import ChatlinkError, InputRejected
from bot.operations import parse_duration

admin = APIRouter(prefix="/admin", include_in_schema=False)


class AdminOnly(Exception):
    """A logged-in account that is not an admin asked for an admin page."""

    def __init__(self, account: Account) -> None:
        super().__init__(account.username)
        self.account = account


async def require_admin(request: Request) -> Account:
    """The logged-in admin; LoginRequired or AdminOnly otherwise."""
    account = await require_account(request)
    if not account.is_admin:
        raise AdminOnly(account)
    return account


async def _page(
    request: Request,
    account: Account,
    new_invite: dict[str, object] | None = None,
    new_password: dict[str, str] | None = None,
) -> Response:
    chatlink = get_chatlink(request)
    response = render(
        request, "admin.html", account=account, rows=await chatlink.admin.overview(),
        invites=await chatlink.admin.all_invites(), audit=await chatlink.admin.audit_log(),
        new_invite=new_invite, new_password=new_password,
    )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


@admin.get("")
async def overview(request: Request) -> Response:
    account = await require_admin(request)
    return await _page(request, account)


async def _act(request: Request, action: str, **args: str) -> Response:
    form = await checked_form(request)
    account = await require_admin(request)
    service = get_chatlink(request).admin
    actor = account.username
    try:
        if action == "disable" or action == "enable":
            await service.set_disabled(actor, args["username"], action == "disable", by=account)
            notice = f"{args['username']}: {action}d."
        elif action == "promote" or action == "demote":
            _, changed = await service.set_admin(
                actor, args["username"], action == "promote", by=account
            )
            state = "an admin" if action == "promote" else "no admin"
            notice = f"{args['username']}: {'now' if changed else 'already'} {state}."
        elif action == "reset-password":
            # A temporary password shown once on this response: it travels no e-mail and
            # no chat, and the new hash ends every session and token the account had.
            password = secrets.token_urlsafe(12)
            target = await service.reset_password(actor, args["username"], password)
            return await _page(
                request, account, new_password={"username": target.username, "password": password}
            )
        elif action == "unlink":
            await service.unlink(actor, args["username"], args["platform"])
            notice = f"{args['username']}: {args['platform']} chat unlinked."
        elif action == "revoke-invite":
            await service.revoke_invite(actor, int(args["invite_id"]))
            notice = f"Invite {args['invite_id']} revoked."
        elif action == "revoke-codes":
            notice = f"{await service.revoke_link_codes(actor)} link code(s) voided."
        else:  # create-invite: the code is shown in this response only
            try:
                uses = int(field(form, "uses") or "1")
            except ValueError:
                raise InputRejected("Uses must be a number.") from None
            code, invite = await service.create_invite(
                actor, uses, parse_duration(field(form, "expires") or "7d")
            )
            return await _page(request, account, new_invite={"code": code, "id": invite.id})
    except ChatlinkError as error:
        notice = str(error)
    return redirect("/admin", notice, request)


@admin.post("/accounts/{username}/disable")
async def disable(request: Request, username: str) -> Response:
    return await _act(request, "disable", username=username)


@admin.post("/accounts/{username}/enable")
async def enable(request: Request, username: str) -> Response:
    return await _act(request, "enable", username=username)


@admin.post("/accounts/{username}/promote")
async def promote(request: Request, username: str) -> Response:
    return await _act(request, "promote", username=username)


@admin.post("/accounts/{username}/demote")
async def demote(request: Request, username: str) -> Response:
    return await _act(request, "demote", username=username)


@admin.post("/accounts/{username}/reset-password")
async def reset_password(request: Request, username: str) -> Response:
    return await _act(request, "reset-password", username=username)


@admin.post("/accounts/{username}/unlink/{platform}")
async def unlink(request: Request, username: str, platform: str) -> Response:
    return await _act(request, "unlink", username=username, platform=platform)


@admin.post("/invites")
async def create_invite(request: Request) -> Response:
    return await _act(request, "create-invite")


@admin.post("/invites/{invite_id}/revoke")
async def revoke_invite(request: Request, invite_id: int) -> Response:
    return await _act(request, "revoke-invite", invite_id=str(invite_id))


@admin.post("/link-codes/revoke")
async def revoke_link_codes(request: Request) -> Response:
    return await _act(request, "revoke-codes")
