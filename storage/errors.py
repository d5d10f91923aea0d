"""Integrity facts storage reports; the core maps them to answers. And `database_failure`,
which tells the database failing (disk full, read-only, unreachable) from other errors.

StorageError
 ├── UsernameTaken        a username is already registered
 ├── CodeNotAvailable     the conditional UPDATE matched no unused, unexpired code
 ├── IdentityTaken        the chat identity is linked to some account already
 └── PlatformTaken        the account already holds an identity on that platform
"""

from sqlalchemy.exc import SQLAlchemyError


def database_failure(error: BaseException) -> str | None:
    """A short description when `error` is the database failing, None for anything else.

    The description is the error's type and the driver's own message ("database or disk is
    full"), never the statement or its parameters (which str() of the error would include).
    """
    if not isinstance(error, SQLAlchemyError):
        return None
    orig = getattr(error, "orig", None)
    return type(error).__name__ + (f": {orig}" if orig is not None else "")


class StorageError(Exception):
    """Base class of storage integrity errors."""


class UsernameTaken(StorageError):
    """The username is already registered."""


class CodeNotAvailable(StorageError):
    """The link code is used, expired, of another purpose or unknown."""


class IdentityTaken(StorageError):
    """The identity is linked already."""

    def __init__(self, account_id: int) -> None:
        super().__init__(account_id)
        self.account_id = account_id


class PlatformTaken(StorageError):
    """The account already has an identity on this platform."""
