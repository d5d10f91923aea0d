"""Typed rows handed out of storage: frozen dataclasses, never dicts or live ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Account:
    """An account; `password_hash` never leaves the accounts service."""

    id: int
    username: str
    password_hash: str
    disabled: bool
    created_at: datetime
    is_admin: bool = False
    logins_unlocked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """A chat identity linked to an account."""

    id: int
    account_id: int
    platform: str
    platform_user_id: str
    display_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LinkCode:
    """A stored link code (by nonce); the signed code itself is never stored."""

    nonce: str
    purpose: str
    account_id: int | None
    platform: str | None
    platform_user_id: str | None
    display_name: str | None
    chat_id: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class ThreadState:
    """What a thread holds besides its messages."""

    summary: str | None
    summary_until: int  # the last message id the summary covers (0: none)
    context_notice_sent: bool  # the person was told that older messages left the context
    window_from: int = 0  # the first message id the context window may hold (0: any)


@dataclass(frozen=True, slots=True)
class ThreadSettings:
    """A thread's own model, persona and system prompt (None: not chosen)."""

    model: str | None = None
    persona: str | None = None
    system_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Tokens spent by one account or on one model since a moment."""

    name: str
    tokens: int
    calls: int
    cache_read_tokens: int = 0  # of `tokens`, input read from the provider's prompt cache
    cache_write_tokens: int = 0  # of `tokens`, input written to it


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One turn of a conversation thread."""

    id: int
    thread_id: int
    role: str
    content: str
    platform: str
    created_at: datetime
    images: int = 0  # images that came with it (see MediaStore)


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image of a message: re-encoded bytes and their size."""

    message_id: int
    position: int
    mime: str
    width: int
    height: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Upload:
    """A web upload waiting for its message."""

    id: str
    account_id: int
    kind: str
    name: str
    claimed_type: str
    data: bytes = field(repr=False)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts for `chatlink stats`."""

    accounts: int
    disabled_accounts: int
    identities_by_platform: dict[str, int]
    threads: int
    messages: int
    pending_link_codes: int
    database_bytes: int | None


@dataclass(frozen=True, slots=True)
class Invite:
    """An invite code's record (the code itself is never stored)."""

    id: int
    uses_left: int
    uses: int
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One admin action."""

    at: datetime
    actor: str
    action: str
    target: str


@dataclass(frozen=True, slots=True)
class AccountOverview:
    """An account as the admin page lists it."""

    account: Account
    identities: list[Identity]
    messages_today: int
    last_active: datetime | None


@dataclass(frozen=True, slots=True)
class WebSession:
    """A web session's record: whose it is, when it began, was last used, and ended."""

    id: str
    account_id: int
    created_at: datetime
    seen_at: datetime
    ended_at: datetime | None
