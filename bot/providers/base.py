"""The seam to a language model: given the history, stream the reply text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Picture:
    """An image a user turn carries for a vision model: JPEG or PNG bytes, and their size."""

    mime: str
    data: bytes = field(repr=False)
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of the history handed to a provider; roles are "user" and "assistant".

    `images` go with a user turn to models that can see (see `content`)."""

    role: str
    content: str
    images: tuple[Picture, ...] = ()


@dataclass(slots=True)
class Usage:
    """Tokens a reply cost, filled in by providers whose API reports them.

    `input_tokens` counts every token of the prompt, cached or not; of those,
    `cache_read_tokens` were served from the provider's prompt cache and `cache_write_tokens`
    were written to it (Anthropic reports writes; OpenAI caches without saying so).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


class ReplyProvider(Protocol):
    """Something that writes replies. The last turn of `history` is the new user message."""

    name: str

    def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        """Yield the reply in pieces (joined, the whole reply); record the tokens in `usage`."""
        ...

    async def check(self) -> str:
        """Reach the endpoint once (for `chatlink doctor`); a short description on success."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class IncompleteReply(Exception):
    """The stream ended without the provider saying the reply was complete."""
