"""The chat page's settings panel: the private thread's model, persona and system prompt,
as a plain form (no JavaScript) posted to /chat/settings, and a Stop button (/chat/stop)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.web.deps import get_chatlink
from adapters.web.pages import checked_form, field, redirect, require_account
from bot.accounts import Account
from bot.app import Chatlink
from bot.conversation import PRIVATE_THREAD
from bot.errors import ChatlinkError
from bot.providers import OFF

settings_panel = APIRouter(include_in_schema=False)
SAVED = "Settings saved: they apply to your private chats on every platform."
STOPPING = "Stopping that reply: nothing of it is kept."
NOTHING_TO_STOP = "Nothing is being written right now."


async def panel_context(chatlink: Chatlink, account: Account) -> dict[str, Any]:
    """What `_settings_panel.html` shows: the choices and what is in force now."""
    controls = chatlink.core.controls
    current = await controls.current(account, PRIVATE_THREAD)
    return {
        "panel_models": controls.models(account),
        "panel_personas": controls.personas(),
        "panel_current": current,
        "panel_prompt_max": controls.system_prompt_max_chars,
    }


@settings_panel.post("/chat/settings")
async def save_settings(request: Request) -> Response:
    """Apply the panel's three fields together; a bad one is named and nothing changes."""
    form = await checked_form(request)
    account = await require_account(request)
    try:
        await get_chatlink(request).core.controls.change(
            account,
            PRIVATE_THREAD,
            model=field(form, "model"),
            persona=field(form, "persona") or OFF,
            system_prompt=field(form, "system_prompt"),
        )
    except ChatlinkError as error:
        return redirect("/chat", str(error), request)
    return redirect("/chat", SAVED, request)


@settings_panel.post("/chat/stop")
async def stop_reply(request: Request) -> Response:
    """The Stop button: close the reply being written in the private thread (any door)."""
    await checked_form(request)
    account = await require_account(request)
    stopped = await get_chatlink(request).core.controls.stop(account, PRIVATE_THREAD)
    return redirect("/chat", STOPPING if stopped else NOTHING_TO_STOP, request)
