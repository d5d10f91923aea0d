"""Inline keyboards for the core's choices (/model and /persona lists), and the callback
queries their buttons send back, read as the command the button names."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType

from bot.messages import IncomingMessage, Platform, Reply

CALLBACK_DATA_BYTES = 64  # Telegram's limit on a button's callback_data
BUTTONS_PER_ROW = 2


def choices_keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """One button per choice (labelled with what follows the command), or None."""
    buttons = [
        InlineKeyboardButton(choice.split(maxsplit=1)[-1], callback_data=choice)
        for choice in reply.choices
        if len(choice.encode()) <= CALLBACK_DATA_BYTES
    ]
    if not buttons:
        return None
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


def pressed(
    update: Update, bot_username: str
) -> tuple[CallbackQuery, Message, IncomingMessage] | None:
    """A button press as the command it names, sent by the presser in the button's chat;
    None for presses the bot cannot place (an old, inaccessible message, no data)."""
    query = update.callback_query
    if query is None or not query.data or not query.data.startswith("/"):
        return None
    source = query.message
    if not isinstance(source, Message):
        return None
    private = source.chat.type == ChatType.PRIVATE
    user = query.from_user
    return (
        query,
        source,
        IncomingMessage(
            platform=Platform.TELEGRAM,
            user_id=str(user.id),
            chat_id=str(source.chat.id),
            is_private=private,
            text=query.data,
            display_name=user.full_name or (f"@{user.username}" if user.username else str(user.id)),
            addressed=True,  # a press on the bot's own message is meant for it
            bot_username=bot_username,
            group_id=None if private else str(source.chat.id),
        ),
    )
