"""The Telegram door: python-telegram-bot 22, polling or webhook."""

from adapters.telegram_bot.door import TelegramDoor
from adapters.telegram_bot.durations import use_timedelta_durations

__all__ = ["TelegramDoor", "use_timedelta_durations"]
