"""Token estimates, for context budgets and usage when a provider reports none.

No tokenizer is available offline for every model (tiktoken downloads its tables at run
time), so this counts about four characters per token, which errs on the side of caution
for English and is in the right range for most other text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.providers import Turn

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4  # role markers and separators


def estimate(text: str) -> int:
    """Tokens `text` probably takes."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_turns(turns: Sequence[Turn]) -> int:
    """Tokens a list of messages probably takes."""
    return sum(estimate(t.content) + PER_MESSAGE for t in turns)
