"""What admins do (web page or CLI), each action written to the audit log."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bot.accounts import AccountService, hash_invite
from bot.clock import Clock, utcnow
from bot.errors import InputRejected
from bot.limits import UsageLimits
from bot.linking import IssuedCode, LinkService
from storage import (
    Account,
    AccountOverview,
    AccountStore,
    AuditEntry,
    Invite,
    InviteStore,
    LinkCodeStore,
)

log = logging.getLogger(__name__)

_DURATION = re.compile(r"(\d{1,12})\s*([mhd])")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """'30m', '12h' or '7d', up to ten years; InputRejected otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise InputRejected(f"Not a duration: {text[:20]!r}. Use a number with m, h or d, like 7d.")
    # Bounded before a timedelta is made: a huge one overflows (and dates past it too).
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise InputRejected("A duration may be at most 3650d (ten years).")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One line of the admin page."""

    overview: AccountOverview
    tokens_today: int | None


class AdminService:
    """Operator actions; `actor` is the admin's username, or "cli"."""

    def __init__(
        self,
        accounts: AccountService,
        account_store: AccountStore,
        invites: InviteStore,
        link_codes: LinkCodeStore,
        usage: UsageLimits,
        links: LinkService,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.accounts = accounts
        self.account_store = account_store
        self.invites = invites
        self.link_codes = link_codes
        self.usage = usage
        self.links = links
        self.clock = clock

    async def _audit(self, actor: str, action: str, target: str = "") -> None:
        await self.invites.record(self.clock(), actor, action, target)
        log.info("admin action: actor=%s action=%s target=%s", actor, action, target)

    async def _named(self, username: str) -> Account:
        account = await self.accounts.by_username(username)
        if account is None:
            raise InputRejected(f"No account named {username!r}.")
        return account

    async def add_account(self, actor: str, username: str, password: str) -> Account:
        """Create an account whatever REGISTRATION says (the operator's own way in)."""
        account = await self.accounts.register(username, password, by_operator=True)
        await self._audit(actor, "account.add", account.username)
        return account

    async def link_code_for(self, actor: str, username: str) -> tuple[Account, IssuedCode]:
        """An account-first link code made by the operator for an account."""
        account = await self._named(username)
        issued = await self.links.issue_for_account(account.id)
        await self._audit(actor, "link-code.create", account.username)
        return account, issued

    async def create_invite(
        self, actor: str, uses: int, valid_for: timedelta
    ) -> tuple[str, Invite]:
        """A new invite code (shown once) good for `uses` registrations."""
        if not 1 <= uses <= 10_000:
            raise InputRejected("An invite is good for 1 to 10,000 registrations.")
        code = secrets.token_urlsafe(12)
        now = self.clock()
        invite = await self.invites.add(hash_invite(code), uses, actor, now, now + valid_for)
        await self._audit(actor, "invite.create", f"invite {invite.id} ({uses} uses)")
        return code, invite

    async def all_invites(self) -> list[Invite]:
        """Every invite, newest first."""
        return await self.invites.all()

    async def revoke_invite(self, actor: str, invite_id: int) -> None:
        """Revoke one invite."""
        if not await self.invites.revoke(invite_id, self.clock()):
            raise InputRejected(f"No active invite {invite_id}.")
        await self._audit(actor, "invite.revoke", f"invite {invite_id}")

    async def revoke_link_codes(self, actor: str) -> int:
        """Void every outstanding link code."""
        count = await self.link_codes.revoke_pending(self.clock())
        await self._audit(actor, "link-codes.revoke", f"{count} codes")
        return count

    async def _guard_admins(self, actor: Account | None, account: Account, what: str) -> None:
        """An admin on the web page may not lock themselves out, nor leave no admin."""
        if actor is not None and actor.id == account.id:
            raise InputRejected(f"You cannot {what} your own account; ask another admin.")
        if (
            account.is_admin
            and not account.disabled
            and await self.account_store.admin_count() <= 1
        ):
            raise InputRejected(
                f"{account.username} is the last admin: promote another account first."
            )

    async def set_disabled(
        self, actor: str, username: str, disabled: bool, *, by: Account | None = None
    ) -> Account:
        """Disable (or enable) an account: its chats get a short answer, nothing is stored.
        `by` is the admin acting on the web page, held to the last-admin and self guards."""
        if disabled and by is not None:
            await self._guard_admins(by, await self._named(username), "disable")
        account = await self.accounts.set_disabled(username, disabled)
        # The stored name, never the raw one from the URL (it may hold newlines).
        await self._audit(
            actor, "account.disable" if disabled else "account.enable", account.username
        )
        return account

    async def unlock(self, actor: str, username: str) -> Account:
        """Forget an account's failed logins from every address (ends a lockout)."""
        account = await self.accounts.unlock(username)
        await self._audit(actor, "account.unlock", account.username)
        return account

    async def set_admin(
        self, actor: str, username: str, is_admin: bool, *, by: Account | None = None
    ) -> tuple[Account, bool]:
        """Promote an account to admin, or demote it; whether anything changed (nothing is
        audited when it did not). `by` as for set_disabled."""
        account = await self._named(username)
        if account.is_admin == is_admin:
            return account, False
        if not is_admin and by is not None:
            await self._guard_admins(by, account, "demote")
        await self.account_store.set_admin(account.id, is_admin)
        await self._audit(
            actor, "account.promote" if is_admin else "account.demote", account.username
        )
        return account, True

    async def reset_password(self, actor: str, username: str, password: str) -> Account:
        """Set a new password without the old one; every session and token of the account
        ends, since they carry the password's version."""
        account = await self._named(username)
        await self.accounts.set_password(account, password)
        await self._audit(actor, "account.passwd", account.username)
        return account

    async def delete_account(self, actor: str, username: str) -> Account:
        """Delete an account and everything it holds (identities, threads, messages)."""
        account = await self._named(username)
        await self.account_store.delete(account.id)
        await self._audit(actor, "account.delete", account.username)
        log.info("account deleted: account_id=%s", account.id)
        return account

    async def unlink(self, actor: str, username: str, platform: str) -> None:
        """Unlink an account's identity on one platform."""
        account = await self._named(username)
        if not await self.accounts.unlink_platform(account.id, platform):
            raise InputRejected(f"{account.username} has no {platform!r} chat linked.")
        await self._audit(actor, "identity.unlink", f"{account.username} {platform}")

    async def overview(self) -> list[AccountRow]:
        """Every account with identities, activity, and today's (UTC) messages and tokens."""
        rows = []
        midnight = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        for entry in await self.account_store.overview(midnight):
            try:
                tokens: int | None = (await self.usage.today(entry.account.id)).tokens
            except Exception:
                tokens = None
            rows.append(AccountRow(entry, tokens))
        return rows

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The latest admin actions, newest first."""
        return await self.invites.audit_log(limit)
