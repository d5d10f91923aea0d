"""The catalogue: every model users may pick, each with its provider, and the personas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.errors import ConfigError
from bot.providers.base import ReplyProvider
from bot.providers.echo import EchoProvider
from bot.providers.models_file import ModelSpec, Persona, load_models, load_personas
from bot.settings import Settings


class Catalogue:
    """The models (the default first) with one provider each, and the personas.

    Models on one server with one key share one SDK client, created here once.
    """

    def __init__(
        self,
        models: Sequence[tuple[ModelSpec, ReplyProvider]],
        personas: Sequence[Persona] = (),
        *,
        clients: Sequence[Any] = (),
        owned: Sequence[ReplyProvider] = (),
        from_file: bool = False,
    ) -> None:
        self.from_file = from_file
        self._models = {spec.name.lower(): (spec, provider) for spec, provider in models}
        self.default = models[0][0]
        self._personas = {persona.name.lower(): persona for persona in personas}
        self._clients = list(clients)
        self._owned = list(owned)

    @property
    def models(self) -> list[ModelSpec]:
        """Every model, the default first."""
        return [spec for spec, _ in self._models.values()]

    @property
    def personas(self) -> list[Persona]:
        """Every persona, in the file's order."""
        return list(self._personas.values())

    def model(self, name: str | None) -> ModelSpec | None:
        """The model of that name (any case), if there is one."""
        found = self._models.get((name or "").lower())
        return None if found is None else found[0]

    def persona(self, name: str | None) -> Persona | None:
        """The persona of that name (any case), if there is one."""
        return self._personas.get((name or "").lower())

    def provider(self, name: str) -> ReplyProvider:
        """The provider behind a model of the catalogue."""
        return self._models[name.lower()][1]

    def usable(self, is_admin: bool) -> list[ModelSpec]:
        """The models a person may pick: admin-only ones for admins alone."""
        return [spec for spec in self.models if is_admin or not spec.admin_only]

    async def close(self) -> None:
        """Close the providers and the shared clients built here."""
        for provider in self._owned:
            await provider.close()
        for client in self._clients:
            await client.close()


def legacy_spec(settings: Settings) -> ModelSpec:
    """Without MODELS_FILE, the one model the LLM_* settings describe."""
    provider = settings.llm_provider.strip().lower()
    model = settings.llm_model.strip()
    return ModelSpec(
        name=model if provider != "echo" and model else "echo",
        provider=provider,
        model=model or "echo",
        base_url=settings.llm_base_url,
        context_tokens=settings.llm_context_tokens,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        tools=settings.llm_tools,
        vision=settings.llm_vision,
        default=True,
    )


def build_catalogue(settings: Settings, provider: ReplyProvider | None = None) -> Catalogue:
    """The catalogue MODELS_FILE/PERSONAS_FILE (or the LLM_* settings) describe.

    A `provider` passed in answers for the default model and stays the caller's to close.
    """
    from bot.providers import make_provider

    if settings.models_file is None:
        spec = legacy_spec(settings)
        own = make_provider(settings) if provider is None else None
        serving = provider if provider is not None else own
        assert serving is not None
        personas = _personas(settings, {spec.name})
        return Catalogue([(spec, serving)], personas, owned=[own] if own is not None else [])
    specs = load_models(settings.models_file)
    personas = _personas(settings, {spec.name for spec in specs})
    clients: dict[tuple[str, str | None, str | None], Any] = {}
    owned: list[ReplyProvider] = []
    models = []
    for index, spec in enumerate(specs):
        if index == 0 and provider is not None:
            models.append((spec, provider))
            continue
        built = _provider(settings, spec, clients)
        owned.append(built)
        models.append((spec, built))
    return Catalogue(models, personas, clients=list(clients.values()), owned=owned, from_file=True)


def _personas(settings: Settings, models: set[str]) -> list[Persona]:
    if settings.personas_file is None:
        return []
    return load_personas(settings.personas_file, models)


def _provider(
    settings: Settings, spec: ModelSpec, clients: dict[tuple[str, str | None, str | None], Any]
) -> ReplyProvider:
    if spec.provider == "echo":
        return EchoProvider()
    key = spec.api_key()
    shared = (spec.provider, spec.base_url, key)
    common: dict[str, Any] = {
        "model": spec.model,
        "base_url": spec.base_url,
        "system_prompt": settings.llm_system_prompt,
        "max_tokens": spec.max_tokens,
        "timeout_s": settings.llm_timeout_s,
        "max_retries": settings.llm_max_retries,
    }
    if spec.provider == "openai":
        from bot.providers.openai_chat import OpenAIChatProvider
        from bot.providers.openai_client import openai_client

        if shared not in clients:
            clients[shared] = openai_client(
                key, spec.base_url, settings.llm_timeout_s, settings.llm_max_retries
            )
        return OpenAIChatProvider(
            api_key=key, temperature=spec.temperature, client=clients[shared], **common
        )
    if spec.provider == "anthropic":
        from anthropic import AsyncAnthropic

        from bot.providers.anthropic_messages import AnthropicProvider

        if key is None:  # load_models insists on api_key_env; the variable may have gone since
            raise ConfigError(f"MODELS_FILE: model {spec.name} needs its key variable set")
        if shared not in clients:
            clients[shared] = AsyncAnthropic(
                api_key=key,
                base_url=spec.base_url,
                timeout=settings.llm_timeout_s,
                max_retries=settings.llm_max_retries,
            )
        return AnthropicProvider(api_key=key, client=clients[shared], **common)
    raise ConfigError(f"MODELS_FILE: model {spec.name} has an unknown provider")
