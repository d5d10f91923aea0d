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
from bot.delivery import ChatSenders, DoorHealth
from bot.errors import ConfigError
from bot.limits import Limiter, UsageLimits
from bot.linking import LinkCodeCodec, LinkService
from bot.media import MediaReader, make_transcriber
from bot.messages import Platform
from bot.monitoring import Metrics
from bot.operations import AdminService
from bot.providers import Catalogue, ReplyProvider, build_catalogue
from bot.secret import load_secret_key
from bot.settings import Settings
from bot.tools import ToolRegistry, load_servers
from storage import (
    AccountStore,
    Database,
    DatabaseUnavailable,
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
    # Doors configured but not serving yet (still connecting): /healthz reports them.
    doors: DoorHealth = field(default_factory=DoorHealth)

    @property
    def tools(self) -> ToolRegistry | None:
        """The MCP servers of MCP_SERVERS_FILE (None: no file)."""
        return self.core.replier.tools

    @property
    def catalogue(self) -> Catalogue:
        """The models and personas users may pick."""
        return self.core.catalogue


@asynccontextmanager
async def open_chatlink(
    settings: Settings,
    *,
    migrate: bool = True,
    create: bool = True,
    missing_ok: bool = False,
    clock: Clock = utcnow,
    provider: ReplyProvider | None = None,
    limiter: Limiter | None = None,
) -> AsyncIterator[Chatlink]:
    """Open the database (migrated unless told not to) and build the core around it.

    `clock` is the one wall clock of limits, usage, linking, accounts and memory. A `provider`
    or `limiter` passed in is used instead of the one the settings describe and stays the
    caller's to close; what is built here is closed here. On the way out, summaries still
    being made get SHUTDOWN_GRACE_S to finish and are then cancelled, so none runs into a
    closed provider or database. With `create` false a SQLite file that is not there yet is
    refused (ConfigError) instead of made, or, with `missing_ok`, left alone and unopened
    (`chatlink doctor` reports it).
    """
    # One provider per model, SDK clients shared; a bad MODELS_FILE stops here, before the
    # database is touched.
    catalogue = build_catalogue(settings, provider)
    try:
        # A bad MCP_SERVERS_FILE stops here too; its servers start once the core is built.
        servers = (
            [] if settings.mcp_servers_file is None else load_servers(settings.mcp_servers_file)
        )
        media = MediaReader(
            transcriber=make_transcriber(settings),
            image_max_side=settings.image_max_side,
            max_document_chars=settings.max_document_chars,
            max_voice_seconds=settings.max_voice_seconds,
        )
    except BaseException:
        await catalogue.close()
        raise
    try:
        db = await open_database(settings, create=create, migrate=migrate, missing_ok=missing_ok)
    except BaseException:
        await media.close()
        await catalogue.close()
        raise
    try:
        secret_key = load_secret_key(settings)
    except OSError as exc:
        await db.close()
        await media.close()
        await catalogue.close()
        raise ConfigError(f"cannot write the signing key into DATA_DIR: {exc.strerror}") from None
    owns_limiter = limiter is None
    limiter = Limiter.from_url(settings.redis_url, clock=clock) if limiter is None else limiter
    hasher = PasswordHasher(max_queue=settings.login_queue_max)
    try:
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
            max_images=settings.history_max_images,
            clock=clock,
        )
        tools = None
        if settings.mcp_servers_file is not None:
            tools = ToolRegistry(
                servers,
                timeout_s=settings.tool_timeout_s,
                result_max_chars=settings.tool_result_max_chars,
                max_steps=settings.tool_max_steps,
                metrics=metrics,
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
            media=media,
            allowed_groups={
                platform: {str(group) for group in groups}
                for platform, groups in (
                    (Platform.TELEGRAM, settings.telegram_allowed_chats),
                    (Platform.DISCORD, settings.discord_allowed_guilds),
                )
                if groups
            },
            reply_timeout_s=_reply_timeout(settings, tools),
            tools=tools,
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
            if tools is not None:
                await tools.start()
            yield Chatlink(
                settings, db, accounts, links, core, senders, limiter, metrics, admin, sessions,
                secret_key,
            )  # fmt: skip
        finally:
            try:
                if cut := await core.idle(settings.shutdown_grace_s):
                    log.warning(
                        "conversation summaries: %d cut off after SHUTDOWN_GRACE_S=%gs",
                        cut,
                        settings.shutdown_grace_s,
                    )
                await memory.settle()
            finally:
                if tools is not None:  # stdio servers stop with us
                    await tools.close()
    finally:
        await catalogue.close()
        await media.close()
        if owns_limiter:
            await limiter.close()
        hasher.close()
        await db.close()


def _reply_timeout(settings: Settings, tools: ToolRegistry | None) -> float:
    # Every try may take LLM_TIMEOUT_S; a little more for the backoff between tries. With
    # tools, a reply is up to TOOL_MAX_STEPS + 1 model calls and TOOL_MAX_STEPS rounds of calls.
    one_call = settings.llm_timeout_s * (settings.llm_max_retries + 1) + 2
    if tools is None or not tools.configured:
        return one_call
    longest = max(s.timeout_s or settings.tool_timeout_s for s in tools.servers)
    steps = settings.tool_max_steps
    return one_call * (steps + 1) + longest * steps


async def open_database(
    settings: Settings, *, create: bool, migrate: bool, missing_ok: bool = False
) -> Database:
    """The database DATABASE_URL names, answering and (if asked) migrated; every way that
    fails is a ConfigError of one line naming the setting and the fix."""
    try:
        db = Database(settings.database_url)
    except (ValueError, DatabaseUnavailable) as exc:
        text = f"DATABASE_URL: {exc}" if isinstance(exc, ValueError) else str(exc)
        raise ConfigError(text) from None
    try:
        if not create and not db.exists():
            if missing_ok:
                return db
            raise ConfigError(
                f"no database found at {db.sqlite_path}: run this in the folder that holds "
                "data/ (or set DATA_DIR or DATABASE_URL to it); `chatlink migrate` makes a "
                "new one"
            )
        await db.open_check()
        if migrate:
            await db.guarded(upgrade(db))
    except BaseException as exc:
        await db.close()
        if isinstance(exc, DatabaseUnavailable):
            raise ConfigError(str(exc)) from None
        raise
    return db


async def migrate(settings: Settings) -> list[str]:
    """Bring the database DATABASE_URL names to the newest schema (`chatlink migrate`); the
    revisions applied, oldest first."""
    db = await open_database(settings, create=True, migrate=False)
    try:
        return await db.guarded(upgrade(db))
    except DatabaseUnavailable as exc:
        raise ConfigError(str(exc)) from None
    finally:
        await db.close()
