"""Linking chat identities to accounts with signed one-time codes, in both directions."""

from __future__ import annotations

from bot.linking.codec import CODE_LENGTH, LinkCodeCodec, Purpose
from bot.linking.confirming import ChatLinkRequest, CompletedLink
from bot.linking.issuing import IssuedCode
from bot.linking.service import LinkService

__all__ = [
    "CODE_LENGTH",
    "ChatLinkRequest",
    "CompletedLink",
    "IssuedCode",
    "LinkCodeCodec",
    "LinkService",
    "Purpose",
]
