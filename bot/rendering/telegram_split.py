"""Telegram messages from rendered text: at most 4096 UTF-16 units each, entities whole.

Cuts fall on a paragraph, line or word boundary outside every entity; only a span longer
than a message (a long code block, mostly) is cut, and each piece keeps its own complete
entity (a code block becomes several complete `pre` blocks, each with its language).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from bot.delivery import split_text, utf16_length
from bot.rendering.telegram import Marked, Span, to_telegram, to_telegram_draft

MESSAGE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Entity:
    """A Telegram MessageEntity: offset and length in UTF-16 code units."""

    type: str
    offset: int
    length: int
    language: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Formatted:
    """One Telegram message: its text and entities (sent as `entities`, no parse mode)."""

    text: str
    entities: tuple[Entity, ...] = ()


def telegram_messages(
    markdown: str, limit: int = MESSAGE_LIMIT, *, draft: bool = False
) -> list[Formatted]:
    """The model's Markdown as Telegram messages; `draft` for a reply still streaming."""
    if not might_format(markdown):
        return [Formatted(part) for part in split_text(markdown, limit, utf16_length)]
    marked = (to_telegram_draft if draft else to_telegram)(markdown)
    if not marked.spans:
        # Nothing to format: the text goes out exactly as written, split as it always was.
        return [Formatted(part) for part in split_text(markdown, limit, utf16_length)]
    return split_marked(marked, limit)


# Every construct that gives a span (emphasis, code, links, strikethrough, headings, quotes,
# tables, fences) needs one of these; an indented code block needs a line opening with
# four spaces. Text with none of them renders with no span, so it goes out as written.
_MARKUP = frozenset("*_`[]<>~#|=-\t\\")


def might_format(text: str) -> bool:
    """Whether `text` may hold Markdown that renders with formatting (False: surely not,
    so the parse can be skipped: most short replies and every notice)."""
    return not _MARKUP.isdisjoint(text) or "\n    " in text or text.startswith("    ")


def split_marked(marked: Marked, limit: int = MESSAGE_LIMIT) -> list[Formatted]:
    """Messages of at most `limit` UTF-16 units that together read as `marked`."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    text = marked.text
    # units[i]: UTF-16 units before character i.
    units = [0]
    for ch in text:
        units.append(units[-1] + (2 if ord(ch) > 0xFFFF else 1))
    parts: list[Formatted] = []
    start = 0
    while start < len(text):
        # The furthest end whose piece fits.
        fit = bisect.bisect_right(units, units[start] + limit) - 1
        end = len(text) if fit >= len(text) else _cut(text, start, fit, marked.spans)
        piece = _piece(text, units, marked.spans, start, end)
        if piece.text:
            parts.append(piece)
        start = end
    return parts or [Formatted(text)]


def _cut(text: str, start: int, fit: int, spans: tuple[Span, ...]) -> int:
    def inside(at: int) -> bool:
        return any(s.start < at < s.end for s in spans)

    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, start, fit)
        while at > start:
            cut = at + len(separator)
            if cut <= fit and not inside(cut):
                return cut
            at = text.rfind(separator, start, at)
    # No boundary outside an entity: a span longer than a message is cut, on a line if it can.
    for separator in ("\n", " "):
        at = text.rfind(separator, start, fit)
        if at > start:
            return at + 1
    return fit


def _piece(text: str, units: list[int], spans: tuple[Span, ...], start: int, end: int) -> Formatted:
    # Telegram trims a message's outer whitespace: trim here so the entities stay in place.
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    entities = []
    for span in spans:
        lo, hi = max(span.start, start), min(span.end, end)
        if lo >= hi or not text[lo:hi].strip():
            continue
        entities.append(
            Entity(
                span.kind,
                units[lo] - units[start],
                units[hi] - units[lo],
                language=span.language,
                url=span.url,
            )
        )
    return Formatted(text[start:end], tuple(entities))
