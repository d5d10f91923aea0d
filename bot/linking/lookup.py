"""Finding a code before it is used, and why a code that was usable a moment ago is not."""

from __future__ import annotations

from datetime import datetime

from bot.accounts import ExceptionMapping
from bot.clock import Clock
from bot.errors import CodeExpired, CodeInvalid, CodeUsed, LinkError
from bot.linking.codec import DecodedCode, LinkCodeCodec, Purpose
from bot.linking.urls import LinkUrls
from bot.linking.wording import already_linked, platform_taken, wrong_direction
from storage import CodeNotAvailable, IdentityTaken, LinkCode, LinkCodeStore
from storage import PlatformTaken as PlatformSlotTaken


class CodeLookup:
    """Decodes a code and finds it stored, or raises the one error that says why not."""

    def __init__(
        self, codec: LinkCodeCodec, codes: LinkCodeStore, urls: LinkUrls, clock: Clock
    ) -> None:
        self.codec = codec
        self.codes = codes
        self.urls = urls
        self.clock = clock

    async def find(self, code: str, purpose: Purpose) -> tuple[DecodedCode, LinkCode]:
        """The decoded code and its row, if it is a usable code of `purpose`."""
        decoded = self.codec.decode(code)
        if decoded.purpose is not purpose:
            raise wrong_direction(decoded.purpose, self.urls.web(code))
        stored = await self.codes.get(decoded.nonce)
        if stored is None:
            raise CodeInvalid()
        if stored.used_at is not None:
            raise CodeUsed()
        if stored.expires_at <= self.clock():
            raise CodeExpired()
        return decoded, stored


def lost_race(stored: LinkCode, now: datetime) -> LinkError:
    """Why the conditional UPDATE at `now` missed a code `find` had just found usable."""
    # Nothing else happened to it in between: it expired, or someone else used it first.
    return CodeExpired() if stored.expires_at <= now else CodeUsed()


def link_errors(
    stored: LinkCode, now: datetime, wanted_id: int | None, platform: str
) -> ExceptionMapping:
    """The domain errors of using `stored` at `now` to link an identity on `platform` to
    the account `wanted_id`."""
    return {
        CodeNotAvailable: lambda _: lost_race(stored, now),
        IdentityTaken: lambda taken: already_linked(taken.account_id, wanted_id),
        PlatformSlotTaken: lambda _: platform_taken(platform),
    }
