"""The seam to a language model: given the history, stream the reply text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of the history handed to a provider; roles are "user" and "assistant"."""

    role: str
    content: str


class ReplyProvider(Protocol):
    """Something that writes replies. The last turn of `history` is the new user message."""

    name: str

    def stream(self, history: Sequence[Turn]) -> AsyncIterator[str]:
        """Yield the reply in pieces; joined, they are the whole reply."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
