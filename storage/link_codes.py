"""Link codes: stored by nonce, used once through a single conditional UPDATE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.accounts import insert_account, insert_identity
from storage.database import Database
from storage.errors import CodeNotAvailable
from storage.invites import use_invite
from storage.records import Account, Identity, LinkCode
from storage.tables import link_codes


def _code(row: Any) -> LinkCode:
    return LinkCode(
        row.nonce, row.purpose, row.account_id, row.platform, row.platform_user_id,
        row.display_name, row.chat_id, row.created_at, row.expires_at, row.used_at,
    )  # fmt: skip


async def _consume(conn: AsyncConnection, nonce: str, purpose: str, now: datetime) -> None:
    # The one statement that makes a code single-use, across connections and replicas.
    result = await conn.execute(
        update(link_codes)
        .where(
            link_codes.c.nonce == nonce,
            link_codes.c.purpose == purpose,
            link_codes.c.used_at.is_(None),
            link_codes.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if result.rowcount != 1:
        raise CodeNotAvailable(nonce)


class LinkCodeStore:
    """Queries on link codes, and the transactions that redeem them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, code: LinkCode) -> None:
        """Store a freshly issued code."""
        async with self.db.write() as conn:
            await conn.execute(
                insert(link_codes).values(
                    nonce=code.nonce,
                    purpose=code.purpose,
                    account_id=code.account_id,
                    platform=code.platform,
                    platform_user_id=code.platform_user_id,
                    display_name=code.display_name,
                    chat_id=code.chat_id,
                    created_at=code.created_at,
                    expires_at=code.expires_at,
                    used_at=None,
                )
            )

    async def get(self, nonce: str) -> LinkCode | None:
        """The stored code with this nonce."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(link_codes).where(link_codes.c.nonce == nonce))
            ).first()
        return _code(row) if row else None

    async def pending(
        self,
        now: datetime,
        *,
        account_id: int | None = None,
        identity: tuple[str, str] | None = None,
    ) -> list[LinkCode]:
        """Unused, unexpired codes of an account or of an identity, oldest first."""
        query = select(link_codes).where(
            link_codes.c.used_at.is_(None), link_codes.c.expires_at > now
        )
        if account_id is not None:
            query = query.where(link_codes.c.account_id == account_id)
        if identity is not None:
            query = query.where(
                link_codes.c.platform == identity[0],
                link_codes.c.platform_user_id == identity[1],
            )
        async with self.db.read() as conn:
            rows = (await conn.execute(query.order_by(link_codes.c.created_at))).all()
        return [_code(r) for r in rows]

    async def count_pending(self, now: datetime) -> int:
        """Unused, unexpired codes in all."""
        async with self.db.read() as conn:
            count = await conn.scalar(
                select(func.count()).where(
                    link_codes.c.used_at.is_(None), link_codes.c.expires_at > now
                )
            )
        return int(count or 0)

    async def void(self, nonce: str, now: datetime) -> bool:
        """Mark a code used without linking anything (it was shown where others could see)."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(link_codes)
                .where(link_codes.c.nonce == nonce, link_codes.c.used_at.is_(None))
                .values(used_at=now)
            )
        return bool(result.rowcount)

    async def redeem_and_link(
        self,
        nonce: str,
        purpose: str,
        now: datetime,
        *,
        account_id: int,
        platform: str,
        platform_user_id: str,
        display_name: str,
    ) -> Identity:
        """Use the code and link the identity, both or neither."""
        async with self.db.write() as conn:
            await _consume(conn, nonce, purpose, now)
            return await insert_identity(
                conn, account_id, platform, platform_user_id, display_name, now
            )

    async def redeem_and_register(
        self,
        nonce: str,
        purpose: str,
        now: datetime,
        *,
        username: str,
        password_hash: str,
        platform: str,
        platform_user_id: str,
        display_name: str,
        invite_hash: str | None = None,
    ) -> tuple[Account, Identity]:
        """Use the code (and the invite), create the account and link the identity, all or
        nothing."""
        async with self.db.write() as conn:
            await _consume(conn, nonce, purpose, now)
            if invite_hash is not None:
                await use_invite(conn, invite_hash, now)
            account = await insert_account(conn, username, password_hash, now)
            identity = await insert_identity(
                conn, account.id, platform, platform_user_id, display_name, now
            )
            return account, identity

    async def revoke_pending(self, now: datetime, *, account_id: int | None = None) -> int:
        """Void every unused, unexpired code (an admin's emergency brake), or only those an
        account made."""
        query = update(link_codes).where(
            link_codes.c.used_at.is_(None), link_codes.c.expires_at > now
        )
        if account_id is not None:
            query = query.where(link_codes.c.account_id == account_id)
        async with self.db.write() as conn:
            result = await conn.execute(query.values(used_at=now))
        return int(result.rowcount or 0)

    async def purge_expired(self, before: datetime) -> int:
        """Delete codes that expired or were used before `before`."""
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(link_codes).where(
                    or_(link_codes.c.expires_at < before, link_codes.c.used_at < before)
                )
            )
        return int(result.rowcount or 0)
