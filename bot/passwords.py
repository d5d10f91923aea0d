"""Password hashing with argon2 (passlib), always off the event loop."""

from __future__ import annotations

import asyncio
from functools import cache

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], deprecated="auto")


async def hash_password(password: str) -> str:
    """An argon2 hash of `password` (~0.1 s of CPU, in a worker thread)."""
    return await asyncio.to_thread(_context.hash, password)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Whether `password` matches, and a new hash when the stored one is outdated."""
    ok, new_hash = await asyncio.to_thread(_context.verify_and_update, password, password_hash)
    return bool(ok), new_hash


@cache
def _dummy_hash() -> str:
    return str(_context.hash("not a real password: evens out the time of unknown users"))


async def burn_verify(password: str) -> None:
    """Spend the time of one verification, so unknown users look like wrong passwords."""
    dummy = await asyncio.to_thread(_dummy_hash)
    await asyncio.to_thread(_context.verify, password, dummy)
