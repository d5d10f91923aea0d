"""What linking says: its refusals, worded for the person, and the confirmation in the chat."""

from __future__ import annotations

from bot.errors import AlreadyLinked, CodeWrongDirection, PlatformTaken, TooManyCodes
from bot.linking.codec import Purpose


def already_linked(owner_id: int, wanted_id: int | None) -> AlreadyLinked:
    """The identity is linked already: to the account asking (`wanted_id`) or another one."""
    if owner_id == wanted_id:
        return AlreadyLinked("This chat is already linked to that account.")
    return AlreadyLinked(
        "This chat is linked to another account. Send /unlink in it first, then link again."
    )


def platform_taken(platform: str) -> PlatformTaken:
    """The account holds an identity on `platform` already."""
    return PlatformTaken(
        f"That account already has a {platform} chat linked. Unlink it first "
        "(/unlink from that chat, or on the web page)."
    )


def too_many_codes(pending: int, wait_s: float) -> TooManyCodes:
    """`pending` codes are unused; the oldest ends in `wait_s` seconds."""
    minutes = max(1, round(wait_s / 60))
    return TooManyCodes(
        f"You already have {pending} unused link codes. Use one of them, or "
        f"ask again in {minutes} minute{'s' if minutes != 1 else ''}.",
        retry_after_s=wait_s,
    )


def wrong_direction(purpose: Purpose, web_url: str) -> CodeWrongDirection:
    """A code of `purpose` used the other way; `web_url` is where a chat-first one finishes."""
    if purpose is Purpose.CHAT_FIRST:
        return CodeWrongDirection("That code finishes on the web page: open " + web_url)
    return CodeWrongDirection(
        "That code is for a chat: send /link followed by the code to the bot."
    )


def linked_in_chat(username: str) -> str:
    """Sent to a chat once the web page linked it."""
    return (
        f"This chat is now linked to account {username}. Just write to me; "
        "I remember our conversation across your linked chats."
    )
