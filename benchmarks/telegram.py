"""Telegram throughput: updates/s end to end through python-telegram-bot 22 and a loopback Bot
API server, chatlink's Telegram door against a bare python-telegram-bot echo application.

    .venv/bin/python benchmarks/telegram.py [--updates 2000] [--chats 400] [--warmup 200]

The server (benchmarks/bot_api_server.py, a process of its own) hands out private text
messages 100 per getUpdates; an update counts once its "Echo: ..." reply came back by
sendMessage (or, for a reply that streamed, by its last editMessageText). Message i comes
from chat i % chats: several hundred chats, so chatlink's in-order handling per chat leaves
plenty of work to run at once. Measured in the same run, one after the other, each after a
warm-up load, each on its own event loop (--chatlink-loop):
- chatlink: the real TelegramDoor (polling, typing action, per-chat order) around the real
  core with the echo provider on a SQLite file, every chat linked to its own account, so each
  message is looked up, stored, answered and its reply stored; logging as `chatlink run`
  (INFO), into a file, and its garbage collector settled as `chatlink run` settles it
  (adapters.cli.main.settle_collector; put back to Python's defaults for the bare bot).
  The door's flood limiter (Telegram's 30 messages/s per bot) has its limits lifted unless
  --flood-limits: the loopback server has none and the bare bot no limiter.
- bare: python-telegram-bot's echo bot as its examples/echobot.py builds it: an Application
  with the library's defaults and one MessageHandler calling reply_text; no core, no
  database. The defaults handle one update at a time, which here is also its fastest
  (--bare-concurrency 256, as many as chatlink's door, is slower: httpcore scans its whole
  connection pool for every request).
Afterwards chatlink's database must hold each measured and warm-up message and its reply.
Prints one table: updates/s, Bot API calls per update (getUpdates included), and the CPU
time of the bot (this process) and of the loopback server over the load, as a share of one
core (the server's stays well under 100%: it is not the bottleneck).
Not a test: the machine is shared and noisy; compare the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The repository root instead of benchmarks/, where this file would shadow the telegram package.
sys.path[0] = str(ROOT)
# python-telegram-bot's httpx client honours HTTP_PROXY even for 127.0.0.1.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

from telegram import Update  # noqa: E402
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler  # noqa: E402
from telegram.ext import filters as telegram_filters  # noqa: E402

from adapters.cli.event_loop import run_on_loop  # noqa: E402
from adapters.cli.main import settle_collector  # noqa: E402
from adapters.telegram_bot import door as door_module  # noqa: E402
from benchmarks.bot_api_server import LoopbackBotApi  # noqa: E402
from bot.app import Chatlink, open_chatlink  # noqa: E402
from bot.conversation.memory import PRIVATE_THREAD  # noqa: E402
from bot.messages import IncomingMessage, Platform  # noqa: E402
from bot.monitoring.logs import configure_logging  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.telegram_api import TOKEN  # noqa: E402

PASSWORD = "benchmark password"
FIRST_CHAT = 700_000_001
STOP_WITHIN_S = 60  # a bot that cannot finish its updates must not hold the run forever


async def load(api: LoopbackBotApi, chats: list[int], count: int, label: str) -> dict[str, Any]:
    """Queue `count` messages and return the server's figures once all are answered, with
    the CPU share of this process (where the bot runs, every thread) over the load."""
    started, cpu_from = time.perf_counter(), time.process_time()
    report = await api.load(chats=chats, count=count, label=label)
    report["bot_cpu"] = (time.process_time() - cpu_from) / (time.perf_counter() - started)
    return report


async def link_chats(app: Chatlink, chats: list[int]) -> list[int]:
    """An account per chat, linked with `/link CODE` through the core.

    All accounts share one argon2 hash: hashing a password per account (~0.12 s of CPU each
    on a 2-core machine) would take most of the run and is not what is measured."""
    plan = await app.accounts.prepare_registration("user0", PASSWORD)

    async def link(n: int, chat: int) -> int:
        account = await app.accounts.store.create(
            f"user{n}", plan.password_hash, app.accounts.clock()
        )
        code = (await app.links.issue_for_account(account.id)).code
        message = IncomingMessage(Platform.TELEGRAM, str(chat), str(chat), True, f"/link {code}")
        replies = await app.core.handle(message)
        assert "Linked" in replies[0].text, replies
        return account.id

    return await asyncio.gather(*(link(n, chat) for n, chat in enumerate(chats)))


async def stored(app: Chatlink, accounts: list[int]) -> int:
    """How many messages the accounts' private threads hold (each message and its reply)."""
    pages = [await app.core.memory.page(a, PRIVATE_THREAD, 1_000_000) for a in accounts]
    return sum(len(page) for page in pages)


@asynccontextmanager
async def chatlink_bot(
    folder: Path, base_url: str, chats: list[int], flood_limits: bool
) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """chatlink's Telegram door polling the loopback server, its chats linked; yields a
    function counting the messages stored."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=folder, secret_key="b" * 48, web_enabled=False,
        rate_limit_per_minute=0, link_code_requests_per_hour=1_000_000,
        telegram_bot_token=TOKEN, telegram_api_base_url=base_url,
    )  # fmt: skip
    async with open_chatlink(settings) as app:
        accounts = await link_chats(app, chats)
        unlimited = AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3)
        door = door_module.TelegramDoor(app, rate_limiter=None if flood_limits else unlimited)
        await door.start()
        defaults = gc.get_threshold()
        settle_collector()  # as `chatlink run` does once its doors are built
        try:
            yield partial(stored, app, accounts)
        finally:
            await asyncio.wait_for(door.stop(), STOP_WITHIN_S)
            gc.unfreeze()  # the bare bot runs with Python's defaults, as its example does
            gc.set_threshold(*defaults)


@asynccontextmanager
async def bare_bot(base_url: str, concurrency: int) -> AsyncIterator[None]:
    """python-telegram-bot's echo bot: one MessageHandler, reply_text, nothing else."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"Echo: {update.message.text}")

    app = (
        ApplicationBuilder().token(TOKEN).base_url(base_url).concurrent_updates(concurrency).build()
    )
    app.add_handler(MessageHandler(telegram_filters.TEXT & ~telegram_filters.COMMAND, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=10, allowed_updates=["message"])
        try:
            yield
        finally:
            await app.updater.stop()
            await asyncio.wait_for(app.stop(), STOP_WITHIN_S)


async def measure_chatlink(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    chats = list(range(FIRST_CHAT, FIRST_CHAT + args.chats))
    async with (
        LoopbackBotApi() as api,
        chatlink_bot(folder, api.base_url, chats, args.flood_limits) as count_stored,
    ):
        await load(api, chats, args.warmup, "chatlink warm-up")
        result = await load(api, chats, args.updates, "chatlink measured")
        expected = 2 * (args.warmup + args.updates)
        if (found := await count_stored()) != expected:
            raise SystemExit(f"chatlink stored {found} messages, not {expected}")
    return result


async def measure_bare(args: argparse.Namespace) -> dict[str, Any]:
    chats = list(range(FIRST_CHAT, FIRST_CHAT + args.chats))
    async with LoopbackBotApi() as api, bare_bot(api.base_url, args.bare_concurrency):
        await load(api, chats, args.warmup, "bare warm-up")
        return await load(api, chats, args.updates, "bare measured")


def run(args: argparse.Namespace, folder: Path) -> dict[str, dict[str, Any]]:
    """Each bot on the event loop it runs on by itself: chatlink's door on `chatlink run`'s
    (EVENT_LOOP's default: uvloop where installed), the bare bot on asyncio's, as its
    example's `run_polling` has it."""
    return {
        "chatlink": run_on_loop(measure_chatlink(args, folder), args.chatlink_loop),
        "bare": asyncio.run(measure_bare(args)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000, help="measured updates per bot")
    parser.add_argument("--chats", type=int, default=400, help="private chats they come from")
    parser.add_argument("--warmup", type=int, default=200, help="updates before measuring")
    parser.add_argument(
        "--bare-concurrency", type=int, default=1,
        help="updates the bare bot handles at once (1: python-telegram-bot's default)",
    )  # fmt: skip
    parser.add_argument(
        "--chatlink-loop", choices=("auto", "uvloop", "asyncio"), default="auto",
        help="chatlink's event loop (EVENT_LOOP; auto: uvloop where installed)",
    )  # fmt: skip
    parser.add_argument(
        "--flood-limits", action="store_true", help="keep the door's 30 messages/s limiter"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "chatlink.log").open("a") as log:
        configure_logging("INFO")  # as `chatlink run` does, into a file instead of stderr
        for handler in logging.getLogger().handlers:
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(log)
        results = run(args, Path(tmp))
    rates = {name: r["updates"] / r["seconds"] for name, r in results.items()}
    calls = {name: sum(r["calls"].values()) / r["updates"] for name, r in results.items()}
    server = {name: r["server_cpu_seconds"] / r["seconds"] for name, r in results.items()}
    print(
        f"{'measure':<44} {'updates/s':>10} {'calls/update':>13} {'bot CPU':>8} {'server CPU':>10}"
    )
    for name, label in (
        ("chatlink", "chatlink Telegram door (core, SQLite, echo)"),
        ("bare", "bare python-telegram-bot echo application"),
    ):
        print(
            f"{label:<44} {rates[name]:>10,.0f} {calls[name]:>13.2f} "
            f"{results[name]['bot_cpu']:>8.0%} {server[name]:>10.0%}"
        )
    for name, r in results.items():
        print(
            f"  {name} Bot API calls: "
            + ", ".join(f"{m} {n / r['updates']:.2f}" for m, n in sorted(r["calls"].items()))
        )
    ratio = rates["chatlink"] / rates["bare"]
    print(f"{'ratio chatlink / bare (target >= 70%)':<44} {ratio:>10.1%}")


if __name__ == "__main__":
    main()
