"""Web sessions on the server: the cookie carries a random token, the database says whether
it still stands, so a logout, "log out everywhere" and the idle and absolute timeouts hold
even against a copy of the cookie."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from bot.clock import Clock, utcnow
from storage import SessionStore

# The last-use time is written at most this often: a page view is not a write each time.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(token: str) -> str:
    # Stored hashed: a copy of the table gives no cookie that works.
    return hashlib.sha256(token.encode()).hexdigest()


class WebSessions:
    """Starts, checks and ends web sessions (SESSION_IDLE_MINUTES, SESSION_ABSOLUTE_DAYS)."""

    def __init__(
        self, store: SessionStore, *, idle: timedelta, absolute: timedelta, clock: Clock = utcnow
    ) -> None:
        self.store = store
        self.idle = idle
        self.absolute = absolute
        self.clock = clock

    async def start(self, account_id: int) -> str:
        """A new session for the account; the token goes into the (signed) cookie."""
        token = secrets.token_urlsafe(32)
        await self.store.start(_digest(token), account_id, self.clock())
        return token

    async def account_of(self, token: str) -> int | None:
        """The account whose session this token is, while it stands; None once it ended,
        sat idle too long or grew too old."""
        session = await self.store.get(_digest(token))
        now = self.clock()
        if (
            session is None
            or session.ended_at is not None
            or now - session.seen_at > self.idle
            or now - session.created_at > self.absolute
        ):
            return None
        if now - session.seen_at >= TOUCH_EVERY:
            await self.store.touch(session.id, now)
        return session.account_id

    async def end(self, token: str) -> None:
        """End this session (log out)."""
        await self.store.end(_digest(token), self.clock())

    async def end_all(self, account_id: int) -> int:
        """End every session of the account (log out everywhere); how many were open."""
        return await self.store.end_all(account_id, self.clock())
