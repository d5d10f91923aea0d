"""The thread's controls, the same from every door: model, persona, system prompt, usage."""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversation.choices import Choices
from bot.conversation.memory import Memory
from bot.conversation.replying import Replier
from bot.errors import InputRejected
from bot.limits import UsageLimits
from bot.providers import OFF, Catalogue, ModelSpec, Persona
from storage import Account, UsageTotal


class UnknownChoice(InputRejected):
    """A model or persona name the person may not pick; the text lists what they may."""


@dataclass(frozen=True, slots=True)
class UsageView:
    """What /usage and GET /api/usage show."""

    tokens_today: int
    daily_budget: int | None
    messages_this_minute: int | None
    per_minute: int
    by_model: list[UsageTotal]
    model: str
    persona: str | None

    @property
    def cache_read_today(self) -> int:
        """Of today's input tokens, those read from the providers' prompt caches."""
        return sum(u.cache_read_tokens for u in self.by_model)

    @property
    def cache_write_today(self) -> int:
        """Of today's input tokens, those written to the providers' prompt caches."""
        return sum(u.cache_write_tokens for u in self.by_model)


class ThreadControls:
    """Reads and changes a thread's choices; bad input is refused and changes nothing."""

    def __init__(
        self,
        memory: Memory,
        replier: Replier,
        usage: UsageLimits,
        *,
        system_prompt_max_chars: int,
    ) -> None:
        self.memory = memory
        self.replier = replier
        self.catalogue: Catalogue = replier.catalogue
        self.usage = usage
        self.system_prompt_max_chars = system_prompt_max_chars

    async def current(self, account: Account, key: str) -> Choices:
        """The choices in force in the account's thread `key`."""
        thread_id = await self.memory.thread(account.id, key)
        return await self.replier.choices(account, thread_id)

    def models(self, account: Account) -> list[ModelSpec]:
        """The models this person may pick."""
        return self.catalogue.usable(account.is_admin)

    def personas(self) -> list[Persona]:
        """Every persona."""
        return self.catalogue.personas

    def pick_model(self, account: Account, name: str) -> ModelSpec:
        """The model of that name, if this person may use it; UnknownChoice otherwise."""
        spec = self.catalogue.model(name.strip())
        if spec is None or (spec.admin_only and not account.is_admin):
            names = ", ".join(m.name for m in self.models(account))
            raise UnknownChoice(f"There is no model {name.strip()!r} for you. Models: {names}.")
        return spec

    def pick_persona(self, name: str) -> Persona | None:
        """The persona of that name (None for `off`); UnknownChoice otherwise."""
        if name.strip().lower() == OFF:
            return None
        persona = self.catalogue.persona(name.strip())
        if persona is None:
            names = ", ".join(p.name for p in self.personas()) or "none configured"
            raise UnknownChoice(f"There is no persona {name.strip()!r}. Personas: {names}.")
        return persona

    def check_prompt(self, text: str) -> str | None:
        """A custom system prompt as stored (None: cleared); InputRejected when too long."""
        text = text.strip()
        if not text or text.lower() == OFF:
            return None
        if len(text) > self.system_prompt_max_chars:
            raise InputRejected(
                f"That system prompt is too long ({len(text):,} characters); the limit is "
                f"{self.system_prompt_max_chars:,}. Nothing changed."
            )
        return text

    async def change(
        self,
        account: Account,
        key: str,
        *,
        model: str | None = None,
        persona: str | None = None,
        system_prompt: str | None = None,
    ) -> Choices:
        """Apply the given changes together, after checking every one (all or nothing)."""
        values: dict[str, str | None] = {}
        if model is not None:
            # "" (or off) goes back to the catalogue's default.
            picked = None if model.strip().lower() in ("", OFF) else self.pick_model(account, model)
            values["model"] = None if picked is None else picked.name
        if persona is not None:
            chosen = self.pick_persona(persona)
            values["persona"] = None if chosen is None else chosen.name
        if system_prompt is not None:
            values["system_prompt"] = self.check_prompt(system_prompt)
        thread_id = await self.memory.thread(account.id, key)
        await self.replier.thread_settings.change(thread_id, **values)
        return await self.replier.choices(account, thread_id)

    async def stop(self, account: Account, key: str) -> bool:
        """Close the reply being generated in the thread, if any (on any replica)."""
        thread_id = await self.memory.thread(account.id, key)
        return await self.replier.stop(thread_id)

    async def usage_of(self, account: Account, key: str) -> UsageView:
        """Tokens today, the budget, messages this minute and the thread's choices."""
        choices = await self.current(account, key)
        today = await self.usage.today(account.id)
        minute = await self.usage.this_minute(account.id)
        await self.replier.usage_settled()  # the ledger rows of replies already given
        by_model = await self.replier.usage_store.by_model(
            self.usage.day_start(), account_id=account.id
        )
        return UsageView(
            tokens_today=today.tokens,
            daily_budget=today.budget,
            messages_this_minute=minute,
            per_minute=self.usage.per_minute,
            by_model=by_model,
            model=choices.model.name,
            persona=None if choices.persona is None else choices.persona.name,
        )
