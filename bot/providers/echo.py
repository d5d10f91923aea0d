"""The offline provider: deterministic, and visibly using the conversation memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from bot.providers.base import Turn, Usage
from bot.providers.content import describe_images
from bot.providers.demo import DEMO_MARKDOWN
from bot.providers.tool_calls import ToolCall, ToolRequest, ToolSpec

QUOTE_CHARS = 200
DEMO_COMMAND = "demo markdown"  # a message starting so gets every construct the doors render
DEMO_TOOL = "demo tool"  # `demo tool NAME {json}`: call that tool, answer with its result
TOOLS_OFF = (
    "Tools are off for this model: mark it `tools = true` in MODELS_FILE (or set "
    "LLM_TOOLS=true) and point MCP_SERVERS_FILE at the servers."
)
TOOL_USAGE = (
    "Say `demo tool NAME {json arguments}`, for example `demo tool time.get_current_time {}`."
)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def echo_reply(history: Sequence[Turn]) -> str:
    """The echo provider's whole answer to `history`."""
    *earlier, current = [t for t in history if t.role != "system"]
    if current.content.strip().lower().startswith(DEMO_COMMAND):
        return DEMO_MARKDOWN
    if current.content.strip().lower().startswith(DEMO_TOOL):
        return TOOLS_OFF
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

    def stream_tools(
        self, history: Sequence[Turn], request: ToolRequest, usage: Usage
    ) -> AsyncIterator[str | ToolCall]:
        """`demo tool NAME {json}`: ask for that call, then answer with what it gave."""
        return self._demo_tool(history, request, usage)

    async def _demo_tool(
        self, history: Sequence[Turn], request: ToolRequest, usage: Usage
    ) -> AsyncIterator[str | ToolCall]:
        current = [t for t in history if t.role != "system"][-1].content.strip()
        if not current.lower().startswith(DEMO_TOOL):
            async for piece in self.stream(history, usage):
                yield piece
            return
        name, _, raw = current[len(DEMO_TOOL) :].strip().partition(" ")
        if not name:
            yield TOOL_USAGE
            return
        spec = _find(name, request.tools)
        if not request.rounds:
            yield ToolCall.parsed("demo-1", spec.name if spec else name, raw.strip() or "{}")
            return
        result = request.rounds[-1].results[0]
        title = spec.title if spec else name
        if result.is_error:
            yield f"{title} failed: {result.content}"
        else:
            yield f"{title} answered:\n\n```\n{result.content}\n```"

    async def check(self) -> str:
        """Nothing to reach."""
        return "echo (offline)"

    async def close(self) -> None:
        """Nothing to release."""


def _find(name: str, tools: Sequence[ToolSpec]) -> ToolSpec | None:
    # People type what /tools shows (server.tool); the model-facing name works too.
    return next((t for t in tools if name in (t.name, t.title)), None)
