"""Rendered replies to Bot API calls: text with `entities`, and plain text when refused."""

from __future__ import annotations

import logging

from telegram import MessageEntity

from bot.delivery import split_text, utf16_length
from bot.messages import Reply
from bot.rendering import Formatted, telegram_messages

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096


def reply_parts(reply: Reply) -> list[Formatted]:
    """A reply as Telegram messages: Markdown (the model's, /help) rendered, notices as
    written."""
    if reply.is_markdown:
        return message_parts(reply.text)
    return [Formatted(part) for part in split_text(reply.text, MESSAGE_LIMIT, utf16_length)]


def message_parts(markdown: str) -> list[Formatted]:
    """Finished Markdown as Telegram messages."""
    return telegram_messages(markdown, MESSAGE_LIMIT)


def draft_parts(markdown: str) -> list[Formatted]:
    """Markdown still streaming: a code fence not closed yet is shown as plain text."""
    return telegram_messages(markdown, MESSAGE_LIMIT, draft=True)


def entities(part: Formatted) -> list[MessageEntity] | None:
    """The part's entities as PTB objects (None when there are none)."""
    if not part.entities:
        return None
    return [
        MessageEntity(e.type, e.offset, e.length, url=e.url, language=e.language)
        for e in part.entities
    ]


def refused_entities(message: str) -> bool:
    """Whether a BadRequest says the entities were refused (then the text goes out plain)."""
    refused = "can't parse entities" in message.lower() or "entity" in message.lower()
    if refused:
        log.warning("telegram: formatting refused (%s); sending the same text plain", message)
    return refused
