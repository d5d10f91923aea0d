"""A replica dying, as PostgreSQL sees it: the server ends the session that owns a ticket."""

from __future__ import annotations

from sqlalchemy import text

from storage import Database

# The session holding a ticket's owner key (a bigint advisory lock: classid is its high
# half), ended and waited for (up to 10 s) until it is gone.
_TERMINATE = text(
    "SELECT pg_terminate_backend(l.pid, 10000) FROM pg_locks l JOIN turns t ON t.id = :ticket "
    "WHERE l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND l.objsubid = 1 "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = t.owner"
)


async def terminate_owner(db: Database, ticket: int) -> None:
    """End, from the server's side, the session of the process that took `ticket`."""
    async with db.write() as conn:
        ended = (await conn.execute(_TERMINATE, {"ticket": ticket})).scalars().all()
    assert ended == [True], f"no live owner for ticket {ticket}"
