"""The signed link-code format: 51 characters of A-Z a-z 0-9 _ - (fits a Telegram deep link).

A code is base64url(purpose, expiry, nonce) followed by an itsdangerous HMAC-SHA256
signature cut to 160 bits. Its fixed length makes a separator unnecessary, which matters
because every separator itsdangerous allows falls outside the deep-link alphabet.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import base64_decode, base64_encode
from itsdangerous.signer import HMACAlgorithm

from bot.errors import CodeInvalid

_PAYLOAD = struct.Struct(">cI13s")  # purpose, expiry (unix seconds), nonce
_PAYLOAD_CHARS = 24  # base64 of 18 bytes, no padding
_SIGNATURE_CHARS = 27  # base64 of 20 bytes, no padding
CODE_LENGTH = _PAYLOAD_CHARS + _SIGNATURE_CHARS
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


class Purpose(StrEnum):
    """The two directions of linking."""

    CHAT_FIRST = "chat_first"  # a chat asked; completed with a password on the web
    ACCOUNT_FIRST = "account_first"  # an account asked; redeemed from a chat

    @property
    def tag(self) -> bytes:
        return b"C" if self is Purpose.CHAT_FIRST else b"A"


class _HMAC160(HMACAlgorithm):
    """HMAC-SHA256 truncated to 20 bytes, so code plus signature stay under 64 characters."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha256)

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return super().get_signature(key, value)[:20]


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """What a valid signature vouches for; the database says whether it is still unused."""

    purpose: Purpose
    nonce: str
    expires_at: datetime


class LinkCodeCodec:
    """Makes and checks signed link codes."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(
            secret_key,
            salt="chatlink.link-code.v1",
            key_derivation="hmac",
            digest_method=hashlib.sha256,
            algorithm=_HMAC160(),
        )

    def make(self, purpose: Purpose, expires_at: datetime) -> tuple[str, str]:
        """A new (code, nonce) pair; the nonce is what the database stores."""
        nonce = secrets.token_bytes(13)
        expiry = int(expires_at.replace(tzinfo=UTC).timestamp())
        payload = base64_encode(_PAYLOAD.pack(purpose.tag, expiry, nonce))
        code = (payload + self._signer.get_signature(payload)).decode("ascii")
        assert len(code) == CODE_LENGTH
        return code, _nonce_text(nonce)

    def decode(self, code: str) -> DecodedCode:
        """Check the signature and unpack; CodeInvalid for anything not made by us."""
        code = code.strip()
        if len(code) != CODE_LENGTH or not _ALPHABET.fullmatch(code):
            raise CodeInvalid()
        payload, signature = code[:_PAYLOAD_CHARS].encode(), code[_PAYLOAD_CHARS:].encode()
        try:
            # Base64 leaves spare bits in the last character: only the canonical form counts.
            if base64_encode(base64_decode(signature)) != signature:
                raise CodeInvalid()
            if not self._signer.verify_signature(payload, signature):
                raise CodeInvalid()
            tag, expiry, nonce = _PAYLOAD.unpack(base64_decode(payload))
        except (BadSignature, struct.error, ValueError):
            raise CodeInvalid() from None
        purpose = {b"C": Purpose.CHAT_FIRST, b"A": Purpose.ACCOUNT_FIRST}.get(tag)
        if purpose is None:
            raise CodeInvalid()
        expires_at = datetime.fromtimestamp(expiry, UTC).replace(tzinfo=None)
        return DecodedCode(purpose, _nonce_text(nonce), expires_at)


def _nonce_text(nonce: bytes) -> str:
    return base64_encode(nonce).decode("ascii")
