"""Linking chat identities to accounts with signed one-time codes, in both directions."""

from __future__ import annotations

from bot.linking.codec import CODE_LENGTH, LinkCodeCodec, Purpose
from bot.linking.service import IssuedCode, LinkService

__all__ = ["CODE_LENGTH", "IssuedCode", "LinkCodeCodec", "LinkService", "Purpose"]
