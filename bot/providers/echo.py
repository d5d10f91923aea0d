"""The offline provider: deterministic, and visibly using the conversation memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from bot.providers.base import Turn, Usage
from bot.providers.content import describe_images
from bot.providers.demo import DEMO_MARKDOWN

QUOTE_CHARS = 200
DEMO_COMMAND = "demo markdown"  # a message starting so gets every construct the doors render


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def echo_reply(history: Sequence[Turn]) -> str:
    """The echo provider's whole answer to `history`."""
    *earlier, current = [t for t in history if t.role != "system"]
    if current.content.strip().lower().startswith(DEMO_COMMAND):
        return DEMO_MARKDOWN
    lines = [f"Echo: {current.content}"] if current.content or not current.images else []
    lines += [f"(I got {image}.)" for image in describe_images(current)]
    if not earlier:
        lines.append("(This is the start of our conversation; I remember nothing before it.)")
    else:
        count = len(earlier)
        lines.append(f"(I remember {count} earlier message{'s' if count != 1 else ''} here.)")
        previous = next((t for t in reversed(earlier) if t.role == "user"), None)
        if previous is not None:
            lines.append(f'(Before this you said: "{_quote(previous.content)}")')
    return "\n".join(lines)


class EchoProvider:
    """Echoes the message and says what it remembers; needs no network."""

    name = "echo"

    async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
        """Yield the reply line by line, like a model streaming tokens."""
        text = echo_reply(history)
        lines = text.split("\n")
        for index, line in enumerate(lines):
            yield line + ("\n" if index < len(lines) - 1 else "")

    async def check(self) -> str:
        """Nothing to reach."""
        return "echo (offline)"

    async def close(self) -> None:
        """Nothing to release."""
