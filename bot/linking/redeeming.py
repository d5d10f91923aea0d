"""Account-first codes, used in a chat: `/link CODE` or the Telegram deep link."""

from __future__ import annotations

import logging

from bot.accounts import map_exceptions
from bot.clock import Clock
from bot.errors import AccountDisabled
from bot.linking.codec import LinkCodeCodec, Purpose
from bot.linking.guesses import Guesses
from bot.linking.lookup import CodeLookup, link_errors
from bot.linking.wording import already_linked
from storage import Account, AccountStore, LinkCodeStore

log = logging.getLogger(__name__)


class ChatRedemption:
    """Links the chat identity that sends an account-first code to the code's account."""

    def __init__(
        self,
        lookup: CodeLookup,
        codec: LinkCodeCodec,
        codes: LinkCodeStore,
        accounts: AccountStore,
        guesses: Guesses,
        clock: Clock,
    ) -> None:
        self.lookup = lookup
        self.codec = codec
        self.codes = codes
        self.accounts = accounts
        self.guesses = guesses
        self.clock = clock

    async def redeem_in_chat(
        self, code: str, platform: str, platform_user_id: str, display_name: str
    ) -> Account:
        """Link this identity to the account that made the (account-first) code."""
        with self.guesses.counted():
            async with self.guesses.attempt("chat", platform, platform_user_id):
                return await self._redeem(code, platform, platform_user_id, display_name)

    async def _redeem(
        self, code: str, platform: str, platform_user_id: str, display_name: str
    ) -> Account:
        decoded, stored = await self.lookup.find(code, Purpose.ACCOUNT_FIRST)
        assert stored.account_id is not None
        owner = await self.accounts.by_id(stored.account_id)
        if owner is None or owner.disabled:
            raise AccountDisabled()
        current = await self.accounts.identity(platform, platform_user_id)
        if current is not None:
            raise already_linked(current.account_id, stored.account_id)
        now = self.clock()
        with map_exceptions(link_errors(stored, now, stored.account_id, platform)):
            await self.codes.redeem_and_link(
                decoded.nonce,
                Purpose.ACCOUNT_FIRST.value,
                now,
                account_id=stored.account_id,
                platform=platform,
                platform_user_id=platform_user_id,
                display_name=display_name[:128],
            )
        account = await self.accounts.by_id(stored.account_id)
        assert account is not None
        log.info("identity linked: account_id=%s platform=%s", account.id, platform)
        return account

    async def void_in_public(self, code: str) -> None:
        """Use up a code that was shown in a group, where others could copy it."""
        decoded = self.codec.decode(code)
        await self.codes.void(decoded.nonce, self.clock())
