"""Reply providers: the catalogue of MODELS_FILE, or the one model LLM_PROVIDER names."""

from __future__ import annotations

from bot.errors import ConfigError
from bot.providers.base import Picture, ReplyProvider, Turn, Usage
from bot.providers.catalogue import Catalogue, build_catalogue, legacy_spec
from bot.providers.demo import DEMO_MARKDOWN
from bot.providers.echo import EchoProvider
from bot.providers.failures import describe_failure
from bot.providers.models_file import OFF, PROVIDERS, ModelSpec, Persona
from bot.providers.tool_calls import (
    ToolCall,
    ToolingProvider,
    ToolRequest,
    ToolResult,
    ToolRound,
    ToolSpec,
)
from bot.settings import Settings

__all__ = [
    "DEMO_MARKDOWN",
    "OFF",
    "Catalogue",
    "EchoProvider",
    "ModelSpec",
    "Persona",
    "Picture",
    "ReplyProvider",
    "ToolCall",
    "ToolRequest",
    "ToolResult",
    "ToolRound",
    "ToolSpec",
    "ToolingProvider",
    "Turn",
    "Usage",
    "build_catalogue",
    "describe_failure",
    "legacy_spec",
    "make_provider",
]


def make_provider(settings: Settings) -> ReplyProvider:
    """The provider LLM_PROVIDER names; ConfigError naming the missing or wrong setting."""
    name = settings.llm_provider.strip().lower()
    if name == "echo":
        return EchoProvider()
    if name not in PROVIDERS:
        raise ConfigError(
            f"LLM_PROVIDER={settings.llm_provider!r} is not supported; choose one of: "
            + ", ".join(PROVIDERS)
        )
    if not settings.llm_model.strip():
        raise ConfigError(f"LLM_PROVIDER={name} needs LLM_MODEL (the model name to ask for).")
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    model = settings.llm_model.strip()
    if name == "openai":
        if key is None and settings.llm_base_url is None:
            raise ConfigError(
                "LLM_PROVIDER=openai needs LLM_API_KEY (or LLM_BASE_URL for a local server "
                "such as Ollama that takes no key)."
            )
        from bot.providers.openai_chat import OpenAIChatProvider

        return OpenAIChatProvider(
            model=model,
            api_key=key,
            base_url=settings.llm_base_url,
            system_prompt=settings.llm_system_prompt,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
        )
    if key is None:
        raise ConfigError("LLM_PROVIDER=anthropic needs LLM_API_KEY.")
    from bot.providers.anthropic_messages import AnthropicProvider

    return AnthropicProvider(
        model=model,
        api_key=key,
        base_url=settings.llm_base_url,
        system_prompt=settings.llm_system_prompt,
        max_tokens=settings.llm_max_tokens,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
    )
