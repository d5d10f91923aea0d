"""The context window: which of a thread's latest messages the model reads, moved in blocks.

The window is bounded three ways: HISTORY_MAX_MESSAGES messages, HISTORY_MAX_CHARS characters
and the model's token budget (LLM_CONTEXT_TOKENS, or the model's `context_tokens`, less the
reply, the system prompts and the summary). Sliding it by one exchange each turn would change
the start of every request, and providers cache prompts by their prefix (see
bot/providers/prompt_cache.py), so the window moves in blocks instead:

1. Its start is stored with the thread (`window_from`, a message id; the message after the
   summary's last, with MEMORY_SUMMARY). Each turn the model reads every message from the
   start on, as long as they fit all three bounds: new messages are only appended, and the
   request begins with the whole of the previous one.
2. When they no longer fit, the start jumps forward at once, to the oldest user message from
   which the rest fit half of each bound (`LOW_SHARE`); the next several turns only append
   again. The budget is checked every turn, so it is never exceeded (except by a newest
   message that is alone too long, which always stays, as before).
3. With MEMORY_SUMMARY, the oldest block is folded into the summary one turn ahead: once
   another exchange as long as the last one would not fit, the messages before the start
   that step 2 would choose are summarised after the reply (the summary asked for at the end
   of the conversation just sent, which the prompt cache holds), and on the next turn the
   window starts after the new summary. So the summary and the window's start change together, in
   one turn per block. (Should the summary not be ready, step 2 applies regardless.)

Averaged over a cycle the window holds between half and all of its bounds (about three
quarters); in exchange, most of each request is a prefix the previous request already sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.conversation.tokens import PER_MESSAGE, estimate
from storage import StoredMessage

LOW_SHARE = 0.5  # what a window holds, at most, right after its start moved


@dataclass(frozen=True, slots=True)
class Bounds:
    """The most a window may hold: messages, characters and estimated tokens."""

    messages: int
    chars: int
    tokens: int

    def share(self, part: float) -> Bounds:
        """These bounds scaled down to `part` of themselves (at least one message)."""
        return Bounds(
            max(1, int(self.messages * part)), int(self.chars * part), int(self.tokens * part)
        )


@dataclass(frozen=True, slots=True)
class Window:
    """Where the window starts (an index into the messages given), whether it moved there
    this turn, and where a summary fold ahead would cut (None: not yet due)."""

    start: int
    moved: bool
    fold_at: int | None


def fits(messages: Sequence[StoredMessage], bounds: Bounds) -> bool:
    """Whether the messages fit every bound."""
    return (
        len(messages) <= bounds.messages
        and sum(len(m.content) for m in messages) <= bounds.chars
        and sum(estimate(m.content) + PER_MESSAGE for m in messages) <= bounds.tokens
    )


def cut(messages: Sequence[StoredMessage], bounds: Bounds) -> int:
    """Where to start so that the rest fits `bounds`: the oldest such user message (the
    newest message always stays)."""
    chars = tokens = 0
    start = len(messages) - 1
    for index in range(len(messages) - 1, -1, -1):
        chars += len(messages[index].content)
        tokens += estimate(messages[index].content) + PER_MESSAGE
        count = len(messages) - index
        if count > bounds.messages or chars > bounds.chars or tokens > bounds.tokens:
            break
        start = index
    while start < len(messages) - 1 and messages[start].role != "user":
        start += 1
    return start


def place(messages: Sequence[StoredMessage], from_id: int, bounds: Bounds) -> Window:
    """The window over a thread's latest messages (oldest first, at least one more than
    `bounds.messages` when the thread has them) whose stored start is `from_id`."""
    first = next((i for i, m in enumerate(messages) if m.id >= from_id), len(messages))
    first = min(first, max(0, len(messages) - 1))
    held = messages[first:]
    if not fits(held, bounds):
        return Window(first + cut(held, bounds.share(LOW_SHARE)), True, None)
    if fits([*held, *held[-2:]], bounds):  # room for another exchange like the last
        return Window(first, False, None)
    ahead = first + cut(held, bounds.share(LOW_SHARE))
    return Window(first, False, ahead if ahead > first else None)
