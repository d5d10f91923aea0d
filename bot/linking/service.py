"""LinkService: one object for the doors and the core, over issuing, redeeming and confirming."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.accounts import AccountService
from bot.clock import Clock, utcnow
from bot.delivery import ChatSenders
from bot.limits import Limiter
from bot.linking.codec import LinkCodeCodec
from bot.linking.confirming import ChatLinkRequest, CompletedLink, WebConfirmation
from bot.linking.guesses import Guesses
from bot.linking.issuing import IssuedCode, Issuer
from bot.linking.lookup import CodeLookup
from bot.linking.redeeming import ChatRedemption
from bot.linking.urls import LinkUrls
from bot.monitoring import Metrics
from storage import Account, AccountStore, LinkCodeStore

log = logging.getLogger(__name__)


class LinkService:
    """Issues and redeems link codes; the database decides single use."""

    def __init__(
        self,
        codec: LinkCodeCodec,
        codes: LinkCodeStore,
        accounts: AccountStore,
        account_service: AccountService,
        limiter: Limiter,
        *,
        public_url: str,
        ttl: timedelta = timedelta(minutes=10),
        max_pending: int = 3,
        requests_per_hour: int = 10,
        attempts_per_hour: int = 20,
        senders: ChatSenders | None = None,
        metrics: Metrics | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.codes = codes
        self.clock = clock
        self.attempts_per_hour = attempts_per_hour
        self.urls = LinkUrls(public_url, senders or ChatSenders())
        guesses = Guesses(limiter, attempts_per_hour, metrics or Metrics())
        lookup = CodeLookup(codec, codes, self.urls, clock)
        self.issuing = Issuer(
            codec,
            codes,
            accounts,
            limiter,
            self.urls,
            ttl=ttl,
            max_pending=max_pending,
            requests_per_hour=requests_per_hour,
            clock=clock,
        )
        self.redeeming = ChatRedemption(lookup, codec, codes, accounts, guesses, clock)
        self.confirming = WebConfirmation(
            lookup, codes, account_service, guesses, self.urls.senders, clock
        )

    def web_url(self, code: str) -> str:
        """Where a chat-first code is completed."""
        return self.urls.web(code)

    def telegram_deep_link(self, code: str) -> str | None:
        """`https://t.me/<bot>?start=<code>`, when the Telegram bot's username is known."""
        return self.urls.telegram_deep_link(code)

    async def issue_for_identity(
        self, platform: str, platform_user_id: str, display_name: str, chat_id: str
    ) -> IssuedCode:
        """A chat-first code bound to this (unlinked) identity."""
        return await self.issuing.issue_for_identity(
            platform, platform_user_id, display_name, chat_id
        )

    async def issue_for_account(self, account_id: int) -> IssuedCode:
        """An account-first code, redeemed by sending `/link CODE` from a chat."""
        return await self.issuing.issue_for_account(account_id)

    async def pending_for_account(self, account_id: int) -> int:
        """How many of the account's codes are still unused and unexpired."""
        return len(await self.codes.pending(self.clock(), account_id=account_id))

    async def void_for_account(self, account_id: int) -> int:
        """Void the account's unused codes (a code seen by someone else can link nothing)."""
        voided = await self.codes.revoke_pending(self.clock(), account_id=account_id)
        log.info("link codes voided by their account: account_id=%s count=%d", account_id, voided)
        return voided

    async def redeem_in_chat(
        self, code: str, platform: str, platform_user_id: str, display_name: str
    ) -> Account:
        """Link this identity to the account that made the (account-first) code."""
        return await self.redeeming.redeem_in_chat(code, platform, platform_user_id, display_name)

    async def void_in_public(self, code: str) -> None:
        """Use up a code that was shown in a group, where others could copy it."""
        await self.redeeming.void_in_public(code)

    async def describe_chat_request(
        self, code: str, *, client: str | None = None
    ) -> ChatLinkRequest:
        """Which identity a chat-first code links, if the code is still usable."""
        return await self.confirming.describe_chat_request(code, client=client)

    async def complete_with_login(
        self, code: str, username: str, password: str, *, client: str | None = None
    ) -> CompletedLink:
        """Confirm a chat-first code by proving an existing account's password."""
        return await self.confirming.complete_with_login(code, username, password, client=client)

    async def complete_for_account(self, code: str, account: Account) -> CompletedLink:
        """Confirm a chat-first code for an account already logged in (web session, API)."""
        return await self.confirming.complete_for_account(code, account)

    async def complete_with_registration(
        self,
        code: str,
        username: str,
        password: str,
        *,
        client: str | None = None,
        invite: str | None = None,
    ) -> CompletedLink:
        """Confirm a chat-first code by registering a new account (REGISTRATION applies)."""
        return await self.confirming.complete_with_registration(
            code, username, password, client=client, invite=invite
        )
