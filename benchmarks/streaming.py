"""Streaming at scale: 1,000 conversations at once over WS /api/ws and 1,000 through the
Telegram door, against a model stand-in that streams 40 pieces over 4 seconds, and 10,000
idle WebSocket connections held.

    .venv/bin/python benchmarks/streaming.py [--conversations 1000] [--telegram 1000]
        [--idle 10000] [--hold 60] [--bare 1]

Four processes: `chatlink run` (the web door and the Telegram door, SQLite,
LLM_PROVIDER=openai pointed at the stand-in, a probe door that samples its event loop's lag
every 10 ms), the stand-in (an OpenAI-compatible server of this script, `--serve-model`), the
loopback Bot API server (benchmarks/bot_api_server.py), and this one (the clients).
Accounts are written straight into the database with one shared password hash (the
Telegram ones with their identity linked) and each WebSocket client signs its bearer token
with chatlink's own ApiTokens (SECRET_KEY is the script's): a thousand argon2 logins would
take minutes of CPU and are not what is measured.
Over the WebSocket every conversation sends one message at the same moment and reads frames
until its reply: once with every conversation new (its thread opened by that message), then
once more on new sockets, the threads known ("warm"). Reported for each:
- added first-text latency: the client's first text frame minus the stand-in's first piece
  of that conversation (one clock: the same machine), p50 and p99;
- arrival to model request: the client sending its message to the stand-in receiving the
  request, p50 and p99 (and the stand-in's own event-loop lag p99, which would delay it);
- frames per reply, chatlink's CPU per reply (its process over the load), its event-loop lag
  p99 over the load, how much of a core its event loop's thread used over the load and how
  long it waited for one (the kernel's schedstat: time lost to the other processes), the
  collections the garbage collector ran meanwhile (count and longest, per generation), its
  resident memory per open conversation (mid-stream against before);
- every reply complete (the whole text) and stored (read back from the file).
Through Telegram, `--telegram` private chats each send one message in the same getUpdates
batches, and the door streams each reply as Telegram allows (its own flood limiter kept, as
`chatlink run` has it: 30 messages a second overall; an edit a second per private chat).
Reported: arrival (the update handed out) to model request, added first-text latency (the
first sendMessage minus the stand-in's first piece), calls per reply, the most calls one chat
got in any second and the most the bot made in any second, the time until every chat had its
final text, CPU per reply, lag p99, and every final text delivered whole and stored.
First of all (unless `--bare 0`), the floor: one round of new conversations against a bare
relay (benchmarks/bare_relay.py, its own process) that does the same exchange with nothing of
chatlink's: uvicorn configured as the web door is, a Starlette WebSocket route, the request
to the stand-in through aiohttp, chunk frames as often as chatlink sends them, no account,
database, history or rendering. Its figures (first-text latency, arrival to model, CPU per
reply, event-loop lag) are printed with chatlink's over them: what one event loop of Python
costs on this machine for the exchange alone, before anything chatlink does.
Then `--idle` WebSocket connections are opened and held for `--hold` seconds: resident memory
per connection, and its growth over each half of the hold (the server's keep-alive pings,
every 20 s, begin in the first). The soft limit on open files is raised to the hard limit
first (this process and chatlink, which inherits it); if that is still short of what the
connections need, the script says so and opens what fits.
Not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from benchmarks.core import percentile  # noqa: E402

PIECES = 40
STREAM_S = 4.0
SECRET = "s" * 48
PROBE_EVERY_S = 0.01
FIRST_CHAT = 700_000_001
ENV_PREFIXES = ("LLM_", "WEB_", "DATA_", "TELEGRAM_", "DISCORD_")


async def lag_sample() -> float:
    """How late the running event loop wakes from a PROBE_EVERY_S sleep (s)."""
    loop = asyncio.get_running_loop()
    before = loop.time()
    await asyncio.sleep(PROBE_EVERY_S)
    return loop.time() - before - PROBE_EVERY_S


# --- the model stand-in (its own process) -------------------------------------------------
def serve_model(port: int) -> None:
    """An OpenAI-compatible /chat/completions streaming PIECES pieces over STREAM_S."""
    seen: dict[str, dict[str, float]] = {}

    async def completions(request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        body = await request.json()
        last = body["messages"][-1]["content"]
        tag = last.split()[0]  # "c123": which conversation
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        times = seen.setdefault(tag, {})
        times["request"] = arrived

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {
                "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }  # fmt: skip
            return f"data: {json.dumps(chunk)}\n\n".encode()

        for n in range(PIECES):
            await asyncio.sleep(STREAM_S / PIECES)
            if n == 0:
                times["first_piece"] = time.time()
            await response.write(event({"content": f"w{n} "}))
        await response.write(event({}, "stop"))
        usage = {"prompt_tokens": 10, "completion_tokens": PIECES, "total_tokens": PIECES + 10}
        tail = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [], "usage": usage}  # fmt: skip
        await response.write(f"data: {json.dumps(tail)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    async def report(request: web.Request) -> web.Response:
        return web.json_response(seen)

    # The stand-in's own event-loop lag: a request it takes late counts in "arrival to model
    # request" without being chatlink's doing.
    lags: list[float] = []

    async def sample_lags() -> None:
        while True:
            lags.append(await lag_sample())

    async def start_sampling(app: web.Application) -> None:
        app["sampler"] = asyncio.create_task(sample_lags())

    async def lag(request: web.Request) -> web.Response:
        """The lag samples since the last call (and start afresh)."""
        found = list(lags)
        lags.clear()
        return web.json_response(found)

    app = web.Application()
    app.on_startup.append(start_sampling)
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/report", report)
    app.router.add_get("/lag", lag)
    web.run_app(app, host="127.0.0.1", port=port, print=None, backlog=4096)


def expected_reply() -> str:
    return "".join(f"w{n} " for n in range(PIECES))


async def read_bare(session: Any, url: str, text: str) -> AsyncIterator[str]:
    """The stand-in's stream for `text` read with aiohttp alone (`url` ends in /v1): the
    reply so far after each read of the body, the events cut at the blank lines the
    stand-in ends them with and each chunk's JSON read. The least any client does: the
    floor's reading in bare_relay.py and provider_stream.py."""
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": text}]}
    reply, rest = "", b""
    async with session.post(f"{url}/chat/completions", json=body) as response:
        async for data in response.content.iter_any():
            *events, rest = (rest + data).split(b"\n\n")
            for event in events:
                if event.startswith(b"data: {"):
                    for choice in json.loads(event[6:])["choices"]:
                        reply += choice["delta"].get("content") or ""
            yield reply


# --- chatlink with a lag probe (its own process) ------------------------------------------
class LagProbe:
    """A door that only samples the event loop: how late a 10 ms sleep wakes up, and every
    collection the cyclic garbage collector runs (generation, milliseconds)."""

    name = "lag-probe"

    def __init__(self, out: Path) -> None:
        self.out = out
        self._task: asyncio.Task[None] | None = None
        self.lags: list[float] = []
        self.collections: list[tuple[int, float]] = []
        self._collecting_since = 0.0

    async def start(self) -> None:
        gc.callbacks.append(self._on_collection)
        self._task = asyncio.create_task(self._sample())

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collecting_since = time.perf_counter()
        else:
            took = time.perf_counter() - self._collecting_since
            self.collections.append((info["generation"], took))

    async def _sample(self) -> None:
        while True:
            self.lags.append(await lag_sample())
            if (mark := self.out.with_suffix(".mark")).exists():
                self.out.write_text(json.dumps({"lags": self.lags, "gc": self.collections}))
                mark.unlink()
                self.lags, self.collections = [], []

    async def stop(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        if self._task is not None:
            self._task.cancel()


def serve_chatlink(probe_file: str) -> None:
    from adapters.cli.main import main as cli_main
    from adapters.compose import build_checks, build_doors

    def doors(app: Any) -> list[Any]:
        return [*build_doors(app), LagProbe(Path(probe_file))]

    sys.argv = ["chatlink", "run"]
    sys.exit(cli_main(build_doors=doors, build_checks=build_checks))


# --- the clients (this process) -----------------------------------------------------------
def raise_file_limit(wanted: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return f"open files: soft limit {soft} raised to {target} (hard limit {hard})"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time of the process, or of one of its threads (the event loop's is the main one,
    whose id is the process's)."""
    stat = f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited_seconds(pid: int) -> float:
    """How long the process's main thread (the event loop) has waited, runnable, for a core
    (the kernel's schedstat): time the loop lost to the other processes on the machine."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9


class LoopShare:
    """How much of a core the event loop's thread used from now on, and how long it waited,
    runnable, for one (taken by the other processes here)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu, self.waited, self.wall = (
            cpu_seconds(pid, pid),
            waited_seconds(pid),
            time.monotonic(),
        )

    def shares(self) -> tuple[float, float]:
        """Running and waiting, each a share of the time since this was made."""
        wall = time.monotonic() - self.wall
        running = cpu_seconds(self.pid, self.pid) - self.cpu
        return running / wall, (waited_seconds(self.pid) - self.waited) / wall


async def seed(folder: Path, people: int, chats: list[int]) -> list[str]:
    """`people` accounts in a migrated database, and a bearer token for each; an account
    more for each Telegram chat, its identity linked."""
    from adapters.web.security import ApiTokens
    from benchmarks.support import add_accounts, connect, password_hash
    from storage import Account, Database, upgrade

    db = Database(f"sqlite+aiosqlite:///{folder}/data/chatlink.db")
    try:
        await upgrade(db)
    finally:
        await db.close()
    hashed = await asyncio.to_thread(password_hash, "benchmark password")
    with connect(folder / "data" / "chatlink.db") as conn:
        ids = add_accounts(conn, [f"p{n}" for n in range(people)], hashed)
        add_accounts(conn, [f"t{c}" for c in chats], hashed, [str(c) for c in chats])
    tokens = ApiTokens(SECRET, timedelta(days=1))
    now = datetime.now(UTC)
    return [tokens.issue(Account(i, f"p{n}", hashed, False, now)) for n, i in enumerate(ids)]


async def converse(
    url: str, token: str, tag: str, start: asyncio.Event, text: str
) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, max_queue=None) as socket:
        await start.wait()
        sent = time.time()
        await socket.send(json.dumps({"message": f"{tag} {text}"}))
        frames, first, text = 0, None, ""
        while True:
            frame = json.loads(await socket.recv())
            frames += 1
            if frame["type"] == "chunk":
                first = first or time.time()
                text += frame["text"]
            elif frame["type"] == "reply":
                first = first or time.time()
                return {"sent": sent, "first": first, "frames": frames, "reply": frame["text"]}
            else:
                raise SystemExit(f"{tag}: unexpected frame {frame}")


async def hold_idle(url: str, tokens: list[str], count: int, hold_s: float, pid: int) -> list[Any]:
    from websockets.asyncio.client import connect

    before = rss_bytes(pid)
    sockets = []
    for n in range(count):
        headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
        try:
            sockets.append(await connect(url, additional_headers=headers, ping_interval=None))
        except OSError as error:
            print(f"  stopped opening at {n} connections: {error}")
            break
    await asyncio.sleep(2)
    opened = rss_bytes(pid)
    await asyncio.sleep(hold_s / 2)
    halfway = rss_bytes(pid)  # the server's keep-alive pings (every 20 s) have begun
    await asyncio.sleep(hold_s / 2)
    held = rss_bytes(pid)
    alive = sum(s.state.name == "OPEN" for s in sockets)
    for s in sockets:
        await s.close()
    return [len(sockets), alive, before, opened, halfway, held]


async def ws_round(
    url: str, tokens: list[str], model: str, pid: int, probe: Path, text: str, tag: str = "c"
) -> dict[str, Any]:
    """Every conversation sends `text` (after its tag and number) at once over a new socket;
    figures."""
    import aiohttp

    start = asyncio.Event()
    talks = [
        asyncio.create_task(converse(url, t, f"{tag}{n}", start, text))
        for n, t in enumerate(tokens)
    ]
    await asyncio.sleep(3)  # every socket open
    open_rss = rss_bytes(pid)
    cpu_from = cpu_seconds(pid)
    probe.with_suffix(".mark").write_text("")  # the probe starts afresh
    await stand_in_lags(model)  # and the stand-in's
    await asyncio.sleep(0.1)
    loop = LoopShare(pid)
    start.set()
    await asyncio.sleep(STREAM_S / 2)
    mid_rss = rss_bytes(pid)
    results = await asyncio.gather(*talks)
    loop_use = loop.shares()
    cpu = cpu_seconds(pid) - cpu_from
    sampled = await probed(probe)
    model_lags = await stand_in_lags(model)
    async with aiohttp.ClientSession() as http, http.get(f"{model}/report") as r:
        seen = await r.json()
    n = len(results)
    return {
        "whole": sum(r["reply"] == expected_reply() for r in results),
        "added": [results[i]["first"] - seen[f"{tag}{i}"]["first_piece"] for i in range(n)],
        "asked": [seen[f"{tag}{i}"]["request"] - results[i]["sent"] for i in range(n)],
        "frames": [r["frames"] for r in results],
        "model_lags": model_lags,
        "cpu": cpu / n,
        "loop_use": loop_use,
        "lags": sampled["lags"],
        "gc": sampled["gc"],
        "open_rss": open_rss,
        "mid_rss": mid_rss,
    }


async def telegram_round(
    api: Any, chats: list[int], model: str, pid: int, probe: Path
) -> dict[str, Any]:
    """Every chat sends one message; the door streams the replies within Telegram's limits."""
    import aiohttp

    probe.with_suffix(".mark").write_text("")
    await asyncio.sleep(0.1)
    cpu_from = cpu_seconds(pid)
    loop = LoopShare(pid)
    report = await api.load(
        chats=chats, count=len(chats), label="telegram", text="t{i} tell me a story",
        reply=expected_reply().strip(), record=True,
    )  # fmt: skip
    loop_use = loop.shares()
    cpu = cpu_seconds(pid) - cpu_from
    sampled = await probed(probe)
    async with aiohttp.ClientSession() as http, http.get(f"{model}/report") as r:
        seen = await r.json()
    handed = {int(chat): when for chat, when in report["handed_out"].items()}
    sent = report["sent"]  # [when, method, chat, final]
    by_chat: dict[int, list[float]] = {}
    for when, _method, chat, _final in sent:
        by_chat.setdefault(chat, []).append(when)
    finals = [when for when, _method, _chat, final in sent if final]
    n = len(chats)
    return {
        "delivered": len({chat for _when, _method, chat, final in sent if final}),
        "asked": [seen[f"t{i}"]["request"] - handed[chat] for i, chat in enumerate(chats)],
        "added": [
            min(by_chat[chat]) - seen[f"t{i}"]["first_piece"] for i, chat in enumerate(chats)
        ],
        "calls": len(sent) / n,
        "per_chat_second": max(most_in_a_second(times) for times in by_chat.values()),
        "overall_second": most_in_a_second(sorted(when for when, *_ in sent)),
        "all_final_s": max(finals) - min(handed.values()),
        "cpu": cpu / n,
        "loop_use": loop_use,
        "lags": sampled["lags"],
        "gc": sampled["gc"],
    }


def most_in_a_second(times: list[float]) -> int:
    """The most of these moments (sorted) that fall within any one second."""
    most, first = 0, 0
    for last, when in enumerate(times):
        while when - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


async def stand_in_lags(model: str) -> list[float]:
    """The model stand-in's lag samples since this was last asked."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"{model}/lag") as r:
        found: list[float] = await r.json()
    return found


async def probed(probe: Path) -> dict[str, Any]:
    """The lag samples and collections since the probe last started afresh (and it starts
    afresh again)."""
    probe.with_suffix(".mark").write_text("")
    await asyncio.sleep(0.5)
    found: dict[str, Any] = json.loads(await asyncio.to_thread(probe.read_text))
    return found


async def wait_healthy(port: int, log: Path) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(await asyncio.to_thread(log.read_text))


async def measure(args: argparse.Namespace, folder: Path) -> None:
    import subprocess

    from benchmarks.bot_api_server import LoopbackBotApi
    from tests.fakes.serve import free_port
    from tests.fakes.telegram_api import TOKEN

    limit = raise_file_limit(args.idle * 2 + 1000)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + args.telegram))
    tokens = await seed(folder, args.conversations, chats)
    model_port, web_port = free_port(), free_port()
    model = f"http://127.0.0.1:{model_port}"
    stand_in = subprocess.Popen(  # noqa: ASYNC220 (started before the clients exist)
        [sys.executable, __file__, "--serve-model", str(model_port)],
        stdout=subprocess.DEVNULL,
    )
    bare = await bare_round(tokens, model, folder) if args.bare else None
    probe = folder / "lag.json"
    log_path = folder / "chatlink.log"
    async with LoopbackBotApi() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
        env |= {
            "PYTHONPATH": str(ROOT), "DATA_DIR": str(folder / "data"), "SECRET_KEY": SECRET,
            "WEB_PORT": str(web_port), "WEB_MAX_CONNECTIONS": str(args.idle + 2000),
            "RATE_LIMIT_PER_MINUTE": "0", "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": f"{model}/v1", "LLM_MODEL": "m",
            "LLM_API_KEY": "sk-stand-in", "LOG_LEVEL": "WARNING",
            "NO_PROXY": "127.0.0.1,localhost",
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
        }  # fmt: skip
        log = log_path.open("w")
        server = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, __file__, "--serve-chatlink", str(probe)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            await wait_healthy(web_port, log_path)
            url = f"ws://127.0.0.1:{web_port}/api/ws"
            idle_rss = rss_bytes(server.pid)
            cold = await ws_round(url, tokens, model, server.pid, probe, "tell me a story")
            warm = await ws_round(url, tokens, model, server.pid, probe, "and another one")
            telegram = await telegram_round(api, chats, model, server.pid, probe) if chats else None
            idle = await hold_idle(url, tokens, args.idle, args.hold, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
            stand_in.terminate()
            stand_in.wait(timeout=10)
            log.close()
    with sqlite3.connect(folder / "data" / "chatlink.db") as db:
        (stored,) = db.execute(
            "SELECT count(*) FROM messages WHERE role = 'assistant' AND content = ?",
            (expected_reply(),),
        ).fetchone()
    print(f"({limit})")
    report(args, cold, warm, bare, telegram, idle, idle_rss, stored)


async def bare_round(tokens: list[str], model: str, folder: Path) -> dict[str, Any]:
    """One round of new conversations against the bare relay (benchmarks/bare_relay.py),
    alone."""
    import subprocess

    from tests.fakes.serve import free_port

    port, probe, log_path = free_port(), folder / "bare-lag.json", folder / "bare.log"
    script = ROOT / "benchmarks" / "bare_relay.py"
    with log_path.open("w") as log:
        relay = subprocess.Popen(  # noqa: ASYNC220 (the clients are not started yet)
            [sys.executable, str(script), str(port), model, str(probe)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            await wait_healthy(port, log_path)
            url = f"ws://127.0.0.1:{port}/api/ws"
            return await ws_round(url, tokens, model, relay.pid, probe, "tell me a story", "b")
        finally:
            relay.terminate()
            relay.wait(timeout=30)


def p99_ms(values: list[float]) -> str:
    return f"{percentile(values, 0.99) * 1000:.0f}"


def shares(use: tuple[float, float]) -> str:
    return f"{use[0]:.0%}, {use[1]:.0%}"


def collections(found: list[list[float]]) -> str:
    """Per generation (0, 1, 2): how many collections ran, and the longest (ms)."""
    took = [[t for gen, t in found if gen == g] for g in (0, 1, 2)]
    return " ".join(f"{len(ts)}:{max(ts, default=0) * 1000:.0f}" for ts in took)


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} / {percentile(values, 0.99) * 1000:.0f}"


def beyond(ours: list[float], bare: list[float]) -> str:
    """How much later than the bare relay's our p50 and p99 are (ms): a latency of a few
    milliseconds makes a poor denominator."""
    p50 = statistics.median(ours) - statistics.median(bare)
    p99 = percentile(ours, 0.99) - percentile(bare, 0.99)
    return f"{p50 * 1000:+.0f} / {p99 * 1000:+.0f}"


def ratio_p99(ours: list[float], bare: list[float]) -> str:
    return f"{percentile(ours, 0.99) / max(percentile(bare, 0.99), 1e-9):.2f}"


def report(
    args: argparse.Namespace,
    cold: dict[str, Any],
    warm: dict[str, Any],
    bare: dict[str, Any] | None,
    telegram: dict[str, Any] | None,
    idle: list[Any],
    idle_rss: int,
    stored: int,
) -> None:
    n = args.conversations
    count, alive, before, opened, halfway, held = idle
    rows: list[tuple[str, str]] = [
        (f"WS /api/ws, {n:,} conversations at once", "new / warm"),
        ("replies complete", f"{cold['whole']:,} / {warm['whole']:,}"),
    ]
    for label, key in (
        ("added first-text latency p50 / p99 (ms)", "added"),
        ("arrival to model request p50 / p99 (ms)", "asked"),
    ):
        rows.append((label, f"{ms(cold[key])}  |  {ms(warm[key])}"))
    rows.append(
        ("  the stand-in's own event-loop lag p99 (ms)",
         f"{p99_ms(cold['model_lags'])} / {p99_ms(warm['model_lags'])}")
    )  # fmt: skip
    rows += [
        ("frames per reply (40 model pieces)",
         f"{statistics.mean(cold['frames']):.1f} / {statistics.mean(warm['frames']):.1f}"),
        ("chatlink CPU per reply (ms)", f"{cold['cpu'] * 1000:.1f} / {warm['cpu'] * 1000:.1f}"),
        ("chatlink event-loop lag p99 (ms)",
         f"{p99_ms(cold['lags'])} / {p99_ms(warm['lags'])}"),
        ("event-loop thread running, waiting for a core (%)",
         f"{shares(cold['loop_use'])}  |  {shares(warm['loop_use'])}"),
        ("collections of gen. 0, 1, 2 (count:longest ms)",
         f"{collections(cold['gc'])}  |  {collections(warm['gc'])}"),
        ("RSS per conversation: streaming / open, idle (KB)",
         f"{(cold['mid_rss'] - idle_rss) / n / 1024:.0f} / "
         f"{(cold['open_rss'] - idle_rss) / n / 1024:.0f}"),
    ]  # fmt: skip
    if bare is not None:
        rows += [
            ("the bare relay (bare_relay.py), new conversations", "bare  |  chatlink's over it"),
            ("replies complete", f"{bare['whole']:,}"),
        ]
        for label, key in (
            ("added first-text latency p50 / p99 (ms)", "added"),
            ("arrival to model request p50 / p99 (ms)", "asked"),
        ):
            rows.append((label, f"{ms(bare[key])}  |  {beyond(cold[key], bare[key])}"))
        rows += [
            ("frames per reply (40 model pieces)", f"{statistics.mean(bare['frames']):.1f}"),
            ("CPU per reply (ms)",
             f"{bare['cpu'] * 1000:.1f}  |  x{cold['cpu'] / bare['cpu']:.2f}"),
            ("event-loop lag p99 (ms)",
             f"{p99_ms(bare['lags'])}  |  x{ratio_p99(cold['lags'], bare['lags'])}"),
            ("event-loop thread running, waiting for a core (%)", shares(bare["loop_use"])),
            ("collections of gen. 0, 1, 2 (count:longest ms)", collections(bare["gc"])),
        ]  # fmt: skip
    if telegram is not None:
        t = len(telegram["asked"])
        rows += [
            (f"Telegram door, {t:,} private chats at once", ""),
            ("final texts delivered whole", f"{telegram['delivered']:,}"),
            ("arrival to model request p50 / p99 (ms)", ms(telegram["asked"])),
            ("added first-text latency p50 / p99 (ms)", ms(telegram["added"])),
            ("sendMessage + editMessageText per reply", f"{telegram['calls']:.2f}"),
            ("most calls to one chat in a second", f"{telegram['per_chat_second']}"),
            ("most calls in a second, overall", f"{telegram['overall_second']}"),
            ("every final text out after (s)", f"{telegram['all_final_s']:.1f}"),
            ("chatlink CPU per reply (ms)", f"{telegram['cpu'] * 1000:.1f}"),
            ("chatlink event-loop lag p99 (ms)", p99_ms(telegram["lags"])),
            ("event-loop thread running, waiting for a core (%)", shares(telegram["loop_use"])),
            ("collections of gen. 0, 1, 2 (count:longest ms)", collections(telegram["gc"])),
        ]  # fmt: skip
    expected = 2 * n + (len(telegram["asked"]) if telegram is not None else 0)
    rows += [
        ("replies stored (all rounds)", f"{stored:,} / {expected:,}"),
        (f"idle WebSockets opened / open after {args.hold:g} s", f"{count:,} / {alive:,}"),
        ("RSS per idle WebSocket (KB)", f"{(opened - before) / max(count, 1) / 1024:.1f}"),
        (
            f"RSS growth over the {args.hold:g} s hold: first / second half (KB)",
            f"{(halfway - opened) / 1024:.0f} / {(held - halfway) / 1024:.0f}",
        ),
    ]
    print(f"{'measure':<56} {'value':>24}")
    for label, value in rows:
        print(f"{label:<56} {value:>24}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--telegram", type=int, default=1000, help="private chats (0: none)")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=60)
    parser.add_argument("--serve-model", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare", type=int, default=1, help="the bare relay's round (0: none)")
    parser.add_argument("--serve-chatlink", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_model:
        serve_model(args.serve_model)
        return
    if args.serve_chatlink:
        serve_chatlink(args.serve_chatlink)
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
