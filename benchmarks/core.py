"""Core throughput: 100 linked conversations x 20 messages through ChatCore (echo, SQLite file),
against the floor of plain sqlite3 doing the same SQL work in one thread.

Each conversation's first message after start (account, thread and history read from the
database) is sent before the clock starts and reported on its own rows; at the end every
replied message is looked up in the database file with its reply.

    .venv/bin/python benchmarks/core.py [--conversations 100] [--messages 20]

Prints one table. Not a test: the machine is shared and noisy; compare the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import open_chatlink
from bot.messages import IncomingMessage, Platform
from bot.settings import Settings

PASSWORD = "benchmark password"


def dm(user: int, text: str) -> IncomingMessage:
    return IncomingMessage(Platform.TELEGRAM, str(user), str(user), True, text)


async def chatlink_run(
    folder: Path, conversations: int, messages: int, *, cold: list[float] | None = None
) -> tuple[float, list[float]]:
    """Link the conversations, send each one first message (the cold start: account, thread
    and history read from the database; its latencies go to `cold`), then time `messages`
    more per conversation, all conversations at once."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=folder, secret_key="b" * 48, web_enabled=False,
        rate_limit_per_minute=0, link_code_requests_per_hour=1_000_000,
        # The set-up registers every account at once (outside the timing): past LOGIN_QUEUE_MAX
        # the hasher would turn them away as a busy server does.
        login_queue_max=max(8, conversations),
    )  # fmt: skip
    async with open_chatlink(settings) as app:
        accounts = await asyncio.gather(
            *(app.accounts.register(f"user{n}", PASSWORD) for n in range(conversations))
        )
        for n, account in enumerate(accounts):
            code = (await app.links.issue_for_account(account.id)).code
            await app.core.handle(dm(n, f"/link {code}"))

        async def first(n: int) -> None:
            started = time.perf_counter()
            await app.core.handle(dm(n, "hello"))
            if cold is not None:
                cold.append(time.perf_counter() - started)

        await asyncio.gather(*(first(n) for n in range(conversations)))
        latencies: list[float] = []

        async def conversation(n: int) -> None:
            for i in range(messages):
                started = time.perf_counter()
                await app.core.handle(dm(n, f"message {i}"))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(conversation(n) for n in range(conversations)))
        return time.perf_counter() - started, latencies


def stored_pairs(folder: Path) -> int:
    """Messages stored with their reply, read back by a connection of its own after the run:
    every reply the benchmark got must be there (committed before it was returned)."""
    with sqlite3.connect(folder / "chatlink.db") as db:
        users, replies = db.execute(
            "SELECT sum(role = 'user'), sum(role = 'assistant') FROM messages"
        ).fetchone()
    return min(users, replies)


def sqlite_floor(folder: Path, conversations: int, messages: int) -> float:
    """Insert the user message, read the last 20, insert the reply: one commit per insert."""
    db = sqlite3.connect(folder / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, thread_id INTEGER, role TEXT, "
        "content TEXT, created_at TEXT)"
    )
    db.execute("CREATE INDEX ix ON messages (thread_id, id)")
    started = time.perf_counter()
    for i in range(messages):
        for n in range(conversations):
            db.execute(
                "INSERT INTO messages (thread_id, role, content, created_at) VALUES (?, ?, ?, ?)",
                (n, "user", f"message {i}", "now"),
            )
            db.execute(
                "SELECT * FROM messages WHERE thread_id = ? ORDER BY id DESC LIMIT 20", (n,)
            ).fetchall()
            db.execute(
                "INSERT INTO messages (thread_id, role, content, created_at) VALUES (?, ?, ?, ?)",
                (n, "assistant", f"Echo: message {i}", "now"),
            )
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    total = args.conversations * args.messages
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cold: list[float] = []
        elapsed, latencies = asyncio.run(
            chatlink_run(folder, args.conversations, args.messages, cold=cold)
        )
        stored = stored_pairs(folder)
        floor = sqlite_floor(folder, args.conversations, args.messages)
    rate, floor_rate = total / elapsed, total / floor
    p99 = percentile(latencies, 0.99)
    print(f"{'measure':<34} {'value':>12}")
    print(f"{'chatlink messages/s':<34} {rate:>12,.0f}")
    print(f"{'chatlink p50 latency (ms)':<34} {statistics.median(latencies) * 1000:>12.1f}")
    print(f"{'chatlink p99 latency (ms)':<34} {p99 * 1000:>12.1f}")
    print(f"{'floor: plain sqlite3 messages/s':<34} {floor_rate:>12,.0f}")
    print(f"{'ratio chatlink / floor':<34} {rate / floor_rate:>12.1%}")
    print(f"{'replied messages stored with reply':<34} {f'{stored:,}/{total + len(cold):,}':>12}")
    print(f"{'first message after start p50 (ms)':<34} {statistics.median(cold) * 1000:>12.1f}")
    print(f"{'first message after start p99 (ms)':<34} {percentile(cold, 0.99) * 1000:>12.1f}")


if __name__ == "__main__":
    main()
