"""The schema: accounts, identities, link codes, conversation threads and messages."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base holding the metadata that Alembic migrates."""

    metadata = MetaData(naming_convention=NAMING)


class AccountRow(Base):
    """A person: a username and a password hash."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Set by `chatlink user unlock`: failed logins counted before it no longer count.
    logins_unlocked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class InviteRow(Base):
    """An invite code for REGISTRATION=invite: only its SHA-256 is stored."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    uses_left: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AuditRow(Base):
    """Who did what to whom, and when (admin actions, from the web page or the CLI)."""

    __tablename__ = "audit"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="", server_default="")


class IdentityRow(Base):
    """A chat identity (platform, platform user id) linked to one account."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("platform", "platform_user_id"),
        UniqueConstraint("account_id", "platform"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LinkCodeRow(Base):
    """A one-time link code; `used_at` is set once, by a conditional UPDATE."""

    __tablename__ = "link_codes"
    __table_args__ = (
        Index(None, "account_id", "expires_at"),
        Index(None, "platform", "platform_user_id", "expires_at"),
    )

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    # account-first codes name the account; chat-first codes name the asking identity.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True
    )
    platform: Mapped[str | None] = mapped_column(String(16), nullable=True)
    platform_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    chat_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ThreadRow(Base):
    """One conversation memory of one account: its private thread or one group's."""

    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Set once the person was told that older messages fell out of the model's context.
    context_notice_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # MEMORY_SUMMARY: older turns folded into text, up to and including message `summary_until`.
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary_until: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # The first message the model's context window may hold (NULL: from the start); moved in
    # blocks, so that requests share a prefix for many turns (bot/conversation/window.py).
    window_from: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # /model, /persona, /system: the thread's own choices (NULL: the catalogue's default).
    model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    persona: Mapped[str | None] = mapped_column(String(64), nullable=True)
    system_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)


class MessageRow(Base):
    """One stored turn; (thread_id, id) makes "latest N of a thread" an index range scan."""

    __tablename__ = "messages"
    __table_args__ = (Index(None, "thread_id", "id"), Index(None, "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # How many images came with it (their bytes are in `media`): a history read learns
    # which messages have any without a join.
    images: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class MediaRow(Base):
    """An image of a message, re-encoded (JPEG or PNG, no metadata); goes with its message."""

    __tablename__ = "media"
    __table_args__ = (UniqueConstraint("message_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("messages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0, 1 ... in the order they came
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class UploadRow(Base):
    """A file uploaded through the web API, waiting for the message that names it."""

    __tablename__ = "uploads"
    __table_args__ = (Index(None, "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    claimed_type: Mapped[str] = mapped_column(String(128))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WebSessionRow(Base):
    """A logged-in web session: the cookie holds a random token, this row its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime)
    seen_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class TurnRow(Base):
    """A message waiting for its turn in a thread: the lowest id goes first, on any replica."""

    __tablename__ = "turns"
    __table_args__ = (Index(None, "thread_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # The advisory-lock key held by the session of the replica that took the ticket: the
    # ticket counts while that lock is held (NULL: taken before owners were recorded).
    owner: Mapped[int | None] = mapped_column(BigInteger)


class UsageRow(Base):
    """Tokens one model call cost, by account and model (`chatlink stats`, `/usage`)."""

    __tablename__ = "usage_records"
    __table_args__ = (Index(None, "at"), Index(None, "account_id", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(64))
    tokens: Mapped[int] = mapped_column(BigInteger)
    # Of the input tokens: read from the provider's prompt cache, and written to it.
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


metadata = Base.metadata
accounts = cast(Table, AccountRow.__table__)
invites = cast(Table, InviteRow.__table__)
audit = cast(Table, AuditRow.__table__)
identities = cast(Table, IdentityRow.__table__)
link_codes = cast(Table, LinkCodeRow.__table__)
threads = cast(Table, ThreadRow.__table__)
messages = cast(Table, MessageRow.__table__)
media = cast(Table, MediaRow.__table__)
uploads = cast(Table, UploadRow.__table__)
turns = cast(Table, TurnRow.__table__)
web_sessions = cast(Table, WebSessionRow.__table__)
usage_records = cast(Table, UsageRow.__table__)
