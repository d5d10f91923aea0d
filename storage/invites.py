"""Invite codes (REGISTRATION=invite) and the audit log of admin actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.accounts import insert_account
from storage.database import Database
from storage.errors import InviteNotAvailable
from storage.records import Account, AuditEntry, Invite
from storage.tables import audit, invites


def _invite(row: Any) -> Invite:
    return Invite(
        row.id, row.uses_left, row.uses, row.created_by, row.created_at, row.expires_at,
        row.revoked_at,
    )  # fmt: skip


async def use_invite(conn: AsyncConnection, code_hash: str, now: datetime) -> None:
    """Take one use of an invite inside the caller's transaction: one conditional UPDATE, so
    concurrent registrations never take more uses than there are."""
    result = await conn.execute(
        update(invites)
        .where(
            invites.c.code_hash == code_hash,
            invites.c.uses_left > 0,
            invites.c.revoked_at.is_(None),
            invites.c.expires_at > now,
        )
        .values(uses_left=invites.c.uses_left - 1, uses=invites.c.uses + 1)
    )
    if result.rowcount != 1:
        raise InviteNotAvailable()


class InviteStore:
    """Queries on invites and the audit log."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, code_hash: str, uses: int, created_by: str, now: datetime, expires_at: datetime
    ) -> Invite:
        """Store a new invite."""
        async with self.db.write() as conn:
            result = await conn.execute(
                insert(invites)
                .values(
                    code_hash=code_hash, uses_left=uses, uses=0, created_by=created_by,
                    created_at=now, expires_at=expires_at, revoked_at=None,
                )
                .returning(*invites.c)
            )  # fmt: skip
            return _invite(result.one())

    async def all(self) -> list[Invite]:
        """Every invite, newest first."""
        async with self.db.read() as conn:
            rows = (await conn.execute(select(invites).order_by(invites.c.id.desc()))).all()
        return [_invite(r) for r in rows]

    async def revoke(self, invite_id: int, now: datetime) -> bool:
        """Revoke one invite; False when there was no such (unrevoked) invite."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(invites)
                .where(invites.c.id == invite_id, invites.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount)

    async def usable(self, code_hash: str, now: datetime) -> bool:
        """Whether an invite with this hash has a use left and has not expired or been
        revoked (a hint: the registration's conditional UPDATE is what decides)."""
        async with self.db.read() as conn:
            found = await conn.scalar(
                select(invites.c.id).where(
                    invites.c.code_hash == code_hash,
                    invites.c.uses_left > 0,
                    invites.c.revoked_at.is_(None),
                    invites.c.expires_at > now,
                )
            )
        return found is not None

    async def register(
        self, code_hash: str, now: datetime, username: str, password_hash: str
    ) -> Account:
        """Use an invite and create the account, both or neither."""
        async with self.db.write() as conn:
            await use_invite(conn, code_hash, now)
            return await insert_account(conn, username, password_hash, now)

    async def record(self, now: datetime, actor: str, action: str, target: str) -> None:
        """Append to the audit log."""
        async with self.db.write() as conn:
            await conn.execute(
                insert(audit).values(at=now, actor=actor, action=action, target=target)
            )

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The latest admin actions, newest first."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(select(audit).order_by(audit.c.id.desc()).limit(limit))
            ).all()
        return [AuditEntry(r.at, r.actor, r.action, r.target) for r in rows]
