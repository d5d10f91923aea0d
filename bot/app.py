"""Assembly of the core from settings: database, stores, services, provider."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from bot.accounts import AccountService, PasswordHasher, WebSessions
from bot.clock import Clock, utcnow
from bot.conversation import ChatCore, Memory, estimate
from bot.delivery import ChatSenders
from bot.errors import ConfigError
from bot.limits import Limiter, UsageLimits
from bot.linking import LinkCodeCodec, LinkService
from bot.messages import Platform
from bot.monitoring import Metrics
from bot.operations import AdminService
from bot.providers import Catalogue, ReplyProvider, build_catalogue
from bot.secret import load_secret_key
from bot.settings import Settings
from storage import (
    AccountStore,
    Database,
    InviteStore,
    LinkCodeStore,
    MessageStore,
    SessionStore,
    upgrade,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chatlink:
    """The assembled core, handed to the command line and to every adapter."""

    settings: Settings
    db: Database
    accounts: AccountService
    links: LinkService
    core: ChatCore
    senders: ChatSenders
    limiter: Limiter
    metrics: Metrics
    admin: AdminService
    sessions: WebSessions
    secret_key: str = field(repr=False)

    @property
    def catalogue(self) -> Catalogue:
        """The models and personas users may pick."""
        return self.core.catalogue


@asynccontextmanager
async def open_chatlink(
    settings: Settings,
    *,
    migrate: bool = True,
    clock: Clock = utcnow,
    provider: ReplyProvider | None = None,
    limiter: Limiter | None = None,
) -> AsyncIterator[Chatlink]:
    """Open the database (migrated unless told not to) and build the core around it.

    `clock` is the one wall clock of limits, usage, linking, accounts and memory. A `provider`
    or `limiter` passed in is used instead of the one the settings describe and stays the
    caller's to close; what is built here is closed here. On the way out, summaries still
    being made get SHUTDOWN_GRACE_S to finish and are then cancelled, so none runs into a
    closed provider or database.
    """
    secret_key = load_secret_key(settings)
    owns_limiter = limiter is None
    # One provider per model, SDK clients shared; a bad MODELS_FILE stops here, before the
    # database is touched.
    catalogue = build_catalogue(settings, provider)
    try:
        db = Database(settings.database_url)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"DATABASE_URL: {exc}") from None
    limiter = Limiter.from_url(settings.redis_url, clock=clock) if limiter is None else limiter
    hasher = PasswordHasher(max_queue=settings.login_queue_max)
    try:
        if migrate:
            await upgrade(db)
        account_store = AccountStore(db)
        invites = InviteStore(db)
        senders = ChatSenders()
        metrics = Metrics()
        accounts = AccountService(
            account_store,
            limiter,
            hasher=hasher,
            max_failures=settings.login_max_failures,
            lockout_minutes=settings.login_lockout_minutes,
            attempts_per_client_per_minute=settings.auth_attempts_per_minute,
            max_failures_per_username=settings.login_username_max_failures,
            registration=settings.registration,
            invites=invites,
            metrics=metrics,
            clock=clock,
        )
        link_codes = LinkCodeStore(db)
        links = LinkService(
            LinkCodeCodec(secret_key),
            link_codes,
            account_store,
            accounts,
            limiter,
            public_url=settings.public_url,
            ttl=timedelta(minutes=settings.link_code_ttl_minutes),
            max_pending=settings.link_codes_max_pending,
            requests_per_hour=settings.link_code_requests_per_hour,
            attempts_per_hour=settings.link_attempts_per_hour,
            senders=senders,
            metrics=metrics,
            clock=clock,
        )
        memory = Memory(
            MessageStore(db),
            max_messages=settings.history_max_messages,
            max_chars=settings.history_max_chars,
            # What the model may read: its window, less the reply and the system prompt.
            max_tokens=max(
                256,
                settings.llm_context_tokens
                - settings.llm_max_tokens
                - estimate(settings.llm_system_prompt),
            ),
            cache_bytes=settings.history_cache_mb * 1024 * 1024,
            clock=clock,
        )
        usage = UsageLimits(
            limiter,
            per_minute=settings.rate_limit_per_minute,
            daily_budget=settings.daily_token_budget,
            clock=clock,
        )
        core = ChatCore(
            account_store=account_store,
            links=links,
            memory=memory,
            catalogue=catalogue,
            usage=usage,
            system_prompt_max_chars=settings.system_prompt_max_chars,
            base_prompt_tokens=estimate(settings.llm_system_prompt),
            max_message_chars=settings.max_message_chars,
            summarize_memory=settings.memory_summary,
            metrics=metrics,
            allowed_groups={
                platform: {str(group) for group in groups}
                for platform, groups in (
                    (Platform.TELEGRAM, settings.telegram_allowed_chats),
                    (Platform.DISCORD, settings.discord_allowed_guilds),
                )
                if groups
            },
            # Every try may take LLM_TIMEOUT_S; a little more for the backoff between tries.
            reply_timeout_s=settings.llm_timeout_s * (settings.llm_max_retries + 1) + 2,
        )
        sessions = WebSessions(
            SessionStore(db),
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(days=settings.session_absolute_days),
            clock=clock,
        )
        admin = AdminService(
            accounts, account_store, invites, link_codes, usage, links, clock=clock
        )
        try:
            yield Chatlink(
                settings, db, accounts, links, core, senders, limiter, metrics, admin, sessions,
                secret_key,
            )  # fmt: skip
        finally:
            if cut := await core.idle(settings.shutdown_grace_s):
                log.warning(
                    "conversation summaries: %d cut off after SHUTDOWN_GRACE_S=%gs",
                    cut,
                    settings.shutdown_grace_s,
                )
            await memory.settle()
    finally:
        await catalogue.close()
        if owns_limiter:
            await limiter.close()
        hasher.close()
        await db.close()


async def migrate(settings: Settings) -> None:
    """Bring the database DATABASE_URL names to the newest schema (`chatlink migrate`)."""
    try:
        db = Database(settings.database_url)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"DATABASE_URL: {exc}") from None
    try:
        await upgrade(db)
    finally:
        await db.close()
