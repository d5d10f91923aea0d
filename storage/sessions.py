"""Web sessions kept on the server, so that logging out ends them for good."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from storage.database import Database
from storage.records import WebSession
from storage.tables import web_sessions


def _session(row: Any) -> WebSession:
    return WebSession(row.id, row.account_id, row.created_at, row.seen_at, row.ended_at)


class SessionStore:
    """Queries on web sessions; ids are SHA-256 digests of the tokens in the cookies."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, session_id: str, account_id: int, now: datetime) -> None:
        """Record a new session."""
        async with self.db.write() as conn:
            await conn.execute(
                insert(web_sessions).values(
                    id=session_id, account_id=account_id, created_at=now, seen_at=now
                )
            )

    async def get(self, session_id: str) -> WebSession | None:
        """The session with this id, ended or not."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(web_sessions).where(web_sessions.c.id == session_id))
            ).first()
        return _session(row) if row else None

    async def touch(self, session_id: str, now: datetime) -> None:
        """Note that the session was used now."""
        async with self.db.write() as conn:
            await conn.execute(
                update(web_sessions).where(web_sessions.c.id == session_id).values(seen_at=now)
            )

    async def end(self, session_id: str, now: datetime) -> None:
        """End one session."""
        async with self.db.write() as conn:
            await conn.execute(
                update(web_sessions)
                .where(web_sessions.c.id == session_id, web_sessions.c.ended_at.is_(None))
                .values(ended_at=now)
            )

    async def end_all(self, account_id: int, now: datetime) -> int:
        """End every session of an account; how many were still open."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(web_sessions)
                .where(web_sessions.c.account_id == account_id, web_sessions.c.ended_at.is_(None))
                .values(ended_at=now)
            )
        return int(result.rowcount)
