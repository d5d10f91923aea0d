"""Integrity facts storage reports; the core maps them to answers. And `database_failure`,
which tells the database failing (disk full, read-only, unreachable) from other errors.

StorageError
 ├── UsernameTaken        a username is already registered
 ├── CodeNotAvailable     the conditional UPDATE matched no unused, unexpired code
 ├── InviteNotAvailable   the invite is used up, expired, revoked or unknown
 ├── IdentityTaken        the chat identity is linked to some account already
 └── PlatformTaken        the account already holds an identity on that platform
"""

from sqlalchemy.exc import DBAPIError


def database_failure(error: BaseException) -> str | None:
    """A short description when `error` (or the error it was raised from) is the database
    failing, None for anything else.

    A database error is one that carries the driver's own error ("database or disk is
    full"): the description is the type and that message, never the statement or its
    parameters (which str() of the error would include).
    """
    for link in (error, error.__cause__):
        if isinstance(link, DBAPIError):
            return f"{type(error).__name__}: {link.orig}"
    return None


class StorageError(Exception):
    """Base class of storage integrity errors."""


class UsernameTaken(StorageError):
    """The username is already registered."""


class CodeNotAvailable(StorageError):
    """The link code is used, expired, of another purpose or unknown."""


class InviteNotAvailable(StorageError):
    """The invite is used up, expired, revoked or unknown."""


class IdentityTaken(StorageError):
    """The identity is linked already."""

    def __init__(self, account_id: int) -> None:
        super().__init__(account_id)
        self.account_id = account_id


class PlatformTaken(StorageError):
    """The account already has an identity on this platform."""
