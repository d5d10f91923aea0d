"""Password hashing with argon2 (passlib), always off the event loop, at low priority."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from bot.errors import Busy

if TYPE_CHECKING:
    from passlib.context import CryptContext

T = TypeVar("T")
LOGIN_QUEUE_MAX = 8  # hashes waiting or running at once; ~0.15 s each on one thread
HASHING_THREADS = (
    1  # one hash already keeps 4 lanes busy and sweeps 64 MiB: more at once slows the chat
)


def _yield_to_the_loop() -> None:
    # argon2 runs its lanes on threads it starts, which inherit this thread's nice value
    # (per thread on Linux): a burst of logins then gets the CPU the event loop leaves,
    # instead of starving the chats with a dozen threads at equal priority.
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


@cache
def _context() -> CryptContext:
    # passlib is imported on the hashing thread at the first hash, not when the process starts.
    from passlib.context import CryptContext

    return CryptContext(schemes=["argon2"], deprecated="auto")


def _hash(password: str) -> str:
    return str(_context().hash(password))


def _verify(password: str, password_hash: str) -> tuple[bool, str | None]:
    ok, new_hash = _context().verify_and_update(password, password_hash)
    return bool(ok), new_hash


@cache
def _dummy_hash() -> str:
    return _hash("not a real password: evens out the time of unknown users")


def _burn(password: str) -> None:
    _context().verify(password, _dummy_hash())


class PasswordHasher:
    """argon2 on worker threads of its own, started at the first hash; close() ends them.

    At most `max_queue` hashes wait or run at once; one more is refused with Busy (a 503 with
    Retry-After on the web) rather than queued, so a burst of junk logins cannot push every
    real one seconds back.
    """

    def __init__(self, threads: int = HASHING_THREADS, max_queue: int = LOGIN_QUEUE_MAX) -> None:
        self._threads = threads
        self.max_queue = max_queue
        self._pending = 0
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def full(self) -> bool:
        """Whether one more hash would be refused."""
        return self._pending >= self.max_queue

    def admit(self) -> None:
        """Busy when the queue is full: checked before anything is counted or stored."""
        if self.full:
            raise Busy()

    def _pool(self) -> ThreadPoolExecutor:
        if self._closed:
            raise RuntimeError("the password hasher is closed")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._threads, thread_name_prefix="argon2", initializer=_yield_to_the_loop
            )
        return self._executor

    async def _off_loop(self, work: Callable[..., T], *args: str) -> T:
        self.admit()
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool(), work, *args)
        finally:
            self._pending -= 1

    async def hash(self, password: str) -> str:
        """An argon2 hash of `password` (~0.1 s of CPU, on a low-priority worker thread)."""
        return await self._off_loop(_hash, password)

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Whether `password` matches, and a new hash when the stored one is outdated."""
        return await self._off_loop(_verify, password, password_hash)

    async def burn_verify(self, password: str) -> None:
        """Spend the time of one verification, so unknown users look like wrong passwords."""
        await self._off_loop(_burn, password)

    def close(self) -> None:
        """Stop the worker threads (a hash under way still finishes); no hashing after this."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> PasswordHasher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
