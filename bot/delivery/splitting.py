"""Splitting a long reply into messages a platform accepts."""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], int]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the way Telegram counts its 4096-character limit."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """Pieces of at most `limit` (as `measure` counts), joining back to exactly `text`.

    Cuts after a paragraph break if one is in reach, else after a line break, else after a
    space, else between characters; a Python character is never cut, so neither is a
    UTF-16 surrogate pair.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    pieces: list[str] = []
    rest = text
    while measure(rest) > limit:
        fit = _longest_prefix(rest, limit, measure)
        window = rest[:fit]
        cut = 0
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at > 0:
                cut = at + len(separator)
                break
        if cut == 0:
            cut = fit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _longest_prefix(text: str, limit: int, measure: Measure) -> int:
    # Binary search: the most characters whose measure stays within the limit.
    low, high = 1, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low
