"""The one Markdown parse every door renders from: CommonMark with GFM tables and strikethrough."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# A fence opening or closing line: up to three spaces, then ``` or ~~~ (CommonMark's rule).
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


@functools.cache
def markdown() -> MarkdownIt:
    """The parser: raw HTML off, so a model's tags are text, never markup. markdown-it is
    imported at the first reply rendered, not when the process starts."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def parse(text: str) -> list[Token]:
    """The block tokens of `text` (inline tokens hang under each `inline` token's children)."""
    return markdown().parse(text)


def unclosed_fence(text: str) -> int | None:
    """Where a code fence opened and not yet closed starts (a reply still streaming), or None."""
    opened: tuple[int, str] | None = None
    position = 0
    for line in text.splitlines(keepends=True):
        match = FENCE.match(line)
        if match:
            mark = match.group(1)
            if opened is None:
                opened = (position, mark)
            elif (
                mark[0] == opened[1][0]
                and len(mark) >= len(opened[1])
                and not line[match.end() :].strip()
            ):
                opened = None
        position += len(line)
    return opened[0] if opened else None


def display_width(text: str) -> int:
    """Columns a monospace font gives `text` (CJK and most emoji take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table_rows(tokens: list[Token], start: int) -> tuple[list[list[str]], int]:
    """The plain cell texts of the table opening at `tokens[start]`, and the index after it."""
    rows: list[list[str]] = []
    index = start + 1
    while tokens[index].type != "table_close":
        token = tokens[index]
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline":
            rows[-1].append(plain_inline(token))
        index += 1
    return rows, index + 1


def monospace_table(rows: list[list[str]]) -> str:
    """A table laid out in columns for a monospace font, a rule under the header."""
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    widths = [max(display_width(row[c]) for row in rows) for c in range(columns)]

    def line(row: list[str]) -> str:
        cells = [cell + " " * (widths[c] - display_width(cell)) for c, cell in enumerate(row)]
        return " │ ".join(cells).rstrip()

    rule = "─┼─".join("─" * width for width in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def plain_inline(token: Token) -> str:
    """The text of an inline token without its markup (for table cells)."""
    out: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(child.content)
    return "".join(out)
