"""A reply provider the test scripts: each reply comes from the next queued provider, or the
default one, as FakeModel's plans do for the model servers. open_chatlink is given it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from bot.providers import EchoProvider, ReplyProvider, Turn, Usage


@dataclass
class ScriptedModel:
    """Answers each stream with `plans.pop(0)`, or with `default` when no plan is queued."""

    default: ReplyProvider = field(default_factory=EchoProvider)
    plans: list[ReplyProvider] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.default.name

    def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        provider = self.plans.pop(0) if self.plans else self.default
        return provider.stream(history, usage)

    async def check(self) -> str:
        return await self.default.check()

    async def close(self) -> None:
        await self.default.close()
