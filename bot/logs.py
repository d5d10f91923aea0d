"""Logging set-up: plain lines on stderr; message text and secrets stay out of INFO."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr with time, level and logger name."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # Client libraries log request URLs at INFO, and Telegram's contain the bot token.
    for noisy in ("httpx", "httpcore", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
