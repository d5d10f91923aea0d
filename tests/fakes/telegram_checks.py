"""What the real Bot API checks in a message's text and formatting before it takes it.

Checked as Telegram does (https://core.telegram.org/bots/api#formatting-options), and refused
with the same 400 descriptions: text empty or over 4096 UTF-16 code units; `entities` of an
unknown type, with an offset or length outside the UTF-16 text, a `pre` language that is not
a plain name, a `text_link` without an http(s)/tg/mailto URL, entities that overlap without
nesting, anything nested in or around `code`/`pre` but a blockquote, or a blockquote in a
blockquote; and for `parse_mode` HTML, a tag outside the allowed list, tags not properly
nested or closed, or a bare `&`/`<`.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

LIMIT = 4096
TYPES = {
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
    "italic", "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote",
    "code", "pre", "text_link", "text_mention", "custom_emoji", "date_time",
}  # fmt: skip
LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,64}")
SCHEMES = ("http://", "https://", "tg://", "mailto:")
HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
MONO = {"code", "pre"}
QUOTES = {"blockquote", "expandable_blockquote"}


def utf16(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def problem(params: dict[str, Any]) -> str | None:
    """The Bot API's description of what is wrong with a message's text, or None."""
    text = str(params.get("text", ""))
    if params.get("parse_mode") == "HTML":
        found = _html_problem(text)
        if found:
            return found
        text = _html_text(text)
    if not text.strip():
        return "Bad Request: message text is empty"
    if utf16(text) > LIMIT:
        return "Bad Request: message is too long"
    entities = params.get("entities")
    if entities is not None:
        return _entities_problem(text, entities)
    return None


def _entities_problem(text: str, entities: object) -> str | None:
    bad = "Bad Request: can't parse entities: "
    if not isinstance(entities, list):
        return bad + "entities must be an array"
    size = utf16(text)
    spans: list[tuple[int, int, str]] = []
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("type") not in TYPES:
            return bad + f"unsupported entity {entity!r}"
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            return bad + "offset and length must be integers"
        if offset < 0 or length <= 0 or offset + length > size:
            return bad + f"entity {entity['type']} at {offset}+{length} is outside the text"
        if entity["type"] == "pre" and not LANGUAGE.fullmatch(str(entity.get("language", "x"))):
            return bad + f"unsupported pre language {entity['language']!r}"
        if entity["type"] == "text_link" and not str(entity.get("url", "")).startswith(SCHEMES):
            return bad + "wrong text_link URL"
        spans.append((offset, offset + length, entity["type"]))
    for a_start, a_end, a in spans:
        for b_start, b_end, b in spans:
            if (a_start, a_end, a) == (b_start, b_end, b):
                continue
            inside = b_start <= a_start and a_end <= b_end
            if (
                a_start < b_end
                and b_start < a_end
                and not inside
                and not (a_start <= b_start and b_end <= a_end)
            ):
                return bad + f"entities {a} and {b} overlap"
            if inside and (a in MONO or b in MONO) and b not in QUOTES:
                return bad + f"entity {a} can't be inside {b}"
            if inside and a in QUOTES and b in QUOTES:
                return bad + "blockquotes can't be nested"
    return None


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'unmatched end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _html_problem(text: str) -> str | None:
    bad = "Bad Request: can't parse entities: "
    if re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        return bad + "unsupported character entity or unescaped &"
    if re.search(r"<(?![a-zA-Z/])", text):
        return bad + "unexpected < (escape it as &lt;)"
    parser = _Tags()
    parser.feed(text)
    parser.close()
    if parser.error:
        return bad + parser.error
    if parser.stack:
        return bad + f'can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    return None


def _html_text(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text))
