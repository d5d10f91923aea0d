"""What an operator watches: log set-up (message text and secrets kept out) and metrics."""

from __future__ import annotations

from bot.monitoring.logs import configure_logging, redact, scrub
from bot.monitoring.metrics import CONTENT_TYPE, Metrics

__all__ = ["CONTENT_TYPE", "Metrics", "configure_logging", "redact", "scrub"]
