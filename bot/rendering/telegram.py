"""Markdown to Telegram: plain text plus `MessageEntity`-shaped spans, no escaping needed.

Entities (not parse_mode) are used because the model's text is then never markup: a `<b>` or
a lone `*` in a reply is just text, and Telegram cannot misread it. Offsets are counted here in
Python characters; `telegram_split` turns them into UTF-16 code units as Telegram counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.rendering.parse import monospace_table, parse, table_rows, unclosed_fence

if TYPE_CHECKING:
    from markdown_it.token import Token

# Telegram takes a `pre` language of letters, digits and a few signs (c++, c#, objective-c).
LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")
LINK_SCHEMES = ("http://", "https://", "mailto:", "tg://")
INLINE = {"strong": "bold", "em": "italic", "s": "strikethrough"}
BULLET = "•"


@dataclass(frozen=True, slots=True)
class Span:
    """One entity over `text[start:end]`, in Python characters."""

    kind: str
    start: int
    end: int
    language: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Marked:
    """Text with its entities, offsets in characters."""

    text: str
    spans: tuple[Span, ...] = ()


def plain(text: str) -> Marked:
    """`text` shown as is."""
    return Marked(text)


def to_telegram(markdown: str) -> Marked:
    """The model's Markdown rendered for Telegram."""
    return _Writer().write(parse(markdown))


def to_telegram_draft(markdown: str) -> Marked:
    """A reply still streaming: rendered up to a code fence not closed yet, the rest plain."""
    cut = unclosed_fence(markdown)
    if cut is None:
        return to_telegram(markdown)
    head = to_telegram(markdown[:cut])
    tail = markdown[cut:].strip()
    if not head.text:
        return Marked(tail)
    return Marked(head.text + "\n\n" + tail, head.spans)


@dataclass
class _Writer:
    out: list[str] = field(default_factory=list)
    length: int = 0
    spans: list[Span] = field(default_factory=list)
    open: list[tuple[str, int, str | None]] = field(default_factory=list)
    pending: int = 0  # newlines owed before the next text
    lists: list[list[int]] = field(default_factory=list)  # per open list: [next number or -1]
    quotes: int = 0
    links: int = 0

    def write(self, tokens: list[Token]) -> Marked:
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.type == "table_open":
                rows, index = table_rows(tokens, index)
                self._block()
                self._code(monospace_table(rows), None)
                continue
            self._token(token)
            index += 1
        text = "".join(self.out)
        trimmed = text.rstrip()
        spans = tuple(
            Span(s.kind, s.start, min(s.end, len(trimmed)), s.language, s.url)
            for s in sorted(self.spans, key=lambda s: (s.start, -s.end))
            if s.start < len(trimmed)
        )
        return Marked(trimmed, spans)

    # --- blocks ------------------------------------------------------------------------
    def _token(self, token: Token) -> None:
        kind = token.type
        if kind == "paragraph_open":
            if not token.hidden:
                self._block()
        elif kind == "heading_open":
            self._block()
            self._flush()
            self._open("bold")
        elif kind == "heading_close":
            self._close("bold")
        elif kind in ("bullet_list_open", "ordered_list_open"):
            self._block()
            start = token.attrGet("start")
            self.lists.append([int(start) if start else 1 if kind == "ordered_list_open" else -1])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            self._after_block()
        elif kind == "list_item_open":
            self.pending = max(self.pending, 1) if self.length else 0
            self._flush()
            counter = self.lists[-1]
            marker = BULLET if counter[0] < 0 else f"{counter[0]}."
            if counter[0] >= 0:
                counter[0] += 1
            self._text("   " * (len(self.lists) - 1) + marker + " ")
        elif kind == "blockquote_open":
            self._block()
            self._flush()
            self.quotes += 1
            if self.quotes == 1:  # Telegram refuses a blockquote inside another
                self._open("blockquote")
        elif kind == "blockquote_close":
            if self.quotes == 1:
                self._close("blockquote")
            self.quotes -= 1
            self._after_block()
        elif kind in ("fence", "code_block"):
            self._block()
            language = token.info.split()[0] if token.info.strip() else None
            self._code(token.content.rstrip("\n"), language)
        elif kind == "hr":
            self._block()
            self._flush()
            self._text("──────────")
            self._after_block()
        elif kind == "inline":
            self._inline(token.children or [])
        if kind == "heading_close" or (kind == "paragraph_close" and not token.hidden):
            self._after_block()

    def _block(self) -> None:
        # Paragraphs apart by a blank line, but lines of one list item or list close together.
        if self.length:
            self.pending = max(self.pending, 1 if self.lists else 2)

    def _after_block(self) -> None:
        if self.length:
            self.pending = max(self.pending, 1 if self.lists else 2)

    def _code(self, content: str, language: str | None) -> None:
        if not content.strip():
            return
        self._flush()
        start = self.length
        self._text(content)
        sane = language if language and LANGUAGE.fullmatch(language) else None
        if not self.quotes:  # a pre cannot sit inside a blockquote entity: plain there
            self.spans.append(Span("pre", start, self.length, language=sane))
        self.pending = max(self.pending, 1 if self.lists else 2)

    # --- inline ------------------------------------------------------------------------
    def _inline(self, children: list[Token]) -> None:
        self._flush()
        for child in children:
            kind = child.type
            if kind == "text":
                self._text(child.content)
            elif kind in ("softbreak", "hardbreak"):
                self._text("\n")
            elif kind == "code_inline":
                start = self.length
                self._text(child.content)
                # Telegram nests nothing with a code entity: inside bold or a link it stays text.
                if not self.links and not self.open:
                    self.spans.append(Span("code", start, self.length))
            elif kind.endswith("_open") and kind[:-5] in INLINE:
                self._open(INLINE[kind[:-5]])
            elif kind.endswith("_close") and kind[:-6] in INLINE:
                self._close(INLINE[kind[:-6]])
            elif kind == "link_open":
                href = str(child.attrGet("href") or "")
                ok = href.startswith(LINK_SCHEMES) and not self.links
                self.links += 1
                self.open.append(("text_link" if ok else "", self.length, href))
            elif kind == "link_close":
                self.links -= 1
                self._close(None)
            elif kind == "image":
                self._text(child.content or str(child.attrGet("src") or ""))

    def _open(self, kind: str) -> None:
        self.open.append((kind, self.length, None))

    def _close(self, kind: str | None) -> None:
        if not self.open:
            return
        name, start, url = self.open.pop()
        if name and self.length > start:
            self.spans.append(
                Span(name, start, self.length, url=url if name == "text_link" else None)
            )

    def _flush(self) -> None:
        # Newlines already written count: a quote's first paragraph adds no second break.
        if self.pending and self.length:
            last = self.out[-1]
            owed = self.pending - (len(last) - len(last.rstrip("\n")))
            if owed > 0:
                self._text("\n" * owed)
        self.pending = 0

    def _text(self, text: str) -> None:
        self.out.append(text)
        self.length += len(text)
