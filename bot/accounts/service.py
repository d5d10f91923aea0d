"""Accounts: registration, login with a per-username failure limit, enable/disable."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.accounts.passwords import PasswordHasher
from bot.accounts.storage_errors import REGISTRATION_ERRORS, map_exceptions
from bot.clock import Clock, utcnow
from bot.errors import (
    AccountDisabled,
    ChatlinkError,
    InputRejected,
    InviteInvalid,
    LoginFailed,
    RateLimited,
    RegistrationClosed,
    UsernameUnavailable,
)
from bot.limits import Limiter, PerHour, PerMinute
from bot.monitoring import Metrics
from storage import Account, AccountStore, Identity, InviteStore

__all__ = [
    "Account",
    "AccountService",
    "check_password",
    "credential_version",
    "normalize_username",
]

log = logging.getLogger(__name__)

USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN_CHARS, PASSWORD_MAX_BYTES = 8, 1024
_USERNAME = re.compile(rf"[a-z0-9_.-]{{{USERNAME_MIN},{USERNAME_MAX}}}")


def normalize_username(raw: str) -> str:
    """The canonical (lower-case) username, or InputRejected saying what is wrong."""
    name = raw.strip()
    # ASCII first: str.lower() maps some non-ASCII letters (the Kelvin sign) onto ASCII ones.
    if not name.isascii() or not _USERNAME.fullmatch(name.lower()):
        raise InputRejected(
            f"A username is {USERNAME_MIN}-{USERNAME_MAX} characters of a-z, 0-9, _ . and -."
        )
    return name.lower()


def check_password(password: str) -> None:
    """InputRejected unless the password is 8 characters to 1024 bytes, not all spaces."""
    if not password.strip():
        raise InputRejected("A password cannot be only spaces.")
    if len(password) < PASSWORD_MIN_CHARS:
        raise InputRejected(f"A password needs at least {PASSWORD_MIN_CHARS} characters.")
    if len(password.encode("utf-8", "surrogatepass")) > PASSWORD_MAX_BYTES:
        raise InputRejected(f"A password may be at most {PASSWORD_MAX_BYTES} bytes.")


class AccountService:
    """Registers and authenticates accounts; passwords never leave this module."""

    def __init__(
        self,
        store: AccountStore,
        limiter: Limiter,
        *,
        hasher: PasswordHasher,
        max_failures: int = 5,
        lockout_minutes: int = 15,
        attempts_per_client_per_minute: int = 20,
        max_failures_per_username: int = 50,
        registration: str = "open",
        invites: InviteStore | None = None,
        metrics: Metrics | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.registration = registration
        self.invites = invites
        self.limiter = limiter
        self.hasher = hasher
        self.clock = clock
        self.metrics = metrics or Metrics()
        # Failures per (username, address), with a back-off that grows: max_failures in
        # LOGIN_LOCKOUT_MINUTES, twice as many in four times as long, four times in a day.
        self._backoff = [
            PerMinute(max_failures, lockout_minutes),
            PerMinute(2 * max_failures, 4 * lockout_minutes),
            PerMinute(4 * max_failures, 24 * 60),
        ]
        # Per username from every address: past it, each address gets one try per lockout
        # period, so a spread-out guesser is slowed while a right password from an address
        # that has not failed still gets in.
        self._per_username = PerHour(max_failures_per_username)
        self._one_try = PerMinute(1, lockout_minutes)
        # Failures from every address, for callers that cannot name one (client=None): they
        # get the strictest rule, LOGIN_MAX_FAILURES per username, as before addresses.
        self._any_address = PerMinute(max_failures, lockout_minutes)
        self._per_client = PerMinute(attempts_per_client_per_minute)

    async def _count_client(self, client: str | None) -> None:
        # Web and API callers pass the client address: one address cannot sweep many names.
        if client is not None:
            await self.limiter.hit(self._per_client, "attempts", "auth-client", client)

    async def register(
        self,
        username: str,
        password: str,
        *,
        client: str | None = None,
        invite: str | None = None,
        by_operator: bool = False,
    ) -> Account:
        """Create an account under the REGISTRATION policy (the operator's CLI bypasses it)."""
        plan = await self.prepare_registration(
            username, password, client=client, invite=invite, by_operator=by_operator
        )
        with map_exceptions(REGISTRATION_ERRORS):
            if plan.invite_hash is not None:
                assert self.invites is not None
                account = await self.invites.register(
                    plan.invite_hash, self.clock(), plan.username, plan.password_hash
                )
            else:
                account = await self.store.create(plan.username, plan.password_hash, self.clock())
        log.info("account registered: account_id=%s", account.id)
        return account

    async def prepare_registration(
        self,
        username: str,
        password: str,
        *,
        client: str | None = None,
        invite: str | None = None,
        by_operator: bool = False,
    ) -> Registration:
        """Check the policy and the input, and hash, for a registration (possibly done inside
        another transaction, such as completing a chat-first link)."""
        await self._count_client(client)
        invite_hash = None
        if not by_operator:
            if self.registration == "closed":
                raise RegistrationClosed()
            if self.registration == "invite":
                # The invite first: without a good one, nothing tells whether a name is taken.
                if not invite or not invite.strip():
                    raise InviteInvalid()
                invite_hash = hash_invite(invite)
                assert self.invites is not None
                if not await self.invites.usable(invite_hash, self.clock()):
                    raise InviteInvalid()
        self.hasher.admit()
        name = normalize_username(username)
        check_password(password)
        if await self.store.by_username(name) is not None:
            raise UsernameUnavailable()
        return Registration(name, await self.hasher.hash(password), invite_hash)

    async def authenticate(
        self, username: str, password: str, *, client: str | None = None
    ) -> Account:
        """The account if the password matches; one generic LoginFailed otherwise."""
        try:
            account = await self._authenticate(username, password, client)
        except RateLimited:
            self.metrics.login_attempts.labels("limited").inc()
            raise
        except ChatlinkError:
            self.metrics.login_attempts.labels("failed").inc()
            raise
        self.metrics.login_attempts.labels("ok").inc()
        return account

    async def _authenticate(self, username: str, password: str, client: str | None) -> Account:
        self.hasher.admit()
        await self._count_client(client)
        try:
            name = normalize_username(username)
            check_password(password)
        except InputRejected:
            # A malformed username or password can match no account: same answer.
            raise LoginFailed() from None
        account = await self.store.by_username(name)
        key = self._lockout_key(name, account, client)
        # Counted before the (slow) verification, so parallel guesses cannot slip past the
        # limit while earlier ones are still being checked; a success clears the count.
        if client is None:
            left, reset = await self.limiter.remaining(self._any_address, "login-any", *key[:2])
            if left <= 0:
                raise RateLimited("failed logins", reset - self.limiter.now())
        for item in self._backoff:
            await self.limiter.hit(item, "failed logins", "login", *key)
        try:
            await self.limiter.hit(self._per_username, "failed logins", "login-name", *key[:2])
        except RateLimited:
            await self.limiter.hit(self._one_try, "failed logins", "login-one", *key)
        if account is None:
            await self.hasher.burn_verify(password)
            ok, new_hash = False, None
        else:
            ok, new_hash = await self.hasher.verify(password, account.password_hash)
        if account is not None and account.disabled:
            # Said whether or not the password was right: the answer reveals nothing of it.
            raise AccountDisabled()
        if not ok or account is None:
            # The account id, when there is one, for an operator answering "I can't log in".
            if account is None:
                log.info("login failed: no such account")
            else:
                log.info("login failed: account_id=%s", account.id)
            await self.limiter.spend(self._any_address, 1, "login-any", *key[:2])
            raise LoginFailed()
        await self.limiter.clear(self._any_address, "login-any", *key[:2])
        for item in self._backoff:
            await self.limiter.clear(item, "login", *key)
        await self.limiter.clear(self._one_try, "login-one", *key)
        if new_hash is not None:
            await self.store.set_password_hash(account.id, new_hash)
        return account

    @staticmethod
    def _lockout_key(name: str, account: Account | None, client: str | None) -> tuple[str, ...]:
        # An operator's unlock stamps the account: counts kept under the old stamp (in this
        # process, another one, or Redis) stop mattering everywhere at once.
        unlocked = account.logins_unlocked_at if account is not None else None
        return (name, unlocked.isoformat() if unlocked else "-", client or "-")

    async def unlock(self, username: str) -> Account:
        """Forget the failed logins of an account, from every address (`chatlink user
        unlock`); InputRejected when there is no such account."""
        account = await self.by_username(username)
        if account is None:
            raise InputRejected(f"No account named {username!r}.")
        await self.store.unlock_logins(account.id, self.clock())
        log.info("logins unlocked: account_id=%s", account.id)
        return account

    async def by_id(self, account_id: int) -> Account | None:
        """The account with this id, if any."""
        return await self.store.by_id(account_id)

    async def identities_of(self, account_id: int) -> list[Identity]:
        """The chat identities linked to an account."""
        return await self.store.identities_of(account_id)

    async def unlink_platform(self, account_id: int, platform: str) -> bool:
        """Unlink the account's identity on `platform`; False when there was none."""
        removed = await self.store.unlink_platform(account_id, platform)
        if removed:
            log.info("identity unlinked: account_id=%s platform=%s", account_id, platform)
        return removed

    async def change_password(
        self,
        account: Account,
        current_password: str,
        new_password: str,
        *,
        client: str | None = None,
    ) -> Account:
        """Prove the current password, then set a new one; returns the updated account."""
        await self.authenticate(account.username, current_password, client=client)
        check_password(new_password)
        await self.store.set_password_hash(account.id, await self.hasher.hash(new_password))
        log.info("password changed: account_id=%s", account.id)
        updated = await self.store.by_id(account.id)
        assert updated is not None
        return updated

    async def delete_own(
        self,
        account: Account,
        password: str,
        *,
        forget: Callable[[int], Awaitable[object]],
        client: str | None = None,
    ) -> None:
        """Prove the password, then delete the account with its identities, codes and
        messages; `forget` (the memory's) erases the messages first, caches included."""
        await self.authenticate(account.username, password, client=client)
        await forget(account.id)
        await self.store.delete(account.id)
        log.info("account deleted by its owner: account_id=%s", account.id)

    async def set_password(self, account: Account, new_password: str) -> None:
        """Set a new password without the current one (the operator's reset)."""
        check_password(new_password)
        await self.store.set_password_hash(account.id, await self.hasher.hash(new_password))
        log.info("password reset: account_id=%s", account.id)

    async def by_username(self, username: str) -> Account | None:
        """The account named `username` (any case), if any."""
        try:
            return await self.store.by_username(normalize_username(username))
        except InputRejected:
            return None

    async def set_disabled(self, username: str, disabled: bool) -> Account:
        """Disable or enable an account by name; InputRejected when there is none."""
        account = await self.by_username(username)
        if account is None:
            raise InputRejected(f"No account named {username!r}.")
        await self.store.set_disabled(account.id, disabled)
        log.info("account %s: account_id=%s", "disabled" if disabled else "enabled", account.id)
        return account


@dataclass(frozen=True, slots=True)
class Registration:
    """A checked registration, ready to store."""

    username: str
    password_hash: str
    invite_hash: str | None


def hash_invite(code: str) -> str:
    """Invites are stored hashed: a database leak gives no usable codes."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


def credential_version(account: Account) -> str:
    """Changes whenever the password does: sessions and tokens carry it, so a new password
    logs out every other session."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]
