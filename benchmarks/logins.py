"""Event loop health: chat latency through the core while 20 logins (argon2 verification
through bot.accounts.service) run at once, against the same chat load without them, in one run.

    .venv/bin/python benchmarks/logins.py [--logins 20] [--conversations 20] [--messages 100]
        [--rounds 2] [--rate-limit 1000000]

One process, one app on a fresh SQLite file, echo provider. Chat and login accounts are
inserted with plain sqlite3 into the migrated schema with one argon2 hash made by the app's
hasher, so every login verifies a real hash. The rate limit is set high enough never to refuse
but still counts every message, as in production (`--rate-limit 0`: not counted). After one
warm-up message per conversation, phases alternate `--rounds` times: chat alone, then the same
chat while `--logins` tasks each log in again and again until the chat is done.
Target: p99 with logins at most 2x p99 without.
Prints one table. Not a test: the machine is shared and noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.core import PASSWORD, dm, percentile
from benchmarks.support import add_accounts, connect, migrate, settings
from bot.accounts import PasswordHasher
from bot.app import Chatlink, open_chatlink
from bot.messages import ReplyKind


async def chat(
    app: Chatlink, conversations: int, messages: int, tag: str
) -> tuple[list[float], float]:
    """`conversations` at once, each sending `messages` one after another; the latencies and
    the seconds it took."""
    latencies: list[float] = []

    async def conversation(n: int) -> None:
        for i in range(messages):
            started = time.perf_counter()
            replies = await app.core.handle(dm(n, f"{tag} message {i}"))
            latencies.append(time.perf_counter() - started)
            if not replies or replies[0].kind is not ReplyKind.MODEL:
                raise SystemExit(f"no model reply: {replies}")

    started = time.perf_counter()
    await asyncio.gather(*(conversation(n) for n in range(conversations)))
    return latencies, time.perf_counter() - started


async def chat_with_logins(
    app: Chatlink, conversations: int, messages: int, logins: int, tag: str
) -> tuple[list[float], float, list[float]]:
    """The same chat while `logins` tasks log in over and over; chat latencies and seconds, and
    login latencies."""
    done = asyncio.Event()
    login_times: list[float] = []

    async def log_in(n: int) -> None:
        while not done.is_set():
            started = time.perf_counter()
            account = await app.accounts.authenticate(f"login{n}", PASSWORD)
            login_times.append(time.perf_counter() - started)
            assert account.username == f"login{n}"

    workers = [asyncio.create_task(log_in(n)) for n in range(logins)]
    try:
        latencies, seconds = await chat(app, conversations, messages, tag)
    finally:
        done.set()
        await asyncio.gather(*workers)  # each finishes the login it is in
    return latencies, seconds, login_times


@dataclass
class Phase:
    """Chat latencies and the seconds they took, over every round of one kind of phase."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, latencies: list[float], seconds: float) -> None:
        self.latencies += latencies
        self.seconds += seconds

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def quantile(self, q: float) -> float:
        return percentile(self.latencies, q)


async def run(folder: Path, args: argparse.Namespace) -> tuple[Phase, Phase, list[float]]:
    """Chat alone, chat with logins, and the logins' latencies."""
    path = await migrate(folder)
    with PasswordHasher() as hasher:
        hashed = await hasher.hash(PASSWORD)
    db = connect(path)
    try:
        chatters = range(args.conversations)
        add_accounts(db, [f"user{n}" for n in chatters], hashed, [str(n) for n in chatters])
        add_accounts(db, [f"login{n}" for n in range(args.logins)], hashed)
    finally:
        db.close()
    alone, loaded, logins = Phase(), Phase(), []
    async with open_chatlink(
        settings(
            folder,
            rate_limit_per_minute=args.rate_limit,
            # The burst of logins is what is measured: none turned away past LOGIN_QUEUE_MAX.
            login_queue_max=1_000,
        )
    ) as app:
        await chat(app, args.conversations, 1, "warm-up")  # threads created, caches filled
        for round_ in range(args.rounds):
            latencies, seconds = await chat(app, args.conversations, args.messages, f"{round_}a")
            alone.add(latencies, seconds)
            latencies, seconds, login_times = await chat_with_logins(
                app, args.conversations, args.messages, args.logins, f"{round_}l"
            )
            loaded.add(latencies, seconds)
            logins += login_times
    return alone, loaded, logins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--rate-limit", type=int, default=1_000_000, help="messages per minute (0: not counted)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        alone, loaded, logins = asyncio.run(run(Path(tmp), args))

    def row(label: str, without: float, with_: float, form: str, ratio: bool = True) -> None:
        line = f"{label:<36} {form.format(without):>10} {form.format(with_):>10}"
        print(line + (f" {with_ / without:>8.2f}" if ratio else ""))

    print(f"{'measure':<36} {'alone':>10} {'+logins':>10} {'ratio':>8}")
    row("chat messages measured", len(alone.latencies), len(loaded.latencies), "{:,}", False)
    row("chat messages/s", alone.rate, loaded.rate, "{:,.0f}")
    row("chat p50 latency (ms)", alone.quantile(0.5) * 1000, loaded.quantile(0.5) * 1000, "{:.1f}")
    row(
        "chat p99 latency (ms)", alone.quantile(0.99) * 1000, loaded.quantile(0.99) * 1000, "{:.1f}"
    )
    print(f"{'logins done (begun during the chat)':<36} {'':>10} {len(logins):>10,}")
    if logins:
        print(f"{'login p50 latency (ms)':<36} {'':>10} {statistics.median(logins) * 1000:>10.1f}")


if __name__ == "__main__":
    main()
