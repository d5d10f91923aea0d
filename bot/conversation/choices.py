"""A thread's choices (model, persona, system prompt) resolved against the catalogue."""

from __future__ import annotations

from dataclasses import dataclass

from bot.providers import Catalogue, ModelSpec, Persona, ReplyProvider, Turn
from storage import ThreadSettings


@dataclass(frozen=True, slots=True)
class Choices:
    """What answers in a thread: the model, its provider, the persona and custom prompt."""

    model: ModelSpec
    provider: ReplyProvider
    persona: Persona | None
    system_prompt: str | None

    def system_turns(self) -> list[Turn]:
        """The persona's prompt and the thread's own, as one system turn after the base
        prompt (LLM_SYSTEM_PROMPT, which every provider sends first)."""
        parts = [p for p in (self.persona and self.persona.prompt, self.system_prompt) if p]
        return [Turn("system", "\n\n".join(parts))] if parts else []


def resolve(catalogue: Catalogue, stored: ThreadSettings, is_admin: bool) -> Choices:
    """The thread's choices; a name the catalogue no longer has (or no longer allows this
    person) falls back to the default, so an operator's edit never breaks a thread."""
    persona = catalogue.persona(stored.persona)
    wanted = persona.model if persona is not None and persona.model else stored.model
    model = catalogue.model(wanted)
    if model is None or (model.admin_only and not is_admin):
        model = catalogue.default
    return Choices(model, catalogue.provider(model.name), persona, stored.system_prompt)
