"""Shared by the benchmarks: settings, fast seeding into the real schema, figures, and
re-running a script in a fresh process.

Seeding writes with plain sqlite3 into a database that `storage.upgrade` has migrated, so the
rows are the real schema's, without argon2 or a transaction per row: every account gets the
same password hash, computed once with the app's own hasher.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import cycle, islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.accounts import PasswordHasher
from bot.clock import utcnow
from bot.settings import Settings
from storage import Database, upgrade

CHILD = "--child"  # a script run with this flag measures one size and prints JSON
FILLER = " lorem ipsum dolor sit amet" * 4  # stored messages of a realistic length


def settings(folder: Path, **overrides: Any) -> Settings:
    """Settings for a benchmark in `folder`: no web door, a fixed key, no .env."""
    values: dict[str, Any] = {
        "data_dir": folder,
        "secret_key": "b" * 48,
        "web_enabled": False,
        "link_code_requests_per_hour": 1_000_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def database_path(folder: Path) -> Path:
    """Where `settings(folder)` (and benchmarks/core.py) put the SQLite file."""
    path = Database(settings(folder).database_url).sqlite_path
    assert path is not None
    return path


async def migrate(folder: Path) -> Path:
    """Create the database of `settings(folder)` with every migration applied."""
    db = Database(settings(folder).database_url)
    try:
        await upgrade(db)
    finally:
        await db.close()
    return database_path(folder)


def stamp(moment: datetime) -> str:
    """A naive UTC datetime as SQLAlchemy's SQLite DATETIME stores it."""
    return moment.isoformat(" ", "microseconds")


def connect(path: Path) -> sqlite3.Connection:
    """A plain connection for seeding: one transaction per `with` block."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=NORMAL")
    # Messages go to threads in turn: index inserts land all over, so keep the index in memory.
    db.execute("PRAGMA cache_size=-262144")
    return db


def password_hash(password: str) -> str:
    """One real argon2 hash of `password` (the app's hasher), to share between accounts."""
    with PasswordHasher() as hasher:
        return asyncio.run(hasher.hash(password))


def _insert(db: sqlite3.Connection, table: str, sql: str, rows: Iterable[tuple[Any, ...]]) -> range:
    """executemany into `table`; the ids SQLite gave the new rows (max(id) + 1 onwards)."""
    (before,) = db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
    db.executemany(sql, rows)
    (after,) = db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
    return range(before + 1, after + 1)


def add_accounts(
    db: sqlite3.Connection,
    usernames: Sequence[str],
    password_hash: str,
    telegram_ids: Sequence[str] | None = None,
) -> range:
    """Insert accounts (and, given ids, a linked Telegram identity each); their ids in order."""
    now = stamp(utcnow())
    with db:
        ids = _insert(
            db,
            "accounts",
            "INSERT INTO accounts (username, password_hash, created_at) VALUES (?, ?, ?)",
            ((name, password_hash, now) for name in usernames),
        )
        assert len(ids) == len(usernames)
        if telegram_ids is not None:
            db.executemany(
                "INSERT INTO identities (account_id, platform, platform_user_id, display_name, "
                "created_at) VALUES (?, 'telegram', ?, ?, ?)",
                (
                    (account, user, f"user {user}", now)
                    for account, user in zip(ids, telegram_ids, strict=True)
                ),
            )
    return ids


def add_threads(db: sqlite3.Connection, keys: Sequence[tuple[int, str]]) -> range:
    """Insert threads given as (account id, key); their ids in order."""
    now = stamp(utcnow())
    with db:
        ids = _insert(
            db,
            "threads",
            "INSERT INTO threads (account_id, key, created_at) VALUES (?, ?, ?)",
            ((account_id, key, now) for account_id, key in keys),
        )
    assert len(ids) == len(keys)
    return ids


def add_messages(db: sqlite3.Connection, thread_ids: Iterator[int], count: int) -> None:
    """Insert `count` messages, the n-th into the n-th thread id given, dated over the last
    30 days in id order, alternating user and assistant."""
    start = utcnow() - timedelta(days=30)
    step = timedelta(days=30) / max(count, 1)
    rows = (
        (
            thread_id,
            "user" if n % 2 == 0 else "assistant",
            f"stored message {n}:{FILLER}",
            "telegram",
            stamp(start + step * n),
        )
        for n, thread_id in enumerate(islice(thread_ids, count))
    )
    with db:
        db.executemany(
            "INSERT INTO messages (thread_id, role, content, platform, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def round_robin(ids: Sequence[int]) -> Iterator[int]:
    """The ids over and over, so a thread's messages are interleaved with everyone else's."""
    return cycle(ids)


def run_child(script: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    """Run `script --child ARGS` in a fresh interpreter; the JSON it printed last."""
    done = subprocess.run(
        [sys.executable, script, CHILD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{Path(script).name} {' '.join(args)} failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
