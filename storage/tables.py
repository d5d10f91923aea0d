"""The schema: accounts, identities, link codes, conversation threads and messages.

Plain SQLAlchemy Core tables: nothing here is mapped to classes (the stores return frozen
records, storage.records), and declaring them as ORM classes cost start-up about 13 ms.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
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

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The metadata Alembic migrates (storage/migrations/env.py).
metadata = MetaData(naming_convention=NAMING)


# A person: a username and a password hash.
accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), unique=True, nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, default=False, server_default="0", nullable=False),
    Column("is_admin", Boolean, default=False, server_default="0", nullable=False),
    Column("created_at", DateTime, nullable=False),
    # Set by `chatlink user unlock`: failed logins counted before it no longer count.
    Column("logins_unlocked_at", DateTime, nullable=True),
)


# An invite code for REGISTRATION=invite: only its SHA-256 is stored.
invites = Table(
    "invites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_hash", String(64), unique=True, nullable=False),
    Column("uses_left", Integer, nullable=False),
    Column("uses", Integer, default=0, server_default="0", nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)


# Who did what to whom, and when (admin actions, from the web page or the CLI).
audit = Table(
    "audit",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), default="", server_default="", nullable=False),
    Index(None, "at"),
)


# A chat identity (platform, platform user id) linked to one account.
identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("platform_user_id", String(64), nullable=False),
    Column("display_name", String(128), default="", server_default="", nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("platform", "platform_user_id"),
    UniqueConstraint("account_id", "platform"),
)


# A one-time link code; `used_at` is set once, by a conditional UPDATE.
link_codes = Table(
    "link_codes",
    metadata,
    Column("nonce", String(32), primary_key=True),
    Column("purpose", String(16), nullable=False),
    # account-first codes name the account; chat-first codes name the asking identity.
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("platform", String(16), nullable=True),
    Column("platform_user_id", String(64), nullable=True),
    Column("display_name", String(128), nullable=True),
    Column("chat_id", String(64), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),
    Index(None, "account_id", "expires_at"),
    Index(None, "platform", "platform_user_id", "expires_at"),
)


# One conversation memory of one account: its private thread or one group's.
threads = Table(
    "threads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(160), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # Set once the person was told that older messages fell out of the model's context.
    Column("context_notice_sent", Boolean, default=False, server_default="0", nullable=False),
    # MEMORY_SUMMARY: older turns folded into text, up to and including message `summary_until`.
    Column("summary", Text, nullable=True),
    Column("summary_until", BigId, nullable=True),
    # The first message the model's context window may hold (NULL: from the start); moved in
    # blocks, so that requests share a prefix for many turns (bot/conversation/window.py).
    Column("window_from", BigId, nullable=True),
    # /model, /persona, /system: the thread's own choices (NULL: the catalogue's default).
    Column("model", String(64), nullable=True),
    Column("persona", String(64), nullable=True),
    Column("system_prompt", Text, nullable=True),
    UniqueConstraint("account_id", "key"),
)


# One stored turn; (thread_id, id) makes "latest N of a thread" an index range scan.
messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("thread_id", ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("platform", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # How many images came with it (their bytes are in `media`): a history read learns
    # which messages have any without a join.
    Column("images", Integer, default=0, server_default="0", nullable=False),
    Index(None, "thread_id", "id"),
    Index(None, "created_at"),
)


# An image of a message, re-encoded (JPEG or PNG, no metadata); goes with its message.
media = Table(
    "media",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # 0, 1 ... in the order they came
    Column("mime", String(32), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("message_id", "position"),
)


# A file uploaded through the web API, waiting for the message that names it.
uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("claimed_type", String(128), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index(None, "account_id", "created_at"),
)


# A logged-in web session: the cookie holds a random token, this row its SHA-256.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), index=True, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("seen_at", DateTime, nullable=False),
    Column("ended_at", DateTime, nullable=True),
)


# A message waiting for its turn in a thread: the lowest id goes first, on any replica.
turns = Table(
    "turns",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("thread_id", ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # The advisory-lock key held by the session of the replica that took the ticket: the
    # ticket counts while that lock is held (NULL: taken before owners were recorded).
    Column("owner", BigInteger, nullable=True),
    Index(None, "thread_id", "id"),
)


# Tokens one model call cost, by account and model (`chatlink stats`, `/usage`).
usage_records = Table(
    "usage_records",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("model", String(64), nullable=False),
    Column("tokens", BigInteger, nullable=False),
    # Of the input tokens: read from the provider's prompt cache, and written to it.
    Column("cache_read_tokens", BigInteger, default=0, server_default="0", nullable=False),
    Column("cache_write_tokens", BigInteger, default=0, server_default="0", nullable=False),
    Index(None, "at"),
    Index(None, "account_id", "at"),
)
