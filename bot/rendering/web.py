"""Markdown to HTML for the web page, through one sanitising path (markdown-it, then nh3)."""

from __future__ import annotations

import re

import nh3

from bot.rendering.parse import markdown

TAGS = {
    "p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href"}, "code": {"class"}, "ol": {"start"}, "th": {"class"}, "td": {"class"}}
CLASSES = {
    "code": re.compile(r"language-[A-Za-z0-9_+#.-]{1,32}"),
    "th": re.compile(r"align-(?:left|center|right)"),
    "td": re.compile(r"align-(?:left|center|right)"),
}
# markdown-it aligns table columns with a style attribute, which the Content-Security-Policy
# refuses: a class instead. (The model's own text never gets here as a tag: it is escaped.)
ALIGNED = re.compile(r'<(th|td) style="text-align:(left|center|right)">')


def to_html(text: str) -> str:
    """The reply as safe HTML: raw HTML in it stays text, links only http(s) and mailto."""
    return nh3.clean(
        ALIGNED.sub(r'<\1 class="align-\2">', markdown().render(text)),
        tags=TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=_attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _attribute(tag: str, name: str, value: str) -> str | None:
    # Only the classes written here or by markdown-it: a code block's language, a column's
    # alignment (no style attribute: the Content-Security-Policy would refuse it).
    if name == "class":
        allowed = CLASSES.get(tag)
        return value if allowed is not None and allowed.fullmatch(value) else None
    return value
