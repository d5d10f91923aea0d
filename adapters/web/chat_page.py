"""The chat page (/chat): the private thread with its history (older pages come from
GET /api/history, which takes the page's session cookie), the form that works without
JavaScript, and the settings panel: the thread's model, persona and system prompt as a plain
form posted to /chat/settings, and a Stop button (/chat/stop)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from adapters.web.api import web_message
from adapters.web.deps import get_chatlink
from adapters.web.pages import checked_form, field, redirect, render, require_account
from bot.accounts import Account
from bot.app import Chatlink
from bot.conversation import PRIVATE_THREAD
from bot.errors import ChatlinkError
from bot.messages import ReplyKind
from bot.providers import OFF
from bot.rendering import to_html

chat = APIRouter(include_in_schema=False)
HISTORY_ON_PAGE = 50
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


@chat.post("/chat/settings")
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


@chat.post("/chat/stop")
async def stop_reply(request: Request) -> Response:
    """The Stop button: close the reply being written in the private thread (any door)."""
    await checked_form(request)
    account = await require_account(request)
    stopped = await get_chatlink(request).core.controls.stop(account, PRIVATE_THREAD)
    return redirect("/chat", STOPPING if stopped else NOTHING_TO_STOP, request)


@chat.get("/chat")
async def chat_page(request: Request) -> Response:
    account = await require_account(request)
    chatlink = get_chatlink(request)
    history = await chatlink.core.memory.page(account.id, PRIVATE_THREAD, HISTORY_ON_PAGE)
    panel = await panel_context(chatlink, account)
    # The model's replies as the live reply shows them: one sanitising path (bot.rendering).
    shown = [(m, Markup(to_html(m.content)) if m.role == "assistant" else None) for m in history]
    return render(
        request,
        "chat.html",
        account=account,
        history=shown,
        older=history[0].id if len(history) == HISTORY_ON_PAGE else None,
        page_size=HISTORY_ON_PAGE,
        max_chars=chatlink.settings.max_message_chars,
        max_file_bytes=int(chatlink.settings.max_attachment_mb * 1024 * 1024),
        **panel,
    )


@chat.post("/chat")
async def chat_post(request: Request) -> Response:
    """The no-JavaScript way to chat: post the form, get the page back with the reply."""
    form = await checked_form(request)
    account = await require_account(request)
    replies = await get_chatlink(request).core.handle(
        web_message(account, field(form, "message")), account=account
    )
    # Model replies are in the history shown; anything else (refusals, command answers) is not.
    notices = [r for r in replies if r.kind is not ReplyKind.MODEL]
    notice = "\n\n".join(r.text for r in notices) or None
    return redirect("/chat", notice, request, markdown=any(r.is_markdown for r in notices))
