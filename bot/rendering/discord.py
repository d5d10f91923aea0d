"""Markdown for Discord, which renders it itself: tables as fenced blocks, fences balanced per
message."""

from __future__ import annotations

from bot.delivery import split_text, utf16_length
from bot.rendering.parse import FENCE, monospace_table, parse, table_rows

MESSAGE_LIMIT = 2000


def to_discord(markdown: str) -> str:
    """The reply with each table (which Discord does not draw) as a fenced monospace block."""
    tokens = parse(markdown)
    lines = markdown.splitlines()
    replaced: list[tuple[int, int, str]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "table_open" and token.map:
            first, last = token.map
            rows, index = table_rows(tokens, index)
            replaced.append((first, last, "```\n" + monospace_table(rows) + "\n```"))
            continue
        index += 1
    if not replaced:
        return markdown
    for first, last, block in reversed(replaced):
        lines[first:last] = [block]
    return "\n".join(lines)


def split_discord(markdown: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Messages of at most `limit` UTF-16 units, cut after a line where one fits; a code
    block cut by a split is closed at the end of one message and reopened with its language
    at the start of the next."""
    size = utf16_length  # counted so, an emoji takes two of Discord's 2000
    if limit < 40:
        raise ValueError("limit must leave room for closing and reopening a fence")
    mended = to_discord(markdown)
    if not FENCE.search(mended):
        # No code block to keep whole: the text goes out exactly as written, split as ever.
        return split_text(mended, limit, utf16_length)
    parts: list[str] = []
    body = ""
    fence: str | None = None  # the opening line of the fence we are in

    def close() -> None:
        nonlocal body
        if fence is not None:
            body += "\n" + _closing(fence)
        if body.strip():
            parts.append(body)
        body = fence or ""

    for line in mended.split("\n"):
        match = FENCE.match(line)
        closes = fence is not None and match is not None and not line[match.end() :].strip()
        opens = match is not None and fence is None
        glue = "\n" if body else ""
        # Room kept for the fence this message will have to close.
        owed = fence if fence is not None and not closes else line.strip() if opens else None
        reserve = len(_closing(owed)) + 1 if owed is not None else 0
        # (A message holding only a fence's opening line is not sent empty: the line is cut.)
        if body and body != fence and size(body) + len(glue) + size(line) + reserve > limit:
            close()
            glue = "\n" if body else ""
        while size(body) + len(glue) + size(line) + reserve > limit:
            # A line longer than a message: cut at a space if one is in reach, else anywhere.
            room = limit - size(body) - len(glue) - reserve
            cut = room
            while size(line[:cut]) > room:
                cut -= 1
            at = line.rfind(" ", 0, cut)
            cut = at + 1 if at > 0 else cut
            body += glue + line[:cut]
            line = line[cut:]
            close()
            glue = "\n" if body else ""  # after a reopened fence, on a line of its own
        body += glue + line
        if match:
            fence = None if closes else (line.strip() if opens else fence)
    if fence is not None:  # a fence the model never closed (or is still streaming)
        body += "\n" + _closing(fence)
        fence = None
    close()
    return parts or [""]


def _closing(opening: str) -> str:
    mark = opening.lstrip()
    return mark[0] * (len(mark) - len(mark.lstrip(mark[0])))
