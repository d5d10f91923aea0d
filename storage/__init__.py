"""Persistence: async SQLAlchemy engine set-up, tables, queries and Alembic migrations.

Nothing outside this package writes SQL or imports SQLAlchemy; inside it, every difference
between SQLite and PostgreSQL lives in one backend object (storage.backends).
"""

from storage.accounts import AccountStore
from storage.connect import DatabaseUnavailable
from storage.database import Database
from storage.errors import (
    CodeNotAvailable,
    IdentityTaken,
    InviteNotAvailable,
    PlatformTaken,
    StorageError,
    UsernameTaken,
    database_failure,
)
from storage.invites import InviteStore
from storage.link_codes import LinkCodeStore
from storage.media import MediaStore
from storage.messages import MessageStore, NewImage
from storage.migrate import current_revision, head_revision, upgrade
from storage.records import (
    Account,
    AccountOverview,
    AuditEntry,
    Identity,
    Invite,
    LinkCode,
    Stats,
    StoredImage,
    StoredMessage,
    ThreadSettings,
    ThreadState,
    Upload,
    UsageTotal,
    WebSession,
)
from storage.sessions import SessionStore
from storage.stats import collect as collect_stats
from storage.thread_settings import ThreadSettingsStore, UsageStore

__all__ = [
    "Account",
    "AccountOverview",
    "AccountStore",
    "AuditEntry",
    "CodeNotAvailable",
    "Database",
    "DatabaseUnavailable",
    "Identity",
    "IdentityTaken",
    "Invite",
    "InviteNotAvailable",
    "InviteStore",
    "LinkCode",
    "LinkCodeStore",
    "MediaStore",
    "MessageStore",
    "NewImage",
    "PlatformTaken",
    "SessionStore",
    "Stats",
    "StorageError",
    "StoredImage",
    "StoredMessage",
    "ThreadSettings",
    "ThreadSettingsStore",
    "ThreadState",
    "Upload",
    "UsageStore",
    "UsageTotal",
    "UsernameTaken",
    "WebSession",
    "collect_stats",
    "current_revision",
    "database_failure",
    "head_revision",
    "upgrade",
]
