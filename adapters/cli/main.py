"""The `chatlink` command line: run, migrate, user, link-code, models, stats."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from pydantic import ValidationError

from adapters.cli.models import list_models
from bot.app import Chatlink, migrate, open_chatlink
from bot.clock import utcnow
from bot.delivery import Door, serve
from bot.errors import ChatlinkError, ConfigError
from bot.monitoring import configure_logging, redact, scrub
from bot.operations import (
    Check,
    Retention,
    core_checks,
    database_stats,
    parse_duration,
    run_checks,
    usage_today,
)
from bot.settings import Settings

log = logging.getLogger("chatlink")
STATS_TOP_ACCOUNTS = 10  # the accounts that spent most today


def cli_actor() -> str:
    """How the audit log names actions taken on the command line: "cli" and the system user
    (asked when needed: a container may have no passwd entry for its user)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


DoorFactory = Callable[[Chatlink], Sequence[Door]]
CheckFactory = Callable[[Chatlink], Sequence[Check]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatlink",
        description="One chat bot for Telegram, Discord and the web, with one memory per person.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "run", help="serve every configured door until Ctrl-C or SIGTERM",
        description="Migrate the database, start every configured adapter and serve until "
        "Ctrl-C or SIGTERM, then shut down cleanly.",
    )  # fmt: skip
    commands.add_parser(
        "migrate", help="bring the database schema up to date",
        description="Apply pending Alembic migrations (also done by `run`).",
    )  # fmt: skip

    user = commands.add_parser("user", help="manage accounts", description="Manage accounts.")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_commands.add_parser(
        "add", help="create an account",
        description="Create an account. The password is asked for at a prompt, or read "
        "from the first line of standard input when it is not a terminal.",
    )  # fmt: skip
    add.add_argument("username", help="3-32 characters of a-z 0-9 _ . -")
    user_commands.add_parser("list", help="list accounts", description="List every account.")
    for action, text in (
        ("disable", "refuse this account's logins and chats"),
        ("enable", "undo disable"),
        ("promote", "make the account an admin (the web page's /admin)"),
        ("demote", "take admin rights away"),
        ("unlock", "forget the account's failed logins, from every address (ends a lockout)"),
    ):
        sub = user_commands.add_parser(action, help=text, description=text.capitalize() + ".")
        sub.add_argument("username")

    invite = commands.add_parser(
        "invite", help="invite codes for REGISTRATION=invite",
        description="Manage invite codes (needed to register when REGISTRATION=invite).",
    )  # fmt: skip
    invite_commands = invite.add_subparsers(dest="invite_command", required=True, metavar="ACTION")
    create = invite_commands.add_parser(
        "create", help="make an invite code",
        description="Make an invite code; it is printed once, as the last line.",
    )  # fmt: skip
    create.add_argument("--uses", type=int, default=1, help="registrations it allows (default 1)")
    create.add_argument("--expires", default="7d", help="validity: 30m, 12h, 7d (default 7d)")
    invite_commands.add_parser("list", help="list invites", description="List every invite.")
    revoke = invite_commands.add_parser("revoke", help="revoke an invite", description="Revoke.")
    revoke.add_argument("id", type=int, help="the invite's number (from `invite list`)")

    code = commands.add_parser(
        "link-code", help="make an account-first link code",
        description="Print a one-time code that links a chat to the account when sent as "
        "`/link CODE` to the bot. The code is the last line of the output.",
    )  # fmt: skip
    code.add_argument("username")
    commands.add_parser(
        "doctor", help="check settings, database, migrations, tokens, model and Redis",
        description="Check every part of the set-up and print pass or fail, with the fix for "
        "each failure. Exits non-zero when anything fails.",
    )  # fmt: skip
    prune = commands.add_parser(
        "prune", help="delete messages older than RETENTION_DAYS",
        description="Delete messages older than RETENTION_DAYS (or --days), in batches. "
        "`chatlink run` does this hourly by itself when RETENTION_DAYS is set.",
    )  # fmt: skip
    prune.add_argument("--days", type=int, help="retention period (default: RETENTION_DAYS)")
    prune.add_argument("--dry-run", action="store_true", help="only say how many would go")
    commands.add_parser(
        "models", help="list the models and personas users may pick",
        description="The catalogue: MODELS_FILE and PERSONAS_FILE, or the one LLM_* model.",
    )  # fmt: skip
    commands.add_parser(
        "stats", help="show counts and the database size",
        description="Accounts, linked identities per platform, messages and database size.",
    )  # fmt: skip
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    build_doors: DoorFactory | None = None,
    build_checks: CheckFactory | None = None,
) -> int:
    """Parse arguments and run one command; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]).upper()
            # A rule across settings has no one field; its message names the settings itself.
            text = str(error.get("ctx", {}).get("error", error["msg"]))
            print(
                f"chatlink: setting {field}: {text}" if field else f"chatlink: {text}",
                file=sys.stderr,
            )
        if args.command == "doctor":
            print(f"{'settings':<12}  FAIL  fix the settings above (.env or environment)")
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(_dispatch(args, settings, build_doors, build_checks))
    except ConfigError as exc:
        print(f"chatlink: {exc}", file=sys.stderr)
        return 2
    except ChatlinkError as exc:
        print(f"chatlink: {scrub(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _dispatch(
    args: argparse.Namespace,
    settings: Settings,
    build_doors: DoorFactory | None,
    build_checks: CheckFactory | None,
) -> int:
    if args.command == "migrate":
        await migrate(settings)
        print("database is up to date")
        return 0
    if args.command == "models":
        return await list_models(settings)
    if args.command == "doctor":
        for token in (settings.telegram_bot_token, settings.discord_bot_token):
            if token is not None:
                redact(token.get_secret_value())
        try:
            async with open_chatlink(settings, migrate=False) as app:
                checks = (
                    build_checks(app)
                    if build_checks is not None
                    else core_checks(
                        app.db, app.core.provider, app.limiter, catalogue=app.catalogue
                    )
                )
                return await _doctor(checks)
        except ConfigError as exc:
            print(f"{'settings':<12}  FAIL  {exc}")
            return 1
    async with open_chatlink(settings) as app:
        if args.command == "run":
            return await _run(app, build_doors)
        if args.command == "user":
            return await _user(app, args)
        if args.command == "invite":
            return await _invite(app, args)
        if args.command == "link-code":
            return await _link_code(app, args.username)
        if args.command == "stats":
            return await _stats(app)
        if args.command == "prune":
            return await _prune(app, args.days, args.dry_run)
    raise AssertionError(args.command)


async def _run(app: Chatlink, build_doors: DoorFactory | None) -> int:
    doors = list(build_doors(app)) if build_doors is not None else []
    if app.settings.retention_days:
        doors.append(Retention(app.core.memory.store, app.settings.retention_days))
    if not doors:
        log.warning("no door is configured: serving nothing until stopped (see README)")
    await serve(doors)
    log.info("stopped cleanly")
    return 0


async def _prune(app: Chatlink, days: int | None, dry_run: bool) -> int:
    days = days or app.settings.retention_days
    if not days or days < 1:
        raise ChatlinkError("Set RETENTION_DAYS or pass --days N (at least 1).")
    retention = Retention(app.core.memory.store, days)
    if dry_run:
        print(f"{await retention.due()} message(s) older than {days} days would be deleted")
    else:
        print(f"deleted {await retention.prune()} message(s) older than {days} days")
    return 0


async def _doctor(checks: Sequence[Check]) -> int:
    outcomes = await run_checks(checks)
    print(f"{'settings':<12}  pass  read and valid")
    for outcome in outcomes:
        status = "pass" if outcome.passed else "FAIL"
        print(f"{outcome.name:<12}  {status}  {scrub(outcome.detail)}")
    failed = sum(not o.passed for o in outcomes)
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0


def read_password(stdin: TextIO = sys.stdin) -> str:
    """From a prompt (typed twice) on a terminal, else the first line of standard input."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise ChatlinkError("The passwords do not match.")
        return first
    return stdin.readline().rstrip("\r\n")


async def _user(app: Chatlink, args: argparse.Namespace) -> int:
    if args.user_command == "add":
        account = await app.admin.add_account(cli_actor(), args.username, read_password())
        print(f"created account {account.username}")
    elif args.user_command == "list":
        accounts = await app.accounts.store.all()
        print(f"{'username':<32}  {'created (UTC)':<19}  {'state':<8}  linked")
        for account in accounts:
            identities = await app.accounts.store.identities_of(account.id)
            state = "disabled" if account.disabled else "admin" if account.is_admin else "active"
            print(
                f"{account.username:<32}  {account.created_at:%Y-%m-%d %H:%M:%S}  {state:<8}  "
                f"{', '.join(i.platform for i in identities) or '-'}"
            )
        print(f"{len(accounts)} account(s)")
    elif args.user_command == "unlock":
        return await _unlock(app, args.username)
    elif args.user_command in ("disable", "enable"):
        disabled = args.user_command == "disable"
        account = await app.admin.set_disabled(cli_actor(), args.username, disabled)
        print(f"account {account.username} {'disabled' if disabled else 'enabled'}")
    else:
        promote = args.user_command == "promote"
        account = await app.admin.set_admin(cli_actor(), args.username, promote)
        print(f"account {account.username} {'is now an admin' if promote else 'is no admin'}")
    return 0


async def _unlock(app: Chatlink, username: str) -> int:
    account = await app.admin.unlock(cli_actor(), username)
    print(f"account {account.username}: failed logins forgotten, it can log in again")
    return 0


async def _invite(app: Chatlink, args: argparse.Namespace) -> int:
    if args.invite_command == "create":
        code, invite = await app.admin.create_invite(
            cli_actor(), args.uses, parse_duration(args.expires)
        )
        until = f"{invite.expires_at:%Y-%m-%d %H:%M} UTC"
        print(f"Invite {invite.id}: {invite.uses_left} use(s), until {until}.")
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


async def _link_code(app: Chatlink, username: str) -> int:
    account, issued = await app.admin.link_code_for(cli_actor(), username)
    print(f"Link code for {account.username}, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC.")
    print("Send it to the bot in a private chat as: /link <code>")
    print(issued.code)
    return 0


async def _stats(app: Chatlink) -> int:
    stats = await database_stats(app.db, utcnow())
    rows = [
        ("accounts", f"{stats.accounts} ({stats.disabled_accounts} disabled)"),
        *(
            (f"linked {platform} identities", str(count))
            for platform, count in sorted(stats.identities_by_platform.items())
        ),
        ("conversation threads", str(stats.threads)),
        ("messages", str(stats.messages)),
        ("pending link codes", str(stats.pending_link_codes)),
        (
            "database size",
            "n/a (server)" if stats.database_bytes is None else _size(stats.database_bytes),
        ),
    ]
    # Model tokens since 00:00 UTC: the budget's day.
    by_model, by_account = await usage_today(app.db, app.core.usage.day_start())
    rows += [(f"tokens today, model {u.name}", f"{u.tokens:,} ({u.calls} calls)") for u in by_model]
    top = sorted(by_account, key=lambda u: -u.tokens)[:STATS_TOP_ACCOUNTS]
    rows += [(f"tokens today, account {u.name}", f"{u.tokens:,} ({u.calls} calls)") for u in top]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError
