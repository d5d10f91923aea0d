"""The Telegram door: python-telegram-bot 22, polling or webhook."""

import os

# Opt in to PTB's future timedelta durations: otherwise every 429 answer raises a
# PTBDeprecationWarning from inside the library's own retry path.
os.environ.setdefault("PTB_TIMEDELTA", "true")


from adapters.telegram_bot.door import TelegramDoor

__all__ = ["TelegramDoor"]
