"""Accounts: registration, logins, the identities linked to them, password hashing, and the
one mapping of storage errors to domain errors."""

from __future__ import annotations

from bot.accounts.cache import AccountCache
from bot.accounts.passwords import PasswordHasher
from bot.accounts.service import (
    Account,
    AccountService,
    Registration,
    credential_version,
    hash_invite,
)
from bot.accounts.sessions import WebSessions
from bot.accounts.storage_errors import REGISTRATION_ERRORS, ExceptionMapping, map_exceptions

__all__ = [
    "REGISTRATION_ERRORS",
    "Account",
    "AccountCache",
    "AccountService",
    "ExceptionMapping",
    "PasswordHasher",
    "Registration",
    "WebSessions",
    "credential_version",
    "hash_invite",
    "map_exceptions",
]
