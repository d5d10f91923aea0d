"""The Telegram webhook's receiving end: a checked body becomes an `Update` on PTB's queue.

As in python-telegram-bot's examples/customwebhookbot/starlettebot.py, the web app serves the
route and this pushes into `application.update_queue`; PTB's own webhook server is not used."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.delivery import Pushed
from bot.settings import TELEGRAM_WEBHOOK_PATH

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramWebhook:
    """Takes the updates Telegram POSTs to /telegram/webhook (a `WebhookReceiver`)."""

    path = TELEGRAM_WEBHOOK_PATH
    secret_header = SECRET_HEADER

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], secret: str) -> None:
        """`secret` is the one given to setWebhook; every call must carry it."""
        self.application = application
        self._secret = secret.encode()
        # Only between the door's start and stop: an update taken before the application
        # runs, or after it stopped, would be acknowledged and never answered.
        self.open = False

    async def receive(self, body: bytes, secret: str | None) -> Pushed:
        """Queue the update in `body` if `secret` is the webhook's; say why not otherwise."""
        # Constant time, so the secret cannot be guessed one character at a time.
        if secret is None or not hmac.compare_digest(secret.encode(), self._secret):
            return Pushed.FORBIDDEN
        if not self.open:
            return Pushed.UNAVAILABLE
        try:
            data = json.loads(body)
        except ValueError:  # also a body that is not UTF-8
            return Pushed.MALFORMED
        if not isinstance(data, dict):
            return Pushed.MALFORMED
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # PTB raises whatever the constructor does on a bad shape
            log.warning("telegram: webhook body is not an update (%s)", type(exc).__name__)
            return Pushed.MALFORMED
        await self.application.update_queue.put(update)
        return Pushed.ACCEPTED
