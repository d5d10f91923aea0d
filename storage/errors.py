"""Integrity facts storage reports; the core maps them to answers.

StorageError
 ├── UsernameTaken        a username is already registered
 ├── CodeNotAvailable     the conditional UPDATE matched no unused, unexpired code
 ├── IdentityTaken        the chat identity is linked to some account already
 └── PlatformTaken        the account already holds an identity on that platform
"""


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
