"""The chat commands of a thread's controls: /model /persona /system /usage /stop."""

from __future__ import annotations

from bot.conversation.controls import ThreadControls, UnknownChoice
from bot.conversation.memory import thread_key
from bot.errors import AccountDisabled, NotLinked
from bot.messages import IncomingMessage, Reply
from bot.providers import OFF
from storage import Account, UsageTotal

PROMPT_SHOWN_CHARS = 500


def _active(account: Account | None) -> Account:
    if account is None:
        raise NotLinked()
    if account.disabled:
        raise AccountDisabled()
    return account


class ThreadCommands:
    """Handlers for the controls; each acts on the sender's thread in this chat."""

    def __init__(self, controls: ThreadControls) -> None:
        self.controls = controls

    async def model(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """`/model` lists the models (the current one marked); `/model NAME` switches."""
        account = _active(account)
        key = thread_key(message)
        if args:
            try:
                picked = self.controls.pick_model(account, args).name
                choices = await self.controls.change(account, key, model=picked)
            except UnknownChoice as refusal:
                return [Reply.refused(refusal)]
            note = ""
            if choices.model.name != picked and choices.persona is not None:
                note = f" (persona {choices.persona.name} pins {choices.model.name} while it is on)"
            return [Reply(f"Model for this chat: {picked}.{note}")]
        current = (await self.controls.current(account, key)).model.name
        lines = [
            f"{'• ' if spec.name == current else '  '}{spec.name}"
            + (f": {spec.description}" if spec.description else "")
            + (" (current)" if spec.name == current else "")
            for spec in self.controls.models(account)
        ]
        buttons = tuple(f"/model {spec.name}" for spec in self.controls.models(account))
        return [
            Reply("Models:\n" + "\n".join(lines) + "\n\nSwitch with /model NAME.", choices=buttons)
        ]

    async def persona(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """`/persona` lists personas; `/persona NAME` applies one; `/persona off`."""
        account = _active(account)
        key = thread_key(message)
        if args:
            try:
                choices = await self.controls.change(account, key, persona=args)
            except UnknownChoice as refusal:
                return [Reply.refused(refusal)]
            if choices.persona is None:
                return [Reply("Persona off for this chat.")]
            return [Reply(f"Persona for this chat: {choices.persona.name}.")]
        personas = self.controls.personas()
        if not personas:
            return [Reply("No personas are configured.")]
        current = (await self.controls.current(account, key)).persona
        lines = [
            f"{'• ' if current is not None and p.name == current.name else '  '}{p.name}"
            + (f": {p.description}" if p.description else "")
            for p in personas
        ]
        buttons = (*(f"/persona {p.name}" for p in personas), f"/persona {OFF}")
        return [
            Reply(
                "Personas:\n" + "\n".join(lines) + "\n\nApply one with /persona NAME, "
                "or /persona off.",
                choices=buttons,
            )
        ]

    async def system(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """`/system TEXT` sets this chat's system prompt, `/system` shows it, `off` clears."""
        account = _active(account)
        key = thread_key(message)
        if not args:
            prompt = (await self.controls.current(account, key)).system_prompt
            if prompt is None:
                return [Reply("No custom system prompt in this chat. Set one with /system TEXT.")]
            shown = prompt if len(prompt) <= PROMPT_SHOWN_CHARS else prompt[:PROMPT_SHOWN_CHARS]
            return [Reply(f"System prompt for this chat:\n{shown}\n\n/system off clears it.")]
        choices = await self.controls.change(account, key, system_prompt=args)
        if choices.system_prompt is None:
            return [Reply("Custom system prompt cleared for this chat.")]
        return [Reply(f"System prompt set for this chat ({len(choices.system_prompt):,} chars).")]

    async def usage(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """Tokens today and the budget left, messages this minute, model and persona."""
        account = _active(account)
        view = await self.controls.usage_of(account, thread_key(message))
        tokens = f"{view.tokens_today:,}"
        if view.daily_budget is not None:
            left = max(0, view.daily_budget - view.tokens_today)
            tokens += f" of {view.daily_budget:,} ({left:,} left)"
        minute = (
            "no limit"
            if view.messages_this_minute is None
            else f"{view.messages_this_minute} of {view.per_minute}"
        )
        per_model = ", ".join(_model_usage(u) for u in view.by_model) or "none"
        cached = (
            f"\nOf them read from the prompt cache: {view.cache_read_today:,}"
            f" (written to it: {view.cache_write_today:,})."
            if view.cache_read_today or view.cache_write_today
            else ""
        )
        return [
            Reply(
                f"Tokens today: {tokens}.{cached}\nBy model today: {per_model}.\n"
                f"Messages this minute: {minute}.\nModel: {view.model}.\n"
                f"Persona: {view.persona or 'off'}.",
                private=True,
            )
        ]

    async def stop(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """Stop the reply being generated in this chat; nothing of it is stored."""
        account = _active(account)
        if await self.controls.stop(account, thread_key(message)):
            return [Reply("Stopping that reply.")]
        return [Reply("Nothing is being written in this chat right now.")]


def _model_usage(total: UsageTotal) -> str:
    if not total.cache_read_tokens:
        return f"{total.name} {total.tokens:,}"
    return f"{total.name} {total.tokens:,} ({total.cache_read_tokens:,} cached)"
