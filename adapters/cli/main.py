"""The `chatlink` command line: run, migrate, user, invite, link-code, models, doctor, prune,
backup, stats. Results go to standard output, logs and errors to standard error."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from adapters.cli import accounts, upkeep
from adapters.cli.event_loop import run_on_loop, running_loop_name
from adapters.cli.models import list_models
from bot.app import Chatlink, migrate, open_chatlink
from bot.delivery import Door, serve
from bot.errors import ChatlinkError, ConfigError
from bot.monitoring import configure_logging, redact, scrub
from bot.operations import Check, Retention, core_checks, run_checks
from bot.settings import Settings

log = logging.getLogger("chatlink")

DoorFactory = Callable[[Chatlink], Sequence[Door]]
CheckFactory = Callable[[Chatlink], Sequence[Check]]
# The verbs that may make a new database; every other one refuses to, so that one run from
# the wrong folder says so instead of starting an empty database there. `user add` and
# `invite create` are how an operator sets up before the first run (the first admin, the
# first invite). `prune` on no database has nothing to delete and says so.
CREATES_DATABASE = {"run", "migrate", "user add", "invite create"}


def chatlink_version() -> str:
    """The installed package's version ("unknown" when run from a bare source tree)."""
    try:
        return version("chatlink")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatlink",
        description="One chat bot for Telegram, Discord and the web, with one memory per person.",
    )
    parser.add_argument("--version", action="version", version=f"chatlink {chatlink_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run", help="serve every configured door until Ctrl-C or SIGTERM",
        description="Migrate the database, start every configured adapter and serve until "
        "Ctrl-C or SIGTERM, then shut down cleanly.",
    )  # fmt: skip
    commands.add_parser(
        "migrate", help="bring the database schema up to date",
        description="Apply pending Alembic migrations (also done by `run`) and say which.",
    )  # fmt: skip
    accounts.add_user_parser(commands)
    accounts.add_code_parsers(commands)
    commands.add_parser(
        "models", help="list the models and personas users may pick",
        description="The catalogue: MODELS_FILE and PERSONAS_FILE, or the one LLM_* model.",
    )  # fmt: skip
    commands.add_parser(
        "doctor", help="check settings, database, migrations, tokens, model and Redis",
        description="Check every part of the set-up and print pass or fail, with the fix for "
        "each failure. Exits non-zero when anything fails.",
    )  # fmt: skip
    upkeep.add_parsers(commands)
    return parser


def _settings_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]).upper()
        # A rule across settings has no one field; its message names the settings itself.
        text = str(error.get("ctx", {}).get("error", error["msg"]))
        if not field:
            text = text.removeprefix("Value error, ")
        lines.append(f"chatlink: setting {field}: {text}" if field else f"chatlink: {text}")
    return lines


def main(
    argv: Sequence[str] | None = None,
    *,
    build_doors: DoorFactory | None = None,
    build_checks: CheckFactory | None = None,
) -> int:
    """Parse arguments and run one command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "run":
        gc.enable()  # off while chatlink starts (adapters.compose.main); `run` settles it later
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in _settings_errors(exc):
            print(line, file=sys.stderr)
        if args.command == "doctor":
            print(f"{'settings':<12}  FAIL  fix the settings above (.env or environment)")
        return 2
    # Only `run` narrates its work at INFO; a one-shot command's output is its result.
    quiet = args.command not in ("run", "migrate") and settings.log_level == "INFO"
    configure_logging("WARNING" if quiet else settings.log_level, settings.log_format)
    for line in settings.misspelled():
        log.warning("%s", line)
    try:
        work = _dispatch(args, settings, build_doors, build_checks)
        return run_on_loop(work, settings.event_loop)
    except ConfigError as exc:
        print(f"chatlink: {scrub(str(exc))}", file=sys.stderr)
        return 2
    except ChatlinkError as exc:
        print(f"chatlink: {scrub(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _verb(args: argparse.Namespace) -> str:
    action = getattr(args, "user_command", None) or getattr(args, "invite_command", None)
    return f"{args.command} {action}" if action else str(args.command)


async def _dispatch(
    args: argparse.Namespace,
    settings: Settings,
    build_doors: DoorFactory | None,
    build_checks: CheckFactory | None,
) -> int:
    if args.command == "migrate":
        applied = await migrate(settings)
        for revision in applied:
            print(f"applied {revision}")
        head = applied[-1].split(":")[0] if applied else None
        print(
            f"database is up to date: schema at {head}"
            if head
            else "database is up to date: no migration was due"
        )
        return 0
    if args.command == "doctor":
        return await _doctor(settings, build_checks)
    if args.command == "models":
        return await list_models(settings)
    creates = _verb(args) in CREATES_DATABASE
    async with open_chatlink(settings, create=creates, missing_ok=args.command == "prune") as app:
        if args.command == "run":
            return await _run(app, build_doors)
        if args.command == "user":
            return await accounts.user(app, args)
        if args.command == "invite":
            return await accounts.invite(app, args)
        if args.command == "link-code":
            return await accounts.link_code(app, args.username)
        if args.command == "stats":
            return await upkeep.stats(app)
        if args.command == "prune":
            return await upkeep.prune(app, args)
        if args.command == "backup":
            return await upkeep.backup(app, args.path)
    raise AssertionError(args.command)


# Objects allocated between young collections (Python's default is 700); young collections
# between middle ones (default 10), and middle ones between full ones (default 10).
GC_THRESHOLDS = (3_000, 2, 1_700)


def settle_collector() -> None:
    """Tune the garbage collector for a long-running server, once what it serves is built.

    What exists by now (the libraries, the app: about 350,000 objects) lives as long as the
    process, so it is frozen out of every collection. With Python's defaults a busy server
    still ran a full collection every second or so, each stopping the event loop for 0.1 to
    0.36 s (1,000 streamed replies at once in benchmarks/streaming.py: 11 full collections,
    2 s in all); with these thresholds there was none in that run, and CPU per reply fell
    from 9.3 to 7.2 ms. Cyclic garbage still goes, only in fewer, larger batches.

    The middle generation is collected once three young collections have run (not eleven),
    so each of its collections has few objects to look at: there, what a thousand streams
    in flight hold for the length of their replies (each new WebSocket brings some seventy
    objects: the protocol, its headers, queues and buffers), about a microsecond each. With
    (10_000, 10, 100) one stopped the loop for 37 to 86 ms, long enough alone to hold up a
    first piece of text past 100 ms; with (10_000, 2, 500), 20 to 52 ms; with a young
    generation of 3,000 instead of 10,000, 4 to 34 ms. Over five alternating pairs of the
    thousand conversations (2026-12-04) the loop's lag p99 averaged 52 and 53 ms (new and
    warm threads) against 54 and 58, at the same CPU per reply (2.8 ms): within the noise,
    as the lag is now set by the loop's longest turns more than by the collector. Full
    collections stay as rare: one after 1,700 middle ones, each after three young ones,
    some 15 million net allocations apart, as with (10_000, 2, 500).

    The collector was off until now (adapters.compose.main): it is turned on here."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()


async def _run(app: Chatlink, build_doors: DoorFactory | None) -> int:
    settings = app.settings
    doors = list(build_doors(app)) if build_doors is not None else []
    if settings.retention_days:
        doors.append(Retention(app.core.memory.store, settings.retention_days))
    log.info(
        "chatlink %s on %s: provider %s, model %s; doors: %s",
        chatlink_version(),
        running_loop_name(),
        app.core.provider.name,
        settings.llm_model or "-",
        ", ".join(door.name for door in doors) or "none",
    )
    if not doors:
        log.warning("no door is configured: serving nothing until stopped (see README)")
    settle_collector()
    await serve(doors, health=app.doors)
    log.info("stopped cleanly")
    return 0


async def _doctor(settings: Settings, build_checks: CheckFactory | None) -> int:
    """Never a traceback: whatever fails is a FAIL row with the fix."""
    for token in (settings.telegram_bot_token, settings.discord_bot_token):
        if token is not None:
            redact(token.get_secret_value())
    try:
        async with open_chatlink(settings, migrate=False, create=False, missing_ok=True) as app:
            checks = (
                build_checks(app)
                if build_checks is not None
                else core_checks(app.db, app.core.provider, app.limiter, catalogue=app.catalogue)
            )
            outcomes = await run_checks(checks)
    except ChatlinkError as exc:
        name = "database" if "DATABASE_URL" in str(exc) or "database" in str(exc) else "settings"
        print(f"{name:<12}  FAIL  {scrub(str(exc))}")
        return 1
    except Exception as exc:  # a bug of ours must still leave the operator a table
        print(f"{'setup':<12}  FAIL  {scrub(type(exc).__name__)}: see the log with LOG_LEVEL=DEBUG")
        log.debug("doctor failed", exc_info=True)
        return 1
    print(f"{'settings':<12}  pass  read and valid")
    for outcome in outcomes:
        status = "pass" if outcome.passed else "FAIL"
        print(f"{outcome.name:<12}  {status}  {scrub(outcome.detail)}")
    failed = sum(not o.passed for o in outcomes)
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
