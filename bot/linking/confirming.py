"""Chat-first codes, confirmed on the web: by logging in, by registering, or from a session."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.accounts import (
    REGISTRATION_ERRORS,
    AccountService,
    ExceptionMapping,
    Registration,
    map_exceptions,
)
from bot.clock import Clock
from bot.delivery import ChatSenders
from bot.errors import AccountDisabled
from bot.linking.codec import DecodedCode, Purpose
from bot.linking.guesses import Guesses, client_key
from bot.linking.lookup import CodeLookup, link_errors, lost_race
from bot.linking.wording import already_linked, linked_in_chat
from storage import Account, CodeNotAvailable, Identity, IdentityTaken, LinkCode, LinkCodeStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChatLinkRequest:
    """Who asked for a chat-first code, for the web page to show before confirming."""

    platform: str
    platform_user_id: str
    display_name: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CompletedLink:
    """A link made from the web; `chat_id` is where to send the confirmation."""

    account: Account
    identity: Identity
    chat_id: str | None


class WebConfirmation:
    """Links the identity that asked for a chat-first code to the account that confirms it."""

    def __init__(
        self,
        lookup: CodeLookup,
        codes: LinkCodeStore,
        account_service: AccountService,
        guesses: Guesses,
        senders: ChatSenders,
        clock: Clock,
    ) -> None:
        self.lookup = lookup
        self.codes = codes
        self.account_service = account_service
        self.guesses = guesses
        self.senders = senders
        self.clock = clock

    async def describe_chat_request(
        self, code: str, *, client: str | None = None
    ) -> ChatLinkRequest:
        """Which identity a chat-first code links, if the code is still usable (a try at
        the code, counted for `client` when given)."""
        async with self.guesses.attempt(*client_key(client)):
            _, stored = await self.lookup.find(code, Purpose.CHAT_FIRST)
        return ChatLinkRequest(
            stored.platform or "",
            stored.platform_user_id or "",
            stored.display_name or "",
            stored.expires_at,
        )

    async def complete_with_login(
        self, code: str, username: str, password: str, *, client: str | None = None
    ) -> CompletedLink:
        """Confirm a chat-first code by proving an existing account's password."""
        async with self.guesses.attempt(*client_key(client)):
            found = await self.lookup.find(code, Purpose.CHAT_FIRST)
            account = await self.account_service.authenticate(username, password, client=client)
            return await self._complete(account, *found)

    async def complete_for_account(self, code: str, account: Account) -> CompletedLink:
        """Confirm a chat-first code for an account already logged in (web session, API)."""
        async with self.guesses.attempt("account", str(account.id)):
            found = await self.lookup.find(code, Purpose.CHAT_FIRST)
            return await self._complete(account, *found)

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
        async with self.guesses.attempt(*client_key(client)):
            decoded, stored = await self.lookup.find(code, Purpose.CHAT_FIRST)
            plan = await self.account_service.prepare_registration(
                username, password, client=client, invite=invite
            )
            return await self._register(plan, decoded, stored)

    async def _complete(
        self, account: Account, decoded: DecodedCode, stored: LinkCode
    ) -> CompletedLink:
        if account.disabled:
            raise AccountDisabled()
        platform, user_id = stored.platform or "", stored.platform_user_id or ""
        now = self.clock()
        with map_exceptions(link_errors(stored, now, account.id, platform)):
            identity = await self.codes.redeem_and_link(
                decoded.nonce,
                Purpose.CHAT_FIRST.value,
                now,
                account_id=account.id,
                platform=platform,
                platform_user_id=user_id,
                display_name=stored.display_name or "",
            )
        log.info("identity linked: account_id=%s platform=%s", account.id, platform)
        return await self._confirm_in_chat(CompletedLink(account, identity, stored.chat_id))

    async def _register(
        self, plan: Registration, decoded: DecodedCode, stored: LinkCode
    ) -> CompletedLink:
        now = self.clock()
        errors: ExceptionMapping = {
            **REGISTRATION_ERRORS,
            CodeNotAvailable: lambda _: lost_race(stored, now),
            # A new account has no identities yet: only the asking identity can be taken.
            IdentityTaken: lambda taken: already_linked(taken.account_id, None),
        }
        with map_exceptions(errors):
            account, identity = await self.codes.redeem_and_register(
                decoded.nonce,
                Purpose.CHAT_FIRST.value,
                now,
                username=plan.username,
                password_hash=plan.password_hash,
                platform=stored.platform or "",
                platform_user_id=stored.platform_user_id or "",
                display_name=stored.display_name or "",
                invite_hash=plan.invite_hash,
            )
        log.info("account registered and linked: account_id=%s", account.id)
        return await self._confirm_in_chat(CompletedLink(account, identity, stored.chat_id))

    async def _confirm_in_chat(self, done: CompletedLink) -> CompletedLink:
        self.guesses.linked()
        if done.chat_id is not None:
            await self.senders.send(
                done.identity.platform, done.chat_id, linked_in_chat(done.account.username)
            )
        return done
