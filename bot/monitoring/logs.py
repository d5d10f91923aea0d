"""Logging set-up: plain lines on stderr; message text and secrets stay out of the logs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces every registered secret (bot tokens) with a marker.

    Tracebacks are covered too: client libraries put request URLs, and Telegram's hold
    the token, into exception messages.
    """

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.secrets: set[str] = set()

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


class JsonFormatter(RedactingFormatter):
    """One JSON object per line (LOG_FORMAT=json), for log collectors; secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        text = json.dumps(entry, ensure_ascii=False)
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send log records to stderr: plain lines with time, level and logger, or JSON."""
    logging.basicConfig(level=level, format=FORMAT, force=True)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter())
    # Client libraries log request URLs at INFO, and Telegram's contain the bot token.
    for noisy in ("httpx", "httpx2", "httpcore", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # At DEBUG these print request headers (bearer tokens) and WebSocket frames (chat text).
    for chatty in ("uvicorn.error", "websockets", "telegram", "discord"):
        logging.getLogger(chatty).setLevel(max(logging.getLevelName(level), logging.INFO))


def scrub(text: str) -> str:
    """`text` with every registered secret replaced, for messages printed outside logging."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, RedactingFormatter):
            for secret in handler.formatter.secrets:
                text = text.replace(secret, "<redacted>")
    return text


def redact(secret: str) -> None:
    """Keep `secret` out of every log line from now on."""
    if not secret:
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, RedactingFormatter):
            handler.formatter.secrets.add(secret)
