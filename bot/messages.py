"""What goes into the core and what comes out: platform-neutral, frozen values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.errors import ChatlinkError


class AttachmentKind(StrEnum):
    """What a door says a file is; the core checks the bytes before believing it."""

    IMAGE = "image"
    AUDIO = "audio"  # a voice note or an audio file
    DOCUMENT = "document"  # anything else: text, source code, PDF ...


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file that came with a message, already downloaded within MAX_ATTACHMENT_MB.

    `name` and `claimed_type` are what the platform or the browser said (never trusted:
    the core reads the bytes); `duration_s` is the platform's length of a voice note.
    """

    kind: AttachmentKind
    name: str
    claimed_type: str
    data: bytes = field(repr=False)
    duration_s: float | None = None


class Platform(StrEnum):
    """The doors a message can come through."""

    TELEGRAM = "telegram"
    DISCORD = "discord"
    WEB = "web"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message from a person, as an adapter translated it.

    `text` is None for a message with no text (a sticker, or a photo without a caption);
    files that came with it are in `attachments`. `addressed` says the
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
    attachments: tuple[Attachment, ...] = ()  # images, voice notes, documents, in order


class ReplyKind(StrEnum):
    """Why a reply was made, so adapters can render it (for example, as an error)."""

    INFO = "info"
    MODEL = "model"
    REJECTED = "rejected"  # refused (bad input, limits, codes): `Reply.refusal` says why
    ERROR = "error"  # something failed on our side (the model is down); the person may retry


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer. `private` replies must not be shown to a group (ephemeral or DM);
    `open_private` asks the adapter to offer a way into a private chat with the bot.

    A refusal carries its error in `refusal` (and is of kind REJECTED): chat doors show the
    text, the web door answers the error's own status (429 with Retry-After, 403, 409...).
    """

    text: str
    private: bool = False
    kind: ReplyKind = ReplyKind.INFO
    open_private: bool = False
    refusal: ChatlinkError | None = None
    # Commands the person may pick next ("/model large"): doors may offer them as buttons.
    choices: tuple[str, ...] = ()
    # Written in Markdown for the doors to render (/help); a model's reply always is.
    markdown: bool = False

    @property
    def is_markdown(self) -> bool:
        """Whether doors render the text as Markdown (bot.rendering) rather than as written."""
        return self.markdown or self.kind is ReplyKind.MODEL

    def __post_init__(self) -> None:
        # One channel: a refusal without its error would leave the web door guessing.
        if (self.kind is ReplyKind.REJECTED) != (self.refusal is not None):
            raise ValueError("a REJECTED reply carries its refusal, and only it does")

    @classmethod
    def refused(cls, error: ChatlinkError, *, private: bool = False) -> Reply:
        """The answer to a refused message: the error's text, and the error itself."""
        return cls(str(error), private=private, kind=ReplyKind.REJECTED, refusal=error)


# Called with the reply text so far while a model reply streams in.
ProgressCallback = Callable[[str], Awaitable[None]]
