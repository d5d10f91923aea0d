"""People talking to the core: private and group messages, and accounts linked to a chat."""

from __future__ import annotations

from bot.app import Chatlink
from bot.messages import IncomingMessage, Platform
from storage import Account
from tests.support.settings import PASSWORD


def dm(
    text: str | None,
    user_id: str = "1001",
    platform: Platform = Platform.TELEGRAM,
    display_name: str = "Alice A.",
) -> IncomingMessage:
    """A private message from one person."""
    return IncomingMessage(
        platform=platform,
        user_id=user_id,
        chat_id=user_id,
        is_private=True,
        text=text,
        display_name=display_name,
    )


def group(
    text: str | None,
    user_id: str = "1001",
    chat_id: str = "-500",
    platform: Platform = Platform.TELEGRAM,
    addressed: bool = True,
    bot_username: str | None = "chatlink_bot",
) -> IncomingMessage:
    """A group message from one person."""
    return IncomingMessage(
        platform=platform,
        user_id=user_id,
        chat_id=chat_id,
        is_private=False,
        text=text,
        display_name="Alice A.",
        addressed=addressed,
        bot_username=bot_username,
    )


async def link_account_first(
    app: Chatlink, username: str, user_id: str = "1001", platform: Platform = Platform.TELEGRAM
) -> Account:
    """Register `username` (if needed) and link a chat identity to it with `/link CODE`."""
    account = await app.accounts.by_username(username)
    if account is None:
        account = await app.accounts.register(username, PASSWORD)
    issued = await app.links.issue_for_account(account.id)
    replies = await app.core.handle(dm(f"/link {issued.code}", user_id, platform))
    assert "Linked" in replies[0].text, replies
    return account
