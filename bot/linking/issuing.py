"""Issuing link codes: chat-first to an unlinked identity, account-first to an account."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.errors import AccountDisabled
from bot.limits import Limiter, PerHour
from bot.linking.codec import LinkCodeCodec, Purpose
from bot.linking.urls import LinkUrls
from bot.linking.wording import too_many_codes
from storage import AccountStore, LinkCode, LinkCodeStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A fresh code with its expiry and the web address that completes it (chat-first)."""

    code: str
    purpose: Purpose
    expires_at: datetime
    web_url: str


class Issuer:
    """Makes codes, a few per hour and a few pending at once for each asker."""

    def __init__(
        self,
        codec: LinkCodeCodec,
        codes: LinkCodeStore,
        accounts: AccountStore,
        limiter: Limiter,
        urls: LinkUrls,
        *,
        ttl: timedelta,
        max_pending: int,
        requests_per_hour: int,
        clock: Clock,
    ) -> None:
        self.codec = codec
        self.codes = codes
        self.accounts = accounts
        self.limiter = limiter
        self.urls = urls
        self.ttl = ttl
        self.max_pending = max_pending
        self.clock = clock
        self._requests = PerHour(requests_per_hour)

    async def issue_for_identity(
        self, platform: str, platform_user_id: str, display_name: str, chat_id: str
    ) -> IssuedCode:
        """A chat-first code bound to this (unlinked) identity."""
        await self.limiter.hit(self._requests, "link codes", "code", platform, platform_user_id)
        now = self.clock()
        self._check_pending(await self.codes.pending(now, identity=(platform, platform_user_id)))
        return await self._issue(
            Purpose.CHAT_FIRST,
            now,
            platform=platform,
            platform_user_id=platform_user_id,
            display_name=display_name[:128],
            chat_id=chat_id,
        )

    async def issue_for_account(self, account_id: int) -> IssuedCode:
        """An account-first code, redeemed by sending `/link CODE` from a chat."""
        account = await self.accounts.by_id(account_id)
        if account is None or account.disabled:
            raise AccountDisabled()
        await self.limiter.hit(self._requests, "link codes", "code", "account", str(account_id))
        now = self.clock()
        self._check_pending(await self.codes.pending(now, account_id=account_id))
        return await self._issue(Purpose.ACCOUNT_FIRST, now, account_id=account_id)

    def _check_pending(self, pending: list[LinkCode]) -> None:
        if len(pending) >= self.max_pending:
            wait = (pending[0].expires_at - self.clock()).total_seconds()
            raise too_many_codes(len(pending), wait)

    async def _issue(
        self,
        purpose: Purpose,
        now: datetime,
        *,
        account_id: int | None = None,
        platform: str | None = None,
        platform_user_id: str | None = None,
        display_name: str | None = None,
        chat_id: str | None = None,
    ) -> IssuedCode:
        # Issuing is rare: a good moment to drop codes that ended more than a day ago.
        await self.codes.purge_expired(now - timedelta(days=1))
        expires_at = (now + self.ttl).replace(microsecond=0)
        code, nonce = self.codec.make(purpose, expires_at)
        await self.codes.add(
            LinkCode(
                nonce,
                purpose.value,
                account_id,
                platform,
                platform_user_id,
                display_name,
                chat_id,
                now,
                expires_at,
                None,
            )
        )
        log.info("link code issued: purpose=%s account_id=%s", purpose.value, account_id)
        return IssuedCode(code, purpose, expires_at, self.urls.web(code))
