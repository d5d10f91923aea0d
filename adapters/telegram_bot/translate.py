"""Telegram update -> the core's IncomingMessage (pure functions, no network)."""

from __future__ import annotations

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType

from adapters.telegram_bot.media import carries_files
from bot.conversation import addresses_us, parse_command
from bot.messages import IncomingMessage, Platform


def display_name(message: Message) -> str:
    """A readable name for the sender: full name, else @username."""
    user = message.from_user
    if user is None:
        return ""
    return user.full_name or (f"@{user.username}" if user.username else str(user.id))


def _mentions(message: Message, bot_username: str) -> bool:
    wanted = f"@{bot_username}".lower()
    for entity in message.entities:
        if entity.type == MessageEntity.MENTION and message.parse_entity(entity).lower() == wanted:
            return True
    for entity in message.caption_entities:  # "@bot what is this?" under a photo
        if (
            entity.type == MessageEntity.MENTION
            and message.parse_caption_entity(entity).lower() == wanted
        ):
            return True
    return False


def _without_mention(text: str, bot_username: str) -> str:
    # "@bot what time is it" reads as "what time is it"; case-insensitive like Telegram.
    lowered, wanted = text.lower(), f"@{bot_username}".lower()
    at = lowered.find(wanted)
    if at < 0:
        return text
    return (text[:at] + text[at + len(wanted) :]).strip()


def incoming(update: Update, bot_username: str, bot_id: int) -> IncomingMessage | None:
    """The core's view of a new message, or None for what the bot must not see or store:
    channel posts, edits, service messages, and group chatter not addressed to the bot. The
    caption of a photo or file is its text; the files themselves are `media.offered_files`."""
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    private = message.chat.type == ChatType.PRIVATE
    if message.chat.type not in (ChatType.PRIVATE, ChatType.GROUP, ChatType.SUPERGROUP):
        return None
    text = message.text if message.text is not None else message.caption
    if private:
        addressed = True
    else:
        replied = message.reply_to_message
        addressed = bool(
            (text is not None and addresses_us(text, bot_username))
            or _mentions(message, bot_username)
            or (
                replied is not None
                and replied.from_user is not None
                and replied.from_user.id == bot_id
            )
        )
        if not addressed:
            return None
        if text is not None and parse_command(text) is None:
            text = _without_mention(text, bot_username)
    if text is None and not private and not carries_files(message):
        return None  # a sticker replying to the bot in a group: not worth an answer
    return IncomingMessage(
        platform=Platform.TELEGRAM,
        user_id=str(message.from_user.id),
        chat_id=str(message.chat.id),
        is_private=private,
        text=text,
        display_name=display_name(message),
        addressed=addressed,
        bot_username=bot_username,
        group_id=None if private else str(message.chat.id),
    )
