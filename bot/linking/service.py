"""Linking chat identities to accounts with one-time codes, in both directions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from bot.accounts import AccountService, Registration
from bot.clock import Clock, utcnow
from bot.delivery import ChatSenders
from bot.errors import (
    AccountDisabled,
    AlreadyLinked,
    ChatlinkError,
    CodeExpired,
    CodeInvalid,
    CodeUsed,
    CodeWrongDirection,
    InviteInvalid,
    PlatformTaken,
    RateLimited,
    TooManyCodes,
    UsernameUnavailable,
)
from bot.limits import Limiter, RateLimitItemPerHour
from bot.linking.codec import DecodedCode, LinkCodeCodec, Purpose
from bot.monitoring import Metrics
from storage import (
    Account,
    AccountStore,
    CodeNotAvailable,
    Identity,
    IdentityTaken,
    LinkCode,
    LinkCodeStore,
    UsernameTaken,
)
from storage import PlatformTaken as PlatformSlotTaken

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A fresh code with its expiry and the web address that completes it (chat-first)."""

    code: str
    purpose: Purpose
    expires_at: datetime
    web_url: str


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
        self.codec = codec
        self.codes = codes
        self.accounts = accounts
        self.account_service = account_service
        self.limiter = limiter
        self.public_url = public_url
        self.ttl = ttl
        self.max_pending = max_pending
        self.attempts_per_hour = attempts_per_hour
        self.senders = senders or ChatSenders()
        self.metrics = metrics or Metrics()
        self.clock = clock
        self._requests = RateLimitItemPerHour(requests_per_hour)
        self._attempts = RateLimitItemPerHour(attempts_per_hour)

    def web_url(self, code: str) -> str:
        """Where a chat-first code is completed."""
        return f"{self.public_url}/link/{code}"

    def telegram_deep_link(self, code: str) -> str | None:
        """`https://t.me/<bot>?start=<code>`, when the Telegram bot's username is known."""
        username = self.senders.username("telegram")
        return f"https://t.me/{username}?start={code}" if username else None

    async def _confirm_in_chat(self, done: CompletedLink) -> CompletedLink:
        self.metrics.link_attempts.labels("linked").inc()
        if done.chat_id is not None:
            await self.senders.send(
                done.identity.platform,
                done.chat_id,
                f"This chat is now linked to account {done.account.username}. Just write to me; "
                "I remember our conversation across your linked chats.",
            )
        return done

    async def issue_for_identity(
        self, platform: str, platform_user_id: str, display_name: str, chat_id: str
    ) -> IssuedCode:
        """A chat-first code bound to this (unlinked) identity."""
        await self.limiter.hit(self._requests, "link codes", "code", platform, platform_user_id)
        now = self.clock()
        pending = await self.codes.pending(now, identity=(platform, platform_user_id))
        self._check_pending(pending)
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
            minutes = max(1, round(wait / 60))
            raise TooManyCodes(
                f"You already have {len(pending)} unused link codes. Use one of them, or "
                f"ask again in {minutes} minute{'s' if minutes != 1 else ''}."
            )

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
        return IssuedCode(code, purpose, expires_at, self.web_url(code))

    async def _lookup(self, code: str, purpose: Purpose) -> tuple[DecodedCode, LinkCode]:
        """Decode and find a code, raising the one error that explains why it is unusable."""
        decoded = self.codec.decode(code)
        if decoded.purpose is not purpose:
            if decoded.purpose is Purpose.CHAT_FIRST:
                raise CodeWrongDirection(
                    "That code finishes on the web page: open " + self.web_url(code)
                )
            raise CodeWrongDirection(
                "That code is for a chat: send /link followed by the code to the bot."
            )
        stored = await self.codes.get(decoded.nonce)
        if stored is None:
            raise CodeInvalid()
        self._check_usable(stored)
        return decoded, stored

    @asynccontextmanager
    async def _attempt(self, *who: str) -> AsyncIterator[None]:
        """One try at a code by `who` (a chat identity, an account, a client address).

        Only codes that are not ours (forged, mistyped, unknown) count: holding a real code
        that is used or expired is no guess, so a race on one code limits nobody. Once
        `attempts_per_hour` are counted, every try is refused until the hour is over, the
        right code too: otherwise guessing could go on behind the refusals.
        """
        if not who:
            yield
            return
        left, resets_at = await self.limiter.remaining(self._attempts, "link-attempt", *who)
        if left <= 0:
            raise RateLimited("link attempts", resets_at - self.limiter.now())
        try:
            yield
        except CodeInvalid:
            await self.limiter.spend(self._attempts, 1, "link-attempt", *who)
            raise

    def _check_usable(self, stored: LinkCode) -> None:
        if stored.used_at is not None:
            raise CodeUsed()
        if stored.expires_at <= self.clock():
            raise CodeExpired()

    async def _explain_lost_race(self, nonce: str) -> NoReturn:
        stored = await self.codes.get(nonce)
        if stored is None:
            raise CodeInvalid()
        self._check_usable(stored)
        raise CodeUsed()

    async def redeem_in_chat(
        self, code: str, platform: str, platform_user_id: str, display_name: str
    ) -> Account:
        """Link this identity to the account that made the (account-first) code."""
        with self._counted():
            async with self._attempt("chat", platform, platform_user_id):
                return await self._redeem_in_chat(code, platform, platform_user_id, display_name)

    @contextmanager
    def _counted(self) -> Iterator[None]:
        try:
            yield
        except RateLimited:
            self.metrics.link_attempts.labels("limited").inc()
            raise
        except ChatlinkError:
            self.metrics.link_attempts.labels("refused").inc()
            raise
        self.metrics.link_attempts.labels("linked").inc()

    async def _redeem_in_chat(
        self, code: str, platform: str, platform_user_id: str, display_name: str
    ) -> Account:
        decoded, stored = await self._lookup(code, Purpose.ACCOUNT_FIRST)
        assert stored.account_id is not None
        owner = await self.accounts.by_id(stored.account_id)
        if owner is None or owner.disabled:
            raise AccountDisabled()
        current = await self.accounts.identity(platform, platform_user_id)
        if current is not None:
            raise self._already_linked(current.account_id, stored.account_id)
        try:
            await self.codes.redeem_and_link(
                decoded.nonce,
                Purpose.ACCOUNT_FIRST.value,
                self.clock(),
                account_id=stored.account_id,
                platform=platform,
                platform_user_id=platform_user_id,
                display_name=display_name[:128],
            )
        except CodeNotAvailable:
            await self._explain_lost_race(decoded.nonce)
        except IdentityTaken as exc:
            raise self._already_linked(exc.account_id, stored.account_id) from None
        except PlatformSlotTaken:
            raise self._platform_taken(platform) from None
        account = await self.accounts.by_id(stored.account_id)
        assert account is not None
        log.info("identity linked: account_id=%s platform=%s", account.id, platform)
        return account

    async def void_in_public(self, code: str) -> None:
        """Use up a code that was shown in a group, where others could copy it."""
        decoded = self.codec.decode(code)
        await self.codes.void(decoded.nonce, self.clock())

    async def describe_chat_request(
        self, code: str, *, client: str | None = None
    ) -> ChatLinkRequest:
        """Which identity a chat-first code links, if the code is still usable (a try at
        the code, counted for `client` when given)."""
        async with self._attempt(*_client_key(client)):
            _, stored = await self._lookup(code, Purpose.CHAT_FIRST)
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
        async with self._attempt(*_client_key(client)):
            checked = await self._lookup(code, Purpose.CHAT_FIRST)
            account = await self.account_service.authenticate(username, password, client=client)
            return await self._complete(account, *checked)

    async def complete_for_account(self, code: str, account: Account) -> CompletedLink:
        """Confirm a chat-first code for an account already logged in (web session, API)."""
        async with self._attempt("account", str(account.id)):
            return await self._complete(account, *await self._lookup(code, Purpose.CHAT_FIRST))

    async def _complete(
        self, account: Account, decoded: DecodedCode, stored: LinkCode
    ) -> CompletedLink:
        if account.disabled:
            raise AccountDisabled()
        platform, user_id = stored.platform or "", stored.platform_user_id or ""
        try:
            identity = await self.codes.redeem_and_link(
                decoded.nonce,
                Purpose.CHAT_FIRST.value,
                self.clock(),
                account_id=account.id,
                platform=platform,
                platform_user_id=user_id,
                display_name=stored.display_name or "",
            )
        except CodeNotAvailable:
            await self._explain_lost_race(decoded.nonce)
        except IdentityTaken as exc:
            raise self._already_linked(exc.account_id, account.id) from None
        except PlatformSlotTaken:
            raise self._platform_taken(platform) from None
        log.info("identity linked: account_id=%s platform=%s", account.id, platform)
        return await self._confirm_in_chat(CompletedLink(account, identity, stored.chat_id))

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
        async with self._attempt(*_client_key(client)):
            decoded, stored = await self._lookup(code, Purpose.CHAT_FIRST)
            plan = await self.account_service.prepare_registration(
                username, password, client=client, invite=invite
            )
            return await self._register(plan, decoded, stored)

    async def _register(
        self, plan: Registration, decoded: DecodedCode, stored: LinkCode
    ) -> CompletedLink:
        try:
            account, identity = await self.codes.redeem_and_register(
                decoded.nonce,
                Purpose.CHAT_FIRST.value,
                self.clock(),
                username=plan.username,
                password_hash=plan.password_hash,
                platform=stored.platform or "",
                platform_user_id=stored.platform_user_id or "",
                display_name=stored.display_name or "",
                invite_hash=plan.invite_hash,
            )
        except CodeNotAvailable as exc:
            if exc.args == ("invite",):
                raise InviteInvalid() from None
            await self._explain_lost_race(decoded.nonce)
        except UsernameTaken:
            raise UsernameUnavailable() from None
        except IdentityTaken as exc:
            raise self._already_linked(exc.account_id, None) from None
        log.info("account registered and linked: account_id=%s", account.id)
        return await self._confirm_in_chat(CompletedLink(account, identity, stored.chat_id))

    def _already_linked(self, owner_id: int, wanted_id: int | None) -> AlreadyLinked:
        if owner_id == wanted_id:
            return AlreadyLinked("This chat is already linked to that account.")
        return AlreadyLinked(
            "This chat is linked to another account. Send /unlink in it first, then link again."
        )

    def _platform_taken(self, platform: str) -> PlatformTaken:
        return PlatformTaken(
            f"That account already has a {platform} chat linked. Unlink it first "
            "(/unlink from that chat, or on the web page)."
        )


def _client_key(client: str | None) -> tuple[str, ...]:
    # Web pages pass the client address; callers without one (the CLI, tests) are not counted.
    return ("client", client) if client is not None else ()
