"""Time as the database stores it: naive UTC datetimes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (the form every table uses)."""
    return datetime.now(UTC).replace(tzinfo=None)
