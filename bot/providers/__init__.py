"""Reply providers, chosen by LLM_PROVIDER."""

from __future__ import annotations

from bot.errors import ConfigError
from bot.providers.base import ReplyProvider, Turn
from bot.providers.echo import EchoProvider
from bot.settings import Settings

__all__ = ["EchoProvider", "ReplyProvider", "Turn", "make_provider"]

PROVIDERS = ("echo",)


def make_provider(settings: Settings) -> ReplyProvider:
    """The provider LLM_PROVIDER names; ConfigError naming the setting otherwise."""
    name = settings.llm_provider.strip().lower()
    if name == "echo":
        return EchoProvider()
    raise ConfigError(
        f"LLM_PROVIDER={settings.llm_provider!r} is not supported; choose one of: "
        + ", ".join(PROVIDERS)
    )
