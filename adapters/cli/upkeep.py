"""`chatlink prune`, `backup` and `stats`: looking after the database."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bot.app import Chatlink
from bot.clock import utcnow
from bot.errors import ConfigError, InputRejected
from bot.operations import Retention, database_stats, describe_usage, usage_today

STATS_TOP_ACCOUNTS = 10  # the accounts that spent most today

LINE_EVERY_S = 5.0  # progress lines when the output is not a terminal (a log, a cron mail)


class Progress:
    """Progress on stderr: one rewritten line on a terminal, else a line every few seconds."""

    def __init__(self, what: str, total: int) -> None:
        self.what = what
        self.total = max(total, 1)
        self.terminal = sys.stderr.isatty()
        self._last = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        """Report `done` of `total` (or of the total given at the start)."""
        total = max(total or self.total, 1)
        if self.terminal:
            filled = min(30, 30 * done // total)
            bar = "#" * filled + "-" * (30 - filled)
            print(f"\r{self.what} [{bar}] {done}/{total}", end="", file=sys.stderr, flush=True)
        elif time.monotonic() - self._last >= LINE_EVERY_S:
            self._last = time.monotonic()
            print(f"{self.what}: {done}/{total}", file=sys.stderr, flush=True)

    def done(self) -> None:
        """End the rewritten line."""
        if self.terminal:
            print(file=sys.stderr)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `prune`, `backup` and `stats` verbs."""
    prune = commands.add_parser(
        "prune", help="delete messages older than RETENTION_DAYS",
        description="Delete messages older than RETENTION_DAYS (or --days), in batches. "
        "`chatlink run` does this hourly by itself when RETENTION_DAYS is set.",
    )  # fmt: skip
    prune.add_argument("--days", type=int, help="retention period (default: RETENTION_DAYS)")
    prune.add_argument("--dry-run", action="store_true", help="only say how many would go")
    prune.add_argument(
        "--vacuum", action="store_true", help="then give the freed space back to the disk (SQLite)"
    )
    backup = commands.add_parser(
        "backup", help="copy the SQLite database, online and consistent",
        description="Copy the SQLite database to PATH (a new file) while chatlink may be "
        "running, with SQLite's online backup API. For PostgreSQL use pg_dump (README).",
    )  # fmt: skip
    backup.add_argument("path", type=Path, help="the new file to write")
    commands.add_parser(
        "stats", help="show counts and the database size",
        description="Accounts, linked identities per platform, messages and database size.",
    )  # fmt: skip


async def prune(app: Chatlink, args: argparse.Namespace) -> int:
    """Delete old messages, with progress; then vacuum, or say how."""
    days = args.days or app.settings.retention_days
    if not days or days < 1:
        raise InputRejected("Set RETENTION_DAYS or pass --days N (at least 1).")
    if not app.db.exists():
        print(f"no database at {app.db.sqlite_path}: nothing to delete", file=sys.stderr)
        print(f"0 message(s) older than {days} days {'would be' if args.dry_run else 'were'} "
              "deleted")  # fmt: skip
        return 0
    retention = Retention(app.core.memory.store, days)
    due = await retention.due()
    if args.dry_run:
        print(f"{due} message(s) older than {days} days would be deleted")
        return 0
    progress = Progress("deleting", due)
    deleted = await retention.prune(progress)
    progress.done()
    print(f"deleted {deleted} message(s) older than {days} days")
    if args.vacuum:
        if await app.db.vacuum():
            print("database file compacted: the freed space is back on the disk")
        else:
            print("nothing to compact: PostgreSQL's autovacuum reuses the space by itself")
    elif deleted and app.db.sqlite_path is not None:
        print("the file keeps its size until compacted: chatlink prune --vacuum (or run it "
              "with --days again later)")  # fmt: skip
    return 0


async def backup(app: Chatlink, path: Path) -> int:
    """`chatlink backup PATH`."""
    if app.db.sqlite_path is None:
        raise ConfigError(
            "chatlink backup copies SQLite databases; for PostgreSQL use pg_dump "
            "(docs/operating.md, Backups)"
        )
    progress = Progress("copying pages", 0)
    try:
        size = await app.db.backup(path, progress)
    except FileExistsError:
        raise InputRejected(f"{path} exists already: choose a new file name.") from None
    except OSError as exc:
        raise InputRejected(f"Cannot write {path}: {exc.strerror or exc}.") from None
    finally:
        progress.done()
    print(f"backed up {app.db.sqlite_path} to {path} ({_size(size)})")
    return 0


async def stats(app: Chatlink) -> int:
    """Counts, the database size, and today's tokens per model and for the top accounts."""
    found = await database_stats(app.db, utcnow())
    rows = [
        ("accounts", f"{found.accounts} ({found.disabled_accounts} disabled)"),
        *(
            (f"linked {platform} identities", str(count))
            for platform, count in sorted(found.identities_by_platform.items())
        ),
        ("conversation threads", str(found.threads)),
        ("messages", str(found.messages)),
        ("pending link codes", str(found.pending_link_codes)),
        (
            "database size",
            "n/a (server)" if found.database_bytes is None else _size(found.database_bytes),
        ),
    ]
    # Model tokens since 00:00 UTC: the budget's day.
    by_model, by_account = await usage_today(app.db, app.core.usage.day_start())
    rows += [(f"tokens today, model {u.name}", describe_usage(u)) for u in by_model]
    top = sorted(by_account, key=lambda u: -u.tokens)[:STATS_TOP_ACCOUNTS]
    rows += [(f"tokens today, account {u.name}", describe_usage(u)) for u in top]
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
