"""The conversation: the core's one entry point, chat commands, turn order and memory."""

from __future__ import annotations

from bot.conversation.commands import (
    DESCRIPTIONS,
    HELP,
    Command,
    addresses_us,
    help_text,
    parse_command,
)
from bot.conversation.controls import ThreadControls, UnknownChoice, UsageView
from bot.conversation.core import ChatCore
from bot.conversation.export import export_account
from bot.conversation.memory import PRIVATE_THREAD, Memory, thread_key
from bot.conversation.ordering import Place, TurnOrder
from bot.conversation.tokens import estimate

__all__ = [
    "DESCRIPTIONS",
    "HELP",
    "PRIVATE_THREAD",
    "ChatCore",
    "Command",
    "Memory",
    "Place",
    "ThreadControls",
    "TurnOrder",
    "UnknownChoice",
    "UsageView",
    "addresses_us",
    "estimate",
    "export_account",
    "help_text",
    "parse_command",
    "thread_key",
]
