"""python-telegram-bot's duration setting, which it reads from the process environment."""

from __future__ import annotations

import os


def use_timedelta_durations() -> None:
    """Opt in to PTB's future timedelta durations (PTB_TIMEDELTA), unless the environment chose.

    Without it every 429 answer raises a PTBDeprecationWarning from inside the library's own
    retry path. PTB reads the variable at each use, so setting it before the first call is
    enough: the composition root calls this before it builds the Telegram door or its check.
    """
    os.environ.setdefault("PTB_TIMEDELTA", "true")
