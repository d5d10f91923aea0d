"""Accounts: registration, logins, the identities linked to them, password hashing."""

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

__all__ = [
    "Account",
    "AccountCache",
    "AccountService",
    "PasswordHasher",
    "Registration",
    "credential_version",
    "hash_invite",
]
