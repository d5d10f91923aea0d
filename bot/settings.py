"""The one settings object, read once from the environment and `.env`."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_KEY_BYTES = 32
# Where the web app serves the Telegram webhook; TELEGRAM_WEBHOOK_URL's path must be this.
TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
# Settings an older chatlink read, and what took their place: still set, they earn a warning.
RETIRED = {
    "telegram_webhook_port": "the Telegram webhook now arrives on WEB_PORT at "
    f"{TELEGRAM_WEBHOOK_PATH}; point your proxy there",
    "telegram_webhook_listen": "the Telegram webhook now arrives on WEB_HOST:WEB_PORT at "
    f"{TELEGRAM_WEBHOOK_PATH}; point your proxy there",
}

# Variables with a setting's prefix that other programs own: never warned about.
NOT_OURS = {"log_level_root", "web_concurrency", "max_jobs", "data_home"}


class Settings(BaseSettings):
    """Every setting chatlink reads; each is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    data_dir: Path = Path("./data")
    # Unset: a SQLite file in DATA_DIR (sqlite+aiosqlite:///./data/chatlink.db by default).
    database_url: str = ""
    secret_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_token: SecretStr | None = None
    # uvloop where installed (auto), or asyncio's own loop (adapters.cli.event_loop).
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # On Ctrl-C or SIGTERM: how long replies in flight may take before they are cut off.
    shutdown_grace_s: float = Field(10.0, ge=0, le=3600)

    llm_provider: str = "echo"
    llm_base_url: str | None = None
    llm_model: str = ""
    llm_api_key: SecretStr | None = None
    llm_system_prompt: str = (
        "You are a helpful assistant in a chat app. Answer concisely in plain text."
    )
    llm_temperature: float = Field(0.7, ge=0, le=2)
    llm_max_tokens: int = Field(1024, ge=1, le=1_000_000)
    llm_timeout_s: float = Field(60.0, gt=0, le=3600)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_context_tokens: int = Field(8192, ge=256, le=10_000_000)
    llm_vision: bool = False  # the one model reads images (MODELS_FILE: `vision = true`)
    llm_tools: bool = False  # the one model calls tools (MODELS_FILE: `tools = true`)

    # Models, personas and per-thread controls (/model, /persona, /system).
    # Unset MODELS_FILE: the LLM_* settings above make the one model.
    models_file: Path | None = None
    personas_file: Path | None = None
    system_prompt_max_chars: int = Field(4000, ge=1, le=100_000)

    # Images, voice notes and documents that come with a message.
    max_attachment_mb: float = Field(10.0, gt=0, le=1024)
    image_max_side: int = Field(2048, ge=64, le=16_384)
    history_max_images: int = Field(4, ge=0, le=100)
    max_document_chars: int = Field(50_000, ge=100, le=10_000_000)
    max_voice_seconds: int = Field(300, ge=1, le=24 * 3600)
    download_timeout_s: float = Field(60.0, gt=0, le=3600)
    stt_provider: Literal["none", "openai"] = "none"
    stt_base_url: str | None = None
    stt_model: str = "whisper-1"
    stt_api_key: SecretStr | None = None
    stt_timeout_s: float = Field(60.0, gt=0, le=3600)

    # Tools for the model through MCP servers.
    mcp_servers_file: Path | None = None
    tool_max_steps: int = Field(5, ge=1, le=50)
    tool_timeout_s: float = Field(30.0, gt=0, le=3600)
    tool_result_max_chars: int = Field(20_000, ge=100, le=10_000_000)

    memory_summary: bool = False
    retention_days: int | None = Field(None, ge=1)

    rate_limit_per_minute: int = Field(20, ge=0)
    daily_token_budget: int | None = Field(None, ge=1)
    redis_url: str | None = None

    max_message_chars: int = Field(8000, ge=1, le=1_000_000)
    history_max_messages: int = Field(20, ge=1, le=1000)
    history_max_chars: int = Field(16_000, ge=100)
    history_cache_mb: int = Field(64, ge=0)

    link_code_ttl_minutes: int = Field(10, ge=1, le=7 * 24 * 60)
    link_codes_max_pending: int = Field(3, ge=1, le=100)
    link_code_requests_per_hour: int = Field(10, ge=1)
    link_attempts_per_hour: int = Field(20, ge=1)

    registration: Literal["open", "invite", "closed"] = "open"
    login_max_failures: int = Field(5, ge=1)
    login_lockout_minutes: int = Field(15, ge=1)
    auth_attempts_per_minute: int = Field(20, ge=1)

    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = Field(8000, ge=0, le=65535)
    token_expire_minutes: int = Field(60, ge=1, le=60 * 24 * 365)
    max_request_bytes: int = Field(65_536, ge=1024)

    # Hardening of the web door (issue 18).
    session_idle_minutes: int = Field(7 * 24 * 60, ge=1, le=365 * 24 * 60)
    session_absolute_days: int = Field(30, ge=1, le=365)
    # Host names the web door answers to; empty: PUBLIC_URL's host, WEB_HOST, localhost, 127.0.0.1.
    allowed_hosts: Annotated[list[str], NoDecode] = []
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed; empty: none.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = []
    login_queue_max: int = Field(8, ge=1, le=10_000)
    login_username_max_failures: int = Field(50, ge=1)
    web_max_connections: int = Field(1000, ge=1, le=1_000_000)
    web_header_timeout_s: float = Field(10.0, gt=0, le=600)
    web_max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)

    telegram_bot_token: SecretStr | None = None
    telegram_allowed_chats: Annotated[list[int], NoDecode] = []
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_concurrent_updates: int = Field(256, ge=1, le=4096)
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_file_base_url: str = "https://api.telegram.org/file/bot"
    discord_bot_token: SecretStr | None = None
    discord_allowed_guilds: Annotated[list[int], NoDecode] = []
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    discord_guild_ids: Annotated[list[int], NoDecode] = []
    discord_message_content: bool = False
    discord_shard_count: int | None = Field(None, ge=1)
    discord_shard_ids: Annotated[list[int], NoDecode] = []
    discord_cdn_hosts: Annotated[list[str], NoDecode] = [
        "cdn.discordapp.com",
        "media.discordapp.net",
    ]

    _retired: list[str] = PrivateAttr(default_factory=list)
    _unknown: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _note_retired(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        # The environment's own extras never reach `data` (only those of the .env file do).
        given = {str(key).lower() for key in data} if isinstance(data, dict) else set()
        given |= {key.lower() for key in os.environ}
        settings = handler(data)
        settings._retired = sorted(given & RETIRED.keys())
        known = set(cls.model_fields)
        prefixes = {name.split("_")[0] + "_" for name in known}
        settings._unknown = sorted(
            name
            for name in given - known - RETIRED.keys()
            if name.startswith(tuple(prefixes)) and name not in NOT_OURS
        )
        return settings

    def misspelled(self) -> list[str]:
        """One line for each variable that looks like a setting (a known prefix) but is none,
        with the closest real name: a misspelled setting is otherwise silently ignored."""
        lines = []
        for name in self._unknown:
            close = difflib.get_close_matches(name, type(self).model_fields, n=1, cutoff=0.6)
            hint = f": did you mean {close[0].upper()}?" if close else " (see .env.example)"
            lines.append(f"{name.upper()} is not a chatlink setting and is ignored{hint}")
        return lines

    def retired(self) -> list[str]:
        """One line for each setting still given that chatlink no longer reads."""
        return [f"{name.upper()} is no longer read: {RETIRED[name]}" for name in self._retired]

    @field_validator(
        "secret_key",
        "telegram_bot_token",
        "telegram_webhook_secret",
        "telegram_webhook_url",
        "discord_bot_token",
        "llm_api_key",
        "llm_base_url",
        "redis_url",
        "metrics_token",
        "discord_shard_count",
        "daily_token_budget",
        "retention_days",
        "models_file",
        "personas_file",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes; generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
            )
        return value

    @field_validator(
        "discord_guild_ids",
        "discord_shard_ids",
        "telegram_allowed_chats",
        "discord_allowed_guilds",
        mode="before",
    )
    @classmethod
    def _comma_separated_ids(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return [int(part) for part in value.replace(" ", "").split(",") if part]
            except ValueError:
                raise ValueError("a comma-separated list of numeric ids is expected") from None
        return value

    @field_validator("allowed_hosts", "forwarded_allow_ips", "discord_cdn_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or network"
                ) from None
        return value

    def trusted_hosts(self) -> list[str]:
        """ALLOWED_HOSTS, or its default: PUBLIC_URL's host, WEB_HOST, localhost, 127.0.0.1."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        hosts = [urlsplit(self.public_url).hostname or "", self.web_host, "localhost", "127.0.0.1"]
        # Telegram posts its webhook to the host it was given, which may be another name.
        hosts.append(urlsplit(self.telegram_webhook_url or "").hostname or "")
        # An IPv6 address is compared as it appears in Host: in brackets.
        return [f"[{host}]" if ":" in host else host for host in dict.fromkeys(hosts) if host]

    # --- operators (issue #19): token shapes checked before any call -------------------
    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[0-9]+:[A-Za-z0-9_-]+", value.get_secret_value().strip()
        ):
            raise ValueError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then "
                "letters and digits): copy it whole from @BotFather"
            )
        return value

    @field_validator("discord_bot_token")
    @classmethod
    def _discord_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", value.get_secret_value().strip()
        ):
            raise ValueError(
                "DISCORD_BOT_TOKEN does not look like a bot token (three parts joined by dots, "
                "without 'Bot '): copy it from the developer portal's Bot page"
            )
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_alphabet(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> Settings:
        if (
            self.telegram_bot_token is not None
            and self.telegram_mode == "webhook"
            and not self.telegram_webhook_url
        ):
            raise ValueError(
                "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_URL (the https:// address Telegram "
                "posts updates to)"
            )
        return self

    @model_validator(mode="after")
    def _webhook_is_a_web_route(self) -> Settings:
        if self.telegram_bot_token is None or self.telegram_mode != "webhook":
            return self
        if not self.web_enabled:
            raise ValueError(
                "TELEGRAM_MODE=webhook needs WEB_ENABLED=true: the webhook is served on WEB_PORT "
                f"at {TELEGRAM_WEBHOOK_PATH}"
            )
        path = urlsplit(self.telegram_webhook_url or "").path
        if path != TELEGRAM_WEBHOOK_PATH:
            raise ValueError(
                f"TELEGRAM_WEBHOOK_URL's path must be {TELEGRAM_WEBHOOK_PATH} (where WEB_PORT "
                f"serves the webhook), not {path or '/'}"
            )
        return self

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.discord_shard_ids:
            count = self.discord_shard_count
            if count is None:
                raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT")
            if any(not 0 <= shard < count for shard in self.discord_shard_ids):
                raise ValueError(f"DISCORD_SHARD_IDS must be between 0 and {count - 1}")
        return self

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url.strip():
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir.as_posix()}/chatlink.db"
        return self

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_URL must start with http:// or https://")
        return value.rstrip("/")
