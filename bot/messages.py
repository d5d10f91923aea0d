"""What goes into the core and what comes out: platform-neutral, frozen values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum


class Platform(StrEnum):
    """The doors a message can come through."""

    TELEGRAM = "telegram"
    DISCORD = "discord"
    WEB = "web"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message from a person, as an adapter translated it.

    `text` is None for a non-text message (sticker, photo, voice). `addressed` says the
    bot was spoken to (mention, reply to the bot, or a command); private chats always are.
    `bot_username` lets `/cmd@name` addressed to another bot be told apart. On the web
    door the sender is already logged in, and `user_id` is the account id.
    """

    platform: Platform
    user_id: str
    chat_id: str
    is_private: bool
    text: str | None
    display_name: str = ""
    addressed: bool = True
    bot_username: str | None = None
    group_id: str | None = None  # the Telegram group or Discord server it came from, if any


class ReplyKind(StrEnum):
    """Why a reply was made, so adapters can render it (for example, as an error)."""

    INFO = "info"
    MODEL = "model"
    REJECTED = "rejected"  # the request was refused (bad input, limits, codes); nothing stored
    ERROR = "error"  # something failed on our side (the model is down); the person may retry


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer. `private` replies must not be shown to a group (ephemeral or DM);
    `open_private` asks the adapter to offer a way into a private chat with the bot."""

    text: str
    private: bool = False
    kind: ReplyKind = ReplyKind.INFO
    open_private: bool = False


# Called with the reply text so far while a model reply streams in.
ProgressCallback = Callable[[str], Awaitable[None]]
