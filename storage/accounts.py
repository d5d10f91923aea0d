"""Accounts and the chat identities linked to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.errors import IdentityTaken, PlatformTaken, UsernameTaken
from storage.group_read import GroupRead, covering
from storage.records import Account, AccountOverview, Identity
from storage.tables import accounts, identities, messages, threads


def _account(row: Any) -> Account:
    return Account(
        row.id, row.username, row.password_hash, bool(row.disabled), row.created_at,
        bool(row.is_admin), row.logins_unlocked_at,
    )  # fmt: skip


def _identity(row: Any) -> Identity:
    return Identity(
        row.id, row.account_id, row.platform, row.platform_user_id, row.display_name,
        row.created_at,
    )  # fmt: skip


IdentityKey = tuple[str, str]  # (platform, platform_user_id)


async def _accounts_by_id(conn: AsyncConnection, ids: list[int]) -> dict[int, Account]:
    rows = await conn.execute(select(accounts).where(accounts.c.id.in_(ids)))
    return {row.id: _account(row) for row in rows}


async def _accounts_by_identity(
    conn: AsyncConnection, wanted: list[IdentityKey]
) -> dict[IdentityKey, Account]:
    rows = await conn.execute(
        select(accounts, identities.c.platform, identities.c.platform_user_id)
        .join(identities, identities.c.account_id == accounts.c.id)
        .where(*covering(identities.c.platform, identities.c.platform_user_id, wanted))
    )
    asked = set(wanted)
    return {
        (row.platform, row.platform_user_id): _account(row)
        for row in rows
        if (row.platform, row.platform_user_id) in asked
    }


async def insert_account(
    conn: AsyncConnection, username: str, password_hash: str, now: datetime
) -> Account:
    """Insert an account inside the caller's transaction; UsernameTaken on a duplicate."""
    taken = await conn.scalar(select(accounts.c.id).where(accounts.c.username == username))
    if taken is not None:
        raise UsernameTaken(username)
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                insert(accounts)
                .values(username=username, password_hash=password_hash, created_at=now)
                .returning(*accounts.c)
            )
            return _account(result.one())
    except IntegrityError as exc:  # a concurrent writer on a server database
        raise UsernameTaken(username) from exc


async def insert_identity(
    conn: AsyncConnection,
    account_id: int,
    platform: str,
    platform_user_id: str,
    display_name: str,
    now: datetime,
) -> Identity:
    """Link an identity inside the caller's transaction, or raise why it cannot be."""
    owner = await conn.scalar(
        select(identities.c.account_id).where(
            identities.c.platform == platform, identities.c.platform_user_id == platform_user_id
        )
    )
    if owner is not None:
        raise IdentityTaken(owner)
    slot = await conn.scalar(
        select(identities.c.id).where(
            identities.c.account_id == account_id, identities.c.platform == platform
        )
    )
    if slot is not None:
        raise PlatformTaken(platform)
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                insert(identities)
                .values(
                    account_id=account_id,
                    platform=platform,
                    platform_user_id=platform_user_id,
                    display_name=display_name,
                    created_at=now,
                )
                .returning(*identities.c)
            )
            return _identity(result.one())
    except IntegrityError as exc:
        raise PlatformTaken(platform) from exc


class AccountStore:
    """Queries on accounts and identities."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Counts the changes made through this store to accounts and links, so that caches
        # of them (bot.accounts.cache) know when to let go.
        self.generation = 0
        # The lookups of the message path, asked at the same moment, share a query: a
        # thousand sockets opening at once are a few reads, not a thousand in a queue.
        self._by_id: GroupRead[int, Account] = GroupRead(db, _accounts_by_id)
        self._by_identity: GroupRead[IdentityKey, Account] = GroupRead(db, _accounts_by_identity)

    @asynccontextmanager
    async def _change(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction that changes accounts or links: counted before and after."""
        self.generation += 1
        try:
            async with self.db.write() as conn:
                yield conn
        finally:
            self.generation += 1

    async def create(self, username: str, password_hash: str, now: datetime) -> Account:
        """Register an account; UsernameTaken when the name exists."""
        async with self.db.write() as conn:
            return await insert_account(conn, username, password_hash, now)

    async def by_username(self, username: str) -> Account | None:
        """The account with this (normalised) username."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(accounts).where(accounts.c.username == username))
            ).first()
        return _account(row) if row else None

    async def by_id(self, account_id: int) -> Account | None:
        """The account with this id (read after this is asked: see GroupRead)."""
        return await self._by_id.get(account_id)

    async def all(self) -> list[Account]:
        """Every account, by username."""
        async with self.db.read() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.username))).all()
        return [_account(r) for r in rows]

    async def set_disabled(self, account_id: int, disabled: bool) -> None:
        """Disable or enable an account."""
        async with self._change() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(disabled=disabled)
            )

    async def unlock_logins(self, account_id: int, now: datetime) -> None:
        """Forget the failed logins counted so far (they are keyed by this time)."""
        async with self._change() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(logins_unlocked_at=now)
            )

    async def delete(self, account_id: int) -> bool:
        """Delete an account; its identities, link codes, threads and messages go with it
        (ON DELETE CASCADE). False when there was none."""
        async with self._change() as conn:
            result = await conn.execute(delete(accounts).where(accounts.c.id == account_id))
        return bool(result.rowcount)

    async def admin_count(self) -> int:
        """How many enabled accounts are admins."""
        async with self.db.read() as conn:
            query = select(func.count()).where(accounts.c.is_admin, ~accounts.c.disabled)
            return int((await conn.execute(query)).scalar_one())

    async def set_admin(self, account_id: int, is_admin: bool) -> None:
        """Make an account an admin, or not."""
        async with self._change() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(is_admin=is_admin)
            )

    async def overview(self, today: datetime) -> list[AccountOverview]:
        """Every account with its identities, messages since `today` and last activity."""
        activity = (
            select(
                threads.c.account_id,
                func.sum(case((messages.c.created_at >= today, 1), else_=0)).label("messages"),
                func.max(messages.c.created_at).label("last_active"),
            )
            .join(messages, messages.c.thread_id == threads.c.id)
            .group_by(threads.c.account_id)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.username))).all()
            linked = (await conn.execute(select(identities).order_by(identities.c.platform))).all()
            stats = {r.account_id: r for r in (await conn.execute(activity)).all()}
        by_account: dict[int, list[Identity]] = {}
        for row in linked:
            by_account.setdefault(row.account_id, []).append(_identity(row))
        return [
            AccountOverview(
                _account(row),
                by_account.get(row.id, []),
                int(stats[row.id].messages) if row.id in stats else 0,
                stats[row.id].last_active if row.id in stats else None,
            )
            for row in rows
        ]

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace an account's password hash (rehash or change)."""
        async with self._change() as conn:
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(password_hash=password_hash)
            )

    async def identity(self, platform: str, platform_user_id: str) -> Identity | None:
        """The identity for this platform user, if linked."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(identities).where(
                        identities.c.platform == platform,
                        identities.c.platform_user_id == platform_user_id,
                    )
                )
            ).first()
        return _identity(row) if row else None

    async def account_for_identity(self, platform: str, platform_user_id: str) -> Account | None:
        """The account a chat identity is linked to (read after this is asked)."""
        return await self._by_identity.get((platform, platform_user_id))

    async def identities_of(self, account_id: int) -> list[Identity]:
        """Every identity linked to an account."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(identities)
                    .where(identities.c.account_id == account_id)
                    .order_by(identities.c.platform)
                )
            ).all()
        return [_identity(r) for r in rows]

    async def unlink(self, platform: str, platform_user_id: str) -> bool:
        """Remove an identity's link; False when it was not linked."""
        async with self._change() as conn:
            result = await conn.execute(
                delete(identities).where(
                    identities.c.platform == platform,
                    identities.c.platform_user_id == platform_user_id,
                )
            )
        return bool(result.rowcount)

    async def unlink_platform(self, account_id: int, platform: str) -> bool:
        """Remove the account's identity on `platform`; False when it had none."""
        async with self._change() as conn:
            result = await conn.execute(
                delete(identities).where(
                    identities.c.account_id == account_id, identities.c.platform == platform
                )
            )
        return bool(result.rowcount)

    async def count_identities_by_platform(self) -> dict[str, int]:
        """Linked identities per platform."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(identities.c.platform, func.count()).group_by(identities.c.platform)
                )
            ).all()
        return {platform: count for platform, count in rows}
