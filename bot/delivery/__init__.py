"""What the doors share: running them, the flow of one answer, live replies, splitting, senders,
pushed updates (webhooks) and the words they say."""

from __future__ import annotations

from bot.delivery.failures import answer_for, database_failed, describe
from bot.delivery.flow import Rendering, answer
from bot.delivery.live_reply import LiveReply
from bot.delivery.reconnect import DoorHealth
from bot.delivery.runtime import SHUTTING_DOWN, Door, InFlight, serve
from bot.delivery.senders import ChatSenders
from bot.delivery.splitting import split_text, utf16_length
from bot.delivery.texts import APOLOGY, CANNOT_DM, NOT_HERE, SENT_PRIVATELY, STORAGE_FAILED
from bot.delivery.webhooks import Pushed, WebhookReceiver

__all__ = [
    "APOLOGY",
    "CANNOT_DM",
    "NOT_HERE",
    "SENT_PRIVATELY",
    "SHUTTING_DOWN",
    "STORAGE_FAILED",
    "ChatSenders",
    "Door",
    "DoorHealth",
    "InFlight",
    "LiveReply",
    "Pushed",
    "Rendering",
    "WebhookReceiver",
    "answer",
    "answer_for",
    "database_failed",
    "describe",
    "serve",
    "split_text",
    "utf16_length",
]
