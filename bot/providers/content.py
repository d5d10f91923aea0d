"""A turn's content as each API wants it: plain text, or text and image parts."""

from __future__ import annotations

import base64
from typing import Any

from bot.providers.base import Picture, Turn


def _b64(picture: Picture) -> str:
    return base64.b64encode(picture.data).decode("ascii")


def openai_content(turn: Turn) -> str | list[dict[str, Any]]:
    """Chat completions: the text alone, or `image_url` parts with data URLs, then the text."""
    if not turn.images:
        return turn.content
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": f"data:{p.mime};base64,{_b64(p)}"}}
        for p in turn.images
    ]
    if turn.content:
        parts.append({"type": "text", "text": turn.content})
    return parts


def anthropic_content(turn: Turn) -> str | list[dict[str, Any]]:
    """Messages API: the text alone, or base64 `image` blocks, then a text block."""
    if not turn.images:
        return turn.content
    blocks: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": p.mime, "data": _b64(p)}}
        for p in turn.images
    ]
    if turn.content:
        blocks.append({"type": "text", "text": turn.content})
    return blocks


def describe_images(turn: Turn) -> list[str]:
    """One line per image, as the echo provider says what it got: "an image, 800x600, JPEG"."""
    return [f"an image, {p.width}x{p.height}, {p.mime.split('/')[-1].upper()}" for p in turn.images]
