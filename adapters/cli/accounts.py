"""`chatlink user`, `invite` and `link-code`: accounts and codes from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from bot.app import Chatlink
from bot.clock import utcnow
from bot.errors import ChatlinkError, InputRejected, UsernameUnavailable
from bot.operations import parse_duration


def cli_actor() -> str:
    """How the audit log names actions taken on the command line: "cli" and the system user
    (asked when needed: a container may have no passwd entry for its user)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def read_password(stdin: TextIO = sys.stdin) -> str:
    """From a prompt (typed twice) on a terminal, else the first line of standard input."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise ChatlinkError("The passwords do not match.")
        return first
    return stdin.readline().rstrip("\r\n")


def confirmed(question: str, stdin: TextIO = sys.stdin) -> bool:
    """Ask `question` on a terminal; refuse (with how to skip the question) otherwise."""
    if not stdin.isatty():
        raise InputRejected("Not a terminal to ask on: pass --yes to confirm.")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def add_user_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `user` verb and its actions."""
    user = commands.add_parser("user", help="manage accounts", description="Manage accounts.")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="create an account",
        description="Create an account. The password is asked for at a prompt, or read "
        "from the first line of standard input when it is not a terminal.",
    )  # fmt: skip
    add.add_argument("username", help="3-32 characters of a-z 0-9 _ . -")
    actions.add_parser("list", help="list accounts", description="List every account.")
    passwd = actions.add_parser(
        "passwd", help="set a new password for an account",
        description="Set a new password (asked at a prompt, or the first line of standard "
        "input). Every web session and API token of the account ends.",
    )  # fmt: skip
    passwd.add_argument("username")
    delete = actions.add_parser(
        "delete", help="delete an account and all it holds",
        description="Delete an account with its linked chats, threads and messages. Asks "
        "to confirm unless --yes is given.",
    )  # fmt: skip
    delete.add_argument("username")
    delete.add_argument("--yes", action="store_true", help="do not ask to confirm")
    for action, text in (
        ("disable", "refuse this account's logins and chats"),
        ("enable", "undo disable"),
        ("promote", "make the account an admin (the web page's /admin)"),
        ("demote", "take admin rights away"),
        ("unlock", "forget the account's failed logins, from every address (ends a lockout)"),
    ):
        sub = actions.add_parser(action, help=text, description=text.capitalize() + ".")
        sub.add_argument("username")


async def user(app: Chatlink, args: argparse.Namespace) -> int:
    """Run one `chatlink user` action."""
    action = args.user_command
    if action == "add":
        if await app.accounts.by_username(args.username) is not None:
            raise UsernameUnavailable(
                f"An account named {args.username!r} exists already: that username is not "
                "available."
            )
        account = await app.admin.add_account(cli_actor(), args.username, read_password())
        print(f"created account {account.username}")
    elif action == "list":
        await _list(app)
    elif action == "passwd":
        if await app.accounts.by_username(args.username) is None:
            raise InputRejected(f"No account named {args.username!r}.")
        account = await app.admin.reset_password(cli_actor(), args.username, read_password())
        print(f"password of {account.username} changed; its sessions and tokens have ended")
    elif action == "delete":
        target = await app.accounts.by_username(args.username)
        if target is None:
            raise InputRejected(f"No account named {args.username!r}.")
        question = f"Delete {target.username} with all its chats and messages?"
        if not args.yes and not confirmed(question):
            print("nothing deleted")
            return 1
        await app.admin.delete_account(cli_actor(), target.username)
        print(f"deleted account {target.username}")
    elif action == "unlock":
        account = await app.admin.unlock(cli_actor(), args.username)
        print(f"account {account.username}: failed logins forgotten, it can log in again")
    elif action in ("disable", "enable"):
        disabled = action == "disable"
        account = await app.admin.set_disabled(cli_actor(), args.username, disabled)
        print(f"account {account.username} {'disabled' if disabled else 'enabled'}")
    else:
        promote = action == "promote"
        account, changed = await app.admin.set_admin(cli_actor(), args.username, promote)
        if promote:
            print(f"account {account.username} {'is now' if changed else 'is already'} an admin")
        else:
            print(f"account {account.username} {'is no admin' if changed else 'was no admin'}")
    return 0


async def _list(app: Chatlink) -> None:
    accounts = await app.accounts.store.all()
    print(f"{'username':<32}  {'created (UTC)':<19}  {'role':<5}  {'state':<8}  linked")
    for account in accounts:
        identities = await app.accounts.store.identities_of(account.id)
        role = "admin" if account.is_admin else "user"
        state = "disabled" if account.disabled else "active"
        print(
            f"{account.username:<32}  {account.created_at:%Y-%m-%d %H:%M:%S}  {role:<5}  "
            f"{state:<8}  {', '.join(i.platform for i in identities) or '-'}"
        )
    print(f"{len(accounts)} account(s)")


def add_code_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `invite` and `link-code` verbs."""
    invite = commands.add_parser(
        "invite", help="invite codes for REGISTRATION=invite",
        description="Manage invite codes (needed to register when REGISTRATION=invite).",
    )  # fmt: skip
    actions = invite.add_subparsers(dest="invite_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="make an invite code",
        description="Make an invite code; it is printed once, as the last line.",
    )  # fmt: skip
    create.add_argument("--uses", type=int, default=1, help="registrations it allows (default 1)")
    create.add_argument("--expires", default="7d", help="validity: 30m, 12h, 7d (default 7d)")
    actions.add_parser("list", help="list invites", description="List every invite.")
    revoke = actions.add_parser("revoke", help="revoke an invite", description="Revoke.")
    revoke.add_argument("id", type=int, help="the invite's number (from `invite list`)")

    code = commands.add_parser(
        "link-code", help="make an account-first link code",
        description="Print a one-time code that links a chat to the account when sent as "
        "`/link CODE` to the bot. The code is the last line of the output.",
    )  # fmt: skip
    code.add_argument("username")


async def invite(app: Chatlink, args: argparse.Namespace) -> int:
    """Run one `chatlink invite` action."""
    if args.invite_command == "create":
        code, made = await app.admin.create_invite(
            cli_actor(), args.uses, parse_duration(args.expires)
        )
        until = f"{made.expires_at:%Y-%m-%d %H:%M} UTC"
        print(f"Invite {made.id}: {made.uses_left} use(s), until {until}.")
        print(code)
    elif args.invite_command == "list":
        print(f"{'id':>4}  {'uses left':>9}  {'used':>4}  {'expires (UTC)':<16}  state")
        now = utcnow()
        for item in await app.admin.all_invites():
            state = (
                "revoked" if item.revoked_at else "expired" if item.expires_at <= now
                else "used up" if item.uses_left == 0 else "active"
            )  # fmt: skip
            print(
                f"{item.id:>4}  {item.uses_left:>9}  {item.uses:>4}  "
                f"{item.expires_at:%Y-%m-%d %H:%M}  {state}"
            )
    else:
        await app.admin.revoke_invite(cli_actor(), args.id)
        print(f"invite {args.id} revoked")
    return 0


async def link_code(app: Chatlink, username: str) -> int:
    """`chatlink link-code NAME`: the code is the last line."""
    account, issued = await app.admin.link_code_for(cli_actor(), username)
    print(f"Link code for {account.username}, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC.")
    print("Send it to the bot in a private chat as: /link <code>")
    print(issued.code)
    return 0
