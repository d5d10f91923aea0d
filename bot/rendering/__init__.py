"""Rendering the model's Markdown per door, from one parse: Telegram entities, Discord
Markdown with balanced fences, sanitised HTML for the web."""

from __future__ import annotations

from bot.rendering.discord import split_discord, to_discord
from bot.rendering.telegram import Marked, Span, plain, to_telegram, to_telegram_draft
from bot.rendering.telegram_split import Entity, Formatted, split_marked, telegram_messages
from bot.rendering.web import to_html

__all__ = [
    "Entity",
    "Formatted",
    "Marked",
    "Span",
    "plain",
    "split_discord",
    "split_marked",
    "telegram_messages",
    "to_discord",
    "to_html",
    "to_telegram",
    "to_telegram_draft",
]
