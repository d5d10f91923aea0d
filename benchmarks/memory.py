"""Resident memory: a process after 100 accounts have each sent 5 messages through the core,
against one after 10,000 accounts have; no per-account state may stay without a bound.

    .venv/bin/python benchmarks/memory.py [--sizes 100 10000] [--messages 5] [--concurrency 100]

Each size runs in a fresh process (this script with --child) on a fresh SQLite file. Accounts
and their linked Telegram identities are inserted with plain sqlite3 into the migrated schema,
all with one argon2 hash of the same password made once, in the parent, by the app's hasher
(argon2 for each would take ~0.2 s of CPU and 64 MiB per account); one of them then logs in
with that password, to show the accounts are real. Settings are the defaults (rate limit on,
counted in process memory), with the echo provider. `--concurrency` accounts talk at once, each
sending its messages one after another; every message must get a model reply. RSS (VmRSS) is
read after a garbage collection, with the app still open. The last rows list every container
held by an object's attribute that ends up with at least half as many entries as there are
accounts in the largest run: the per-account state, bounded or not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.core import PASSWORD, dm
from benchmarks.support import (
    CHILD,
    add_accounts,
    connect,
    migrate,
    password_hash,
    run_child,
    settings,
)
from bot.app import open_chatlink
from bot.messages import ReplyKind

CONTAINERS = (dict, list, set, frozenset, deque)
REPORTED = 20  # containers with fewer entries than this are never listed


def status_kb(field: str) -> int:
    """A figure of /proc/self/status, in kB (VmRSS: resident now, VmHWM: its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/self/status (Linux only)")


def attributes(obj: object) -> list[tuple[str, object]]:
    """An object's attributes from its __dict__ and slots, read without running its code."""
    found: list[tuple[str, object]] = []
    try:
        own = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        own = None
    if isinstance(own, dict):
        found.extend((str(name), value) for name, value in own.items())
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            with contextlib.suppress(AttributeError, TypeError):
                found.append((name, object.__getattribute__(obj, name)))
    return found


def large_containers(at_least: int) -> dict[str, int]:
    """Containers held as an attribute of some object (not a class or a module) with at least
    `at_least` entries, by owner class and attribute: the largest of each."""
    sizes: dict[str, int] = {}
    for obj in gc.get_objects():
        if isinstance(obj, type | ModuleType):
            continue
        for name, value in attributes(obj):
            if isinstance(value, CONTAINERS) and len(value) >= at_least:
                owner = f"{type(obj).__module__}.{type(obj).__qualname__}.{name}"
                sizes[owner] = max(sizes.get(owner, 0), len(value))
    return sizes


async def chat(folder: Path, accounts: int, messages: int, concurrency: int) -> dict[str, Any]:
    async with open_chatlink(settings(folder)) as app:
        gc.collect()
        opened_kb = status_kb("VmRSS")
        pending = iter(range(accounts))  # shared: each worker takes the next account
        wrong: list[str] = []

        async def worker() -> None:
            for n in pending:
                for i in range(messages):
                    replies = await app.core.handle(dm(n, f"message {i} of account {n}"))
                    if not replies or replies[0].kind is not ReplyKind.MODEL:
                        wrong.append(replies[0].text if replies else "(nothing)")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, accounts))))
        elapsed = time.perf_counter() - started
        if wrong:
            raise SystemExit(f"{len(wrong)} messages got no model reply, e.g. {wrong[0]!r}")
        gc.collect()
        after_kb = status_kb("VmRSS")
        peak_kb = status_kb("VmHWM")
        objects = len(gc.get_objects())
        containers = large_containers(REPORTED)
        # The fast path made real accounts: the shared hash verifies (after measuring, since
        # argon2 takes 64 MiB while it runs).
        await app.accounts.authenticate("user0", PASSWORD)
    return {
        "accounts": accounts,
        "messages": accounts * messages,
        "rate": accounts * messages / elapsed,
        "opened_mb": opened_kb / 1024,
        "after_mb": after_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "objects": objects,
        "containers": containers,
    }


def child(args: argparse.Namespace, accounts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = asyncio.run(migrate(folder))
        db = connect(path)
        try:
            names = [f"user{n}" for n in range(accounts)]
            add_accounts(db, names, args.password_hash, [str(n) for n in range(accounts)])
        finally:
            db.close()
        figures = asyncio.run(chat(folder, accounts, args.messages, args.concurrency))
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(CHILD, type=int, metavar="ACCOUNTS", help=argparse.SUPPRESS)
    parser.add_argument("--password-hash", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        args.password_hash = args.password_hash or password_hash(PASSWORD)
        child(args, args.child)
        return
    sizes = sorted(args.sizes)
    # Hashed here once: argon2 takes 64 MiB while it runs, which would show in a child's peak.
    common = [
        f"--messages={args.messages}",
        f"--concurrency={args.concurrency}",
        f"--password-hash={password_hash(PASSWORD)}",
    ]
    runs = [run_child(__file__, str(size), *common, timeout=3600) for size in sizes]
    small, large = runs[0], runs[-1]
    width = 14

    def row(label: str, values: list[str]) -> None:
        print(f"{label:<46}" + "".join(f"{value:>{width}}" for value in values))

    row("measure", [f"{size:,} acc." for size in sizes])
    row("messages through the core", [f"{run['messages']:,}" for run in runs])
    row("messages/s", [f"{run['rate']:,.0f}" for run in runs])
    row("RSS with the app open, before chat (MB)", [f"{run['opened_mb']:.1f}" for run in runs])
    row("RSS after every account's messages (MB)", [f"{run['after_mb']:.1f}" for run in runs])
    row("peak RSS (MB)", [f"{run['peak_mb']:.1f}" for run in runs])
    row("objects tracked by the garbage collector", [f"{run['objects']:,}" for run in runs])
    extra = max(1, large["accounts"] - small["accounts"])
    difference = (large["after_mb"] - small["after_mb"]) * 2**20
    growth = (large["after_mb"] - large["opened_mb"]) - (small["after_mb"] - small["opened_mb"])
    row(f"RSS after: {sizes[-1]:,} minus {sizes[0]:,} accounts (MB)", [f"{difference / 2**20:.1f}"])
    row("  per extra account (bytes)", [f"{difference / extra:,.0f}"])
    row("  the same from growth during chat only (B)", [f"{growth * 2**20 / extra:,.0f}"])
    if len(runs) > 2:  # where the bounded caches fill up, the cost of one more account drops
        steps = [
            (b["after_mb"] - a["after_mb"]) * 2**20 / max(1, b["accounts"] - a["accounts"])
            for a, b in itertools.pairwise(runs)
        ]
        row("  per extra account since the size before (B)", ["", *(f"{b:,.0f}" for b in steps)])
    # Per-account state: whatever reaches half as many entries as there are accounts in a run
    # of 1,000 or more; its size in every run shows whether it stops at a bound.
    names = {
        name
        for run in runs
        if run["accounts"] >= 1000
        for name, entries in run["containers"].items()
        if entries * 2 >= run["accounts"]
    }
    for name in sorted(names, key=lambda n: -large["containers"].get(n, 0)):
        owner, attribute = name.rsplit(".", 2)[-2:]
        entries_in = [run["containers"].get(name) for run in runs]
        row(
            f"entries in {owner}.{attribute}",
            [f"{n:,}" if n is not None else f"<{REPORTED}" for n in entries_in],
        )


if __name__ == "__main__":
    main()
