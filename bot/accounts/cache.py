"""Accounts looked up on every chat message, remembered for a moment."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from storage import Account, AccountStore

ACCOUNT_CACHE_S = 5.0  # how long a change made by another process may go unseen
ACCOUNT_CACHE_SIZE = 10_000


class AccountCache:
    """The account behind a chat identity, and an account by id, for the message path.

    A change made through this process's AccountStore (disable, unlink...) empties the
    cache at once; one made by another process (the CLI, another replica) is seen within
    ACCOUNT_CACHE_S, or sooner when the database reports it (see MessageStore.watch).
    Only linked identities are remembered, so linking takes effect at once.
    """

    def __init__(
        self,
        store: AccountStore,
        *,
        ttl_s: float = ACCOUNT_CACHE_S,
        size: int = ACCOUNT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Account]] = OrderedDict()
        self._generation = store.generation
        self._epoch = 0

    async def for_identity(self, platform: str, platform_user_id: str) -> Account | None:
        """The account a chat identity is linked to."""
        account = await self._get(
            ("identity", platform, platform_user_id),
            lambda: self.store.account_for_identity(platform, platform_user_id),
        )
        if account is not None and ("id", account.id) not in self._entries:
            self._keep(("id", account.id), account)  # the turn's re-check asks by id
        return account

    async def by_id(self, account_id: int) -> Account | None:
        """The account with this id."""
        return await self._get(("id", account_id), lambda: self.store.by_id(account_id))

    def know(self, account: Account) -> None:
        """Remember an account the caller has just read (a door that authenticated its
        sender), unless one is remembered already: the turn's re-check then needs no query."""
        if self.store.generation != self._generation:
            return  # changed meanwhile: the next lookup clears and asks the database
        entry = self._entries.get(("id", account.id))
        if entry is None or entry[0] <= self.clock():
            self._keep(("id", account.id), account)

    def clear(self) -> None:
        """Forget everything (the database changed behind this process's back)."""
        self._entries.clear()
        self._epoch += 1

    async def _get(
        self, key: Hashable, fetch: Callable[[], Awaitable[Account | None]]
    ) -> Account | None:
        if self.store.generation != self._generation:
            self._generation = self.store.generation
            self.clear()
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        epoch, generation = self._epoch, self._generation
        account = await fetch()
        # Kept only if nothing changed while the query ran.
        if account is not None and epoch == self._epoch and generation == self.store.generation:
            self._keep(key, account)
        return account

    def _keep(self, key: Hashable, account: Account) -> None:
        self._entries[key] = (self.clock() + self.ttl_s, account)
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
