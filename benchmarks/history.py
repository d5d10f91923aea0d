"""History size: the core benchmark of benchmarks/core.py (100 linked conversations x 20
messages through ChatCore, echo provider, SQLite file, after a first message each, timed on
its own, that reads the stored history) with 1,000, 100,000 and 1,000,000 messages already
stored; the per-message cost must not grow with them.

    .venv/bin/python benchmarks/history.py [--sizes 1000 100000 1000000] [--conversations 100]
        [--messages 20] [--own-share 0.1] [--per-thread 100] [--repeat 1]

Each size runs in a fresh process on a fresh database. Before benchmarks/core.py's
`chatlink_run` starts, plain sqlite3 fills the migrated schema: `--own-share` of the stored
messages go to the benchmark conversations' own private threads (created ahead for the account
ids their registration will get, checked afterwards), the rest to other accounts' private and
group threads of about `--per-thread` messages each, all interleaved in id order.
With --repeat, the sizes run in turn that many times and the table shows medians.
Prints one table. Not a test: the machine is shared and noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.core import PASSWORD, chatlink_run, percentile
from benchmarks.support import (
    CHILD,
    add_accounts,
    add_messages,
    add_threads,
    connect,
    migrate,
    password_hash,
    round_robin,
    run_child,
)


def placement(mine: Sequence[int], theirs: Sequence[int], own: int, stored: int) -> Iterator[int]:
    """The thread of each stored message: `own` of them spread evenly over the benchmark's
    threads, in id order among the others'."""
    mine_, theirs_ = round_robin(mine), round_robin(theirs)
    placed = 0
    for n in range(stored):
        if (n + 1) * own // stored > placed:
            placed += 1
            yield next(mine_)
        else:
            yield next(theirs_)


def seed(
    path: Path, stored: int, conversations: int, own_share: float, per_thread: int, hashed: str
) -> int:
    """Store `stored` messages; returns how many went to the benchmark's own threads."""
    db = connect(path)
    try:
        own = round(stored * own_share)
        others = stored - own
        threads_needed = max(1, math.ceil(others / per_thread))
        owners = add_accounts(
            db,
            [f"seed{n}" for n in range((threads_needed + 1) // 2)],
            hashed,
            [str(10**9 + n) for n in range((threads_needed + 1) // 2)],
        )
        # Each other account has its private thread and one group thread.
        keys = [(a, k) for a in owners for k in ("private", f"telegram:-{a}")][:threads_needed]
        other_threads = add_threads(db, keys)
        # chatlink_run registers its accounts next: SQLite gives them the ids after the
        # largest, in some order; each gets one of these private threads.
        first = owners[-1] + 1
        own_threads = add_threads(db, [(first + n, "private") for n in range(conversations)])
        add_messages(db, placement(own_threads, other_threads, own, stored), stored)
        return own
    finally:
        db.close()


def check_own_threads(path: Path, own: int, conversations: int, handled: int) -> None:
    """The benchmark's conversations used the pre-filled threads (which then hold the seeded
    messages, and each handled message with its reply): stop if they did not."""
    db = connect(path)
    try:
        (found,) = db.execute(
            "SELECT count(*) FROM messages m JOIN threads t ON t.id = m.thread_id "
            "JOIN accounts a ON a.id = t.account_id WHERE a.username LIKE 'user%'"
        ).fetchone()
        (threads,) = db.execute(
            "SELECT count(*) FROM threads t JOIN accounts a ON a.id = t.account_id "
            "WHERE a.username LIKE 'user%'"
        ).fetchone()
    finally:
        db.close()
    expected = own + 2 * handled
    if found != expected or threads != conversations:
        raise SystemExit(
            f"the benchmark's threads hold {found} messages in {threads} threads, expected "
            f"{expected} in {conversations}: the seeded history was not theirs"
        )


def child(args: argparse.Namespace, stored: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = asyncio.run(migrate(folder))
        hashed = password_hash(PASSWORD)
        started = time.perf_counter()
        own = seed(path, stored, args.conversations, args.own_share, args.per_thread, hashed)
        seeding = time.perf_counter() - started
        size = path.stat().st_size
        cold: list[float] = []
        elapsed, latencies = asyncio.run(
            chatlink_run(folder, args.conversations, args.messages, cold=cold)
        )
        check_own_threads(path, own, args.conversations, len(cold) + len(latencies))
    figures = {
        "stored": stored,
        "own": own,
        "seeding_s": seeding,
        "database_mb": size / 1e6,
        "rate": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cold_p50_ms": statistics.median(cold) * 1000,
        "cold_p99_ms": percentile(cold, 0.99) * 1000,
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--own-share", type=float, default=0.1)
    parser.add_argument("--per-thread", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (medians shown)")
    parser.add_argument(CHILD, type=int, metavar="STORED", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args, args.child)
        return
    common = [
        f"--conversations={args.conversations}",
        f"--messages={args.messages}",
        f"--own-share={args.own_share}",
        f"--per-thread={args.per_thread}",
    ]
    sizes = sorted(args.sizes)
    # Sizes interleaved, round after round, so a busy spell of the machine hits them all.
    rounds = [
        [run_child(__file__, str(size), *common) for size in sizes] for _ in range(args.repeat)
    ]
    runs = [
        {key: statistics.median(r[i][key] for r in rounds) for key in rounds[0][i]}
        for i in range(len(sizes))
    ]
    rows = [
        ("stored messages", "stored", "{:,.0f}"),
        ("  of them in the benchmark's threads", "own", "{:,.0f}"),
        ("seeding time (s)", "seeding_s", "{:.1f}"),
        ("database before the run (MB)", "database_mb", "{:,.1f}"),
        ("chatlink messages/s", "rate", "{:,.0f}"),
        ("chatlink p50 latency (ms)", "p50_ms", "{:.1f}"),
        ("chatlink p99 latency (ms)", "p99_ms", "{:.1f}"),
        ("first message after start p50 (ms)", "cold_p50_ms", "{:.1f}"),
        ("first message after start p99 (ms)", "cold_p99_ms", "{:.1f}"),
    ]
    ratioed = {"rate", "p50_ms", "p99_ms", "cold_p50_ms", "cold_p99_ms"}
    header = "".join(f"{size:>12,}" for size in sizes)
    print(f"{'measure':<38}{header}{'largest/smallest':>18}")
    for label, key, form in rows:
        line = f"{label:<38}" + "".join(f"{form.format(run[key]):>12}" for run in runs)
        if key in ratioed:
            line += f"{runs[-1][key] / runs[0][key]:>18.2f}"
        print(line)


if __name__ == "__main__":
    main()
