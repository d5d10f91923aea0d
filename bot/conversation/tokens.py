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
# An image: about one token per 750 pixels (Anthropic's published rule; OpenAI's tiles come
# out close), within the range those APIs charge for one image.
PIXELS_PER_TOKEN = 750
IMAGE_MIN_TOKENS = 85
IMAGE_MAX_TOKENS = 1600


def estimate(text: str) -> int:
    """Tokens `text` probably takes."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def image_tokens(width: int, height: int) -> int:
    """Tokens one image of that size probably takes."""
    tokens = math.ceil(width * height / PIXELS_PER_TOKEN)
    return min(IMAGE_MAX_TOKENS, max(IMAGE_MIN_TOKENS, tokens))


def _cost(turn: Turn) -> int:
    cost = estimate(turn.content) + PER_MESSAGE
    if turn.images:
        cost += sum(image_tokens(p.width, p.height) for p in turn.images)
    return cost


def estimate_turns(turns: Sequence[Turn]) -> int:
    """Tokens a list of messages probably takes, images included."""
    return sum(_cost(t) for t in turns)
