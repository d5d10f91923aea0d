"""What a limit counts: an amount of events per window of time.

The same shape as the `limits` library's items (`amount`, `get_expiry`, `key_for`, and the
same keys), without importing it: in one process the counts are kept here (`local`), and
`limits` (with its storages) is loaded only for counts shared in Redis (`shared`), which
turn each window into the library's item.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS = {"minute": 60, "hour": 60 * 60, "day": 24 * 60 * 60}


@dataclass(frozen=True, slots=True)
class Window:
    """`amount` events per `multiples` of a `unit` (a minute, an hour, a day)."""

    amount: int
    multiples: int
    unit: str
    namespace: str = "LIMITER"

    def get_expiry(self) -> int:
        """The window's length in seconds."""
        return SECONDS[self.unit] * self.multiples

    def key_for(self, *identifiers: str) -> str:
        """The counter's key for `identifiers`: the one `limits` gives the same item."""
        return "/".join(
            (self.namespace, *identifiers, str(self.amount), str(self.multiples), self.unit)
        )


def PerMinute(amount: int, minutes: int = 1) -> Window:
    """`amount` events per `minutes` minutes."""
    return Window(int(amount), int(minutes or 1), "minute")


def PerHour(amount: int, hours: int = 1) -> Window:
    """`amount` events per `hours` hours."""
    return Window(int(amount), int(hours or 1), "hour")


def PerDay(amount: int, days: int = 1) -> Window:
    """`amount` events per `days` days."""
    return Window(int(amount), int(days or 1), "day")
