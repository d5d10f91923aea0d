"""Failures that are not the person's doing: how the log names them, what the person reads."""

from __future__ import annotations

from bot.delivery.texts import APOLOGY, STORAGE_FAILED
from storage import database_failure


def describe(error: BaseException) -> str:
    """For the log: the type, and a database driver's own short message (never str() of the
    error: a database error's holds the SQL, another exception may hold input)."""
    return database_failure(error) or type(error).__name__


def database_failed(error: BaseException) -> bool:
    """Whether `error` is the database failing (worth a retry later), not a bug."""
    return database_failure(error) is not None


def answer_for(error: BaseException) -> str:
    """What the person reads: that nothing can be saved when the database failed, else the
    apology."""
    return STORAGE_FAILED if database_failed(error) else APOLOGY
