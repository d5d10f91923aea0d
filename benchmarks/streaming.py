"""Streaming at scale: 1,000 conversations at once over WS /api/ws against a model stand-in
that streams 40 pieces over 4 seconds, and 10,000 idle WebSocket connections held.

    .venv/bin/python benchmarks/streaming.py [--conversations 1000] [--idle 10000]
        [--hold 60]

Three processes: `chatlink run` (web door only, SQLite, LLM_PROVIDER=openai pointed at the
stand-in, a probe door that samples its event loop's lag every 10 ms), the stand-in (an
OpenAI-compatible server of this script, `--serve-model`), and this one (the clients).
Accounts are written straight into the database with one shared password hash and each
client signs its bearer token with chatlink's own ApiTokens (SECRET_KEY is the script's):
a thousand argon2 logins would take minutes of CPU and are not what is measured.
Every conversation sends one message at the same moment and reads frames until its reply.
Reported:
- added first-text latency: the client's first text frame minus the stand-in's first piece
  of that conversation (one clock: the same machine), p50 and p99;
- arrival to model request: the client sending its message to the stand-in receiving the
  request, p50 and p99;
- frames per reply, chatlink's CPU per reply (its process over the load), its event-loop lag
  p99 over the load, its resident memory per open conversation (mid-stream against before);
- every reply complete (the whole text) and stored (read back from the file).
Then `--idle` WebSocket connections are opened and held for `--hold` seconds: resident memory
per connection, and its growth over the hold. The soft limit on open files is raised to the
hard limit first (this process and chatlink, which inherits it); if that is still short of
what the connections need, the script says so and opens what fits.
Not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.core import percentile  # noqa: E402

PIECES = 40
STREAM_S = 4.0
SECRET = "s" * 48
PROBE_EVERY_S = 0.01


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

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/report", report)
    web.run_app(app, host="127.0.0.1", port=port, print=None, backlog=4096)


def expected_reply() -> str:
    return "".join(f"w{n} " for n in range(PIECES))


# --- chatlink with a lag probe (its own process) ------------------------------------------
class LagProbe:
    """A door that only samples the event loop: how late a 10 ms sleep wakes up."""

    name = "lag-probe"

    def __init__(self, out: Path) -> None:
        self.out = out
        self._task: asyncio.Task[None] | None = None
        self.lags: list[float] = []

    async def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(PROBE_EVERY_S)
            self.lags.append(loop.time() - before - PROBE_EVERY_S)
            if (mark := self.out.with_suffix(".mark")).exists():
                self.out.write_text(json.dumps(self.lags))
                mark.unlink()
                self.lags = []

    async def stop(self) -> None:
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seed(folder: Path, people: int) -> list[str]:
    """`people` accounts in a migrated database, and a bearer token for each."""
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
    tokens = ApiTokens(SECRET, timedelta(days=1))
    now = datetime.now(UTC)
    return [tokens.issue(Account(i, f"p{n}", hashed, False, now)) for n, i in enumerate(ids)]


async def converse(url: str, token: str, tag: str, start: asyncio.Event) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, max_queue=None) as socket:
        await start.wait()
        sent = time.time()
        await socket.send(json.dumps({"message": f"{tag} tell me a story"}))
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
    await asyncio.sleep(hold_s)
    held = rss_bytes(pid)
    alive = sum(s.state.name == "OPEN" for s in sockets)
    for s in sockets:
        await s.close()
    return [len(sockets), alive, before, opened, held]


async def measure(args: argparse.Namespace, folder: Path) -> None:
    import subprocess

    from tests.fakes.serve import free_port

    limit = raise_file_limit(args.idle * 2 + 1000)
    tokens = await seed(folder, args.conversations)
    model_port, web_port = free_port(), free_port()
    model = subprocess.Popen(  # noqa: ASYNC220 (started before the clients exist)
        [sys.executable, __file__, "--serve-model", str(model_port)],
        stdout=subprocess.DEVNULL,
    )
    probe = folder / "lag.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "WEB_", "DATA_"))}
    env |= {
        "PYTHONPATH": str(ROOT), "DATA_DIR": str(folder / "data"), "SECRET_KEY": SECRET,
        "WEB_PORT": str(web_port), "WEB_MAX_CONNECTIONS": str(args.idle + 2000),
        "RATE_LIMIT_PER_MINUTE": "0", "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": f"http://127.0.0.1:{model_port}/v1", "LLM_MODEL": "m",
        "LLM_API_KEY": "sk-stand-in", "LOG_LEVEL": "WARNING", "NO_PROXY": "127.0.0.1,localhost",
    }  # fmt: skip
    log = (folder / "chatlink.log").open("w")
    server = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, __file__, "--serve-chatlink", str(probe)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"http://127.0.0.1:{web_port}/healthz") as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit((folder / "chatlink.log").read_text())
            url = f"ws://127.0.0.1:{web_port}/api/ws"
            idle_rss = rss_bytes(server.pid)
            start = asyncio.Event()
            talks = [
                asyncio.create_task(converse(url, t, f"c{n}", start)) for n, t in enumerate(tokens)
            ]
            await asyncio.sleep(3)  # every socket open
            open_rss = rss_bytes(server.pid)
            cpu_from = cpu_seconds(server.pid)
            probe.with_suffix(".mark").write_text("")  # the probe starts afresh
            await asyncio.sleep(0.1)
            start.set()
            await asyncio.sleep(STREAM_S / 2)
            mid_rss = rss_bytes(server.pid)
            results = await asyncio.gather(*talks)
            cpu = cpu_seconds(server.pid) - cpu_from
            probe.with_suffix(".mark").write_text("")
            await asyncio.sleep(0.5)
            lags = json.loads(probe.read_text())
            async with http.get(f"http://127.0.0.1:{model_port}/report") as r:
                seen = await r.json()
            idle = await hold_idle(url, tokens, args.idle, args.hold, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
        model.terminate()
        model.wait(timeout=10)
        log.close()
    with sqlite3.connect(folder / "data" / "chatlink.db") as db:
        (stored,) = db.execute(
            "SELECT count(*) FROM messages WHERE role = 'assistant' AND content = ?",
            (expected_reply(),),
        ).fetchone()
    whole = sum(r["reply"] == expected_reply() for r in results)
    n = len(results)
    added = [results[i]["first"] - seen[f"c{i}"]["first_piece"] for i in range(n)]
    asked = [seen[f"c{i}"]["request"] - results[i]["sent"] for i in range(n)]
    frames = [r["frames"] for r in results]
    count, alive, before, opened, held = idle
    rows = [
        ("conversations at once over WS /api/ws", f"{n:,}"),
        ("replies complete / stored", f"{whole:,} / {stored:,}"),
        ("added first-text latency p50 / p99 (ms)",
         f"{statistics.median(added) * 1000:.0f} / {percentile(added, 0.99) * 1000:.0f}"),
        ("arrival to model request p50 / p99 (ms)",
         f"{statistics.median(asked) * 1000:.0f} / {percentile(asked, 0.99) * 1000:.0f}"),
        ("frames per reply (40 model pieces)", f"{statistics.mean(frames):.1f}"),
        ("chatlink CPU per reply (ms)", f"{cpu / n * 1000:.1f}"),
        ("chatlink event-loop lag p99 (ms)", f"{percentile(lags, 0.99) * 1000:.0f}"),
        ("chatlink RSS per conversation: streaming / open, idle (KB)",
         f"{(mid_rss - idle_rss) / n / 1024:.0f} / {(open_rss - idle_rss) / n / 1024:.0f}"),
        (f"idle WebSockets opened / open after {args.hold:g} s", f"{count:,} / {alive:,}"),
        ("RSS per idle WebSocket (KB)", f"{(opened - before) / max(count, 1) / 1024:.1f}"),
        (f"RSS growth over the {args.hold:g} s hold (KB)", f"{(held - opened) / 1024:.0f}"),
    ]  # fmt: skip
    print(f"({limit})")
    print(f"{'measure':<60} {'value':>16}")
    for label, value in rows:
        print(f"{label:<60} {value:>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=60)
    parser.add_argument("--serve-model", type=int, help=argparse.SUPPRESS)
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
