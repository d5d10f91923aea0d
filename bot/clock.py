"""Time as the database stores it: naive UTC datetimes, from one clock the assembly injects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (the form every table uses)."""
    return datetime.now(UTC).replace(tzinfo=None)


def unix_time(clock: Clock) -> float:
    """What `clock` says, as seconds since the epoch (the unit rate-limit windows count in)."""
    return clock().replace(tzinfo=UTC).timestamp()
