"""Web throughput: POST /api/chat requests/s and latency with concurrent keep-alive clients over
real HTTP, chatlink's web door against a bare FastAPI echo route, both served by uvicorn.

    .venv/bin/python benchmarks/web.py [--clients 50] [--seconds 10] [--warmup 3]

Each server runs in a process of its own, started the way people start it, so the load
generator (aiohttp, in this process) does not share its event loop; one after the other:
- chatlink: `python -m adapters.compose run` (the `chatlink run` command) with only the web
  door, a SQLite file in a temporary folder, the echo provider, logging as shipped (INFO, into
  a file) and no rate limits (RATE_LIMIT_PER_MINUTE=0, so every request is answered). Each
  client registers its own account (POST /api/register) and sends the bearer token from POST
  /api/token with every message, so each request is authenticated, stored and answered, and
  its reply stored, on the account's private thread.
- bare: `uvicorn.run` with its defaults (uvloop, httptools, access log) serving a FastAPI app
  with one POST /api/chat route taking and returning bodies of the same shape (a pydantic
  model in, "Echo: ..." out), with nothing behind it.
Every client sends one request after another on its own keep-alive connection; requests
sent after the warm-up count. Afterwards GET /api/history must list, for every account, each
message it sent and its reply. Prints one table: requests/s, p50 and p99 latency, and the CPU
time of the server process and of this one (the load generator) over the measured time, as a
share of one core. `chatlink run` serves on the standard asyncio loop; `--bare-loop asyncio`
serves the baseline on it too, to show how much of the gap is uvloop's. Not a test: the
machine is shared and noisy; compare the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import aiohttp
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.core import percentile  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.fakes.serve import free_port  # noqa: E402

PASSWORD = "benchmark password"
START_WITHIN_S = 60
LOOPS = {"auto": "uvloop", "asyncio": "asyncio loop"}  # what uvicorn's `loop` setting runs


class ChatIn(BaseModel):
    message: str = Field(max_length=100_000)


class ChatOut(BaseModel):
    reply: str
    thread: str
    kind: str


def bare_app() -> FastAPI:
    """The baseline: FastAPI with one echo route shaped like chatlink's POST /api/chat."""
    app = FastAPI()

    @app.post("/api/chat", response_model=ChatOut)
    async def chat(body: ChatIn) -> ChatOut:
        return ChatOut(reply=f"Echo: {body.message}", thread="private", kind="model")

    return app


@dataclass(frozen=True)
class Server:
    """A server process under test: where it listens, and its CPU time so far."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User and system CPU time of the process, all its threads (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(command: list[str], port: int, folder: Path, env: dict[str, str]) -> Iterator[Server]:
    """Run a server process until the block ends; yields it once it accepts connections."""
    with (folder / "server.log").open("w") as log:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_WITHIN_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"{command} did not start:\n{(folder / 'server.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chatlink_server(folder: Path) -> AbstractContextManager[Server]:
    """`chatlink run` with only the web door, its settings from a clean environment."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env |= {
        "PYTHONPATH": str(ROOT), "DATA_DIR": str(folder / "data"), "WEB_PORT": str(port),
        "RATE_LIMIT_PER_MINUTE": "0",  # no chat rate limit
        "AUTH_ATTEMPTS_PER_MINUTE": "1000000",  # every client registers from 127.0.0.1
    }  # fmt: skip
    return served([sys.executable, "-m", "adapters.compose", "run"], port, folder, env)


def bare_server(folder: Path, loop: str) -> AbstractContextManager[Server]:
    """uvicorn with its defaults serving `bare_app`, started by this script."""
    port = free_port()
    command = [
        sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port),
        "--bare-loop", loop,
    ]  # fmt: skip
    return served(command, port, folder, dict(os.environ))


async def tokens(http: aiohttp.ClientSession, base: str, clients: int) -> list[str]:
    """A registered account and a bearer token from POST /api/token, for each client."""

    # A few at a time: past LOGIN_QUEUE_MAX (8) the server turns logins away (503).
    gate = asyncio.Semaphore(4)

    async def one(n: int) -> str:
        account = {"username": f"bench{n}", "password": PASSWORD}
        async with gate:
            async with http.post(f"{base}/api/register", json=account) as response:
                assert response.status == 201, await response.text()
            async with http.post(f"{base}/api/token", data=account) as response:
                assert response.status == 200, await response.text()
                return str((await response.json())["access_token"])

    return await asyncio.gather(*(one(n) for n in range(clients)))


@dataclass
class Run:
    """What the clients saw: requests/s and latencies after the warm-up, messages sent each."""

    rate: float
    latencies: list[float]
    sent: list[int]
    server_cpu: float  # CPU time over wall time, while measuring: 1.0 is one core
    client_cpu: float


async def load(server: Server, bearer: list[str], warmup: float, seconds: float) -> Run:
    """Every client posts messages back to back on its own connection until the time is up."""
    base = server.url
    connector = aiohttp.TCPConnector(limit=len(bearer))
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        measure_from, end = started + warmup, started + warmup + seconds
        latencies: list[float] = []

        async def cpu_when_measuring_starts() -> tuple[float, float]:
            await asyncio.sleep(measure_from - time.perf_counter())
            return server.cpu_seconds(), time.process_time()

        async def client(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            i = 0
            while (sent := time.perf_counter()) < end:
                i += 1
                message = {"message": f"message {i}"}
                async with http.post(f"{base}/api/chat", json=message, headers=headers) as response:
                    body = await response.json()
                    if response.status != 200 or not body["reply"].startswith(f"Echo: message {i}"):
                        raise SystemExit(f"unexpected answer {response.status}: {body}")
                if sent >= measure_from:
                    latencies.append(time.perf_counter() - sent)
            return i

        cpu_from = asyncio.create_task(cpu_when_measuring_starts())
        sent = await asyncio.gather(*(client(token) for token in bearer))
        elapsed = time.perf_counter() - measure_from
        server_from, client_from = await cpu_from
        return Run(
            len(latencies) / elapsed, latencies, sent,
            (server.cpu_seconds() - server_from) / elapsed,
            (time.process_time() - client_from) / elapsed,
        )  # fmt: skip


async def stored(http: aiohttp.ClientSession, base: str, token: str) -> int:
    """How many messages GET /api/history lists for the token's account, page by page."""
    count, before = 0, None
    while True:
        query = {"limit": "200"} | ({"before": str(before)} if before else {})
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base}/api/history", params=query, headers=headers) as response:
            page = await response.json()
        count += len(page["messages"])
        if (before := page["next_before"]) is None:
            return count


async def chatlink_load(server: Server, args: argparse.Namespace) -> Run:
    """Register the clients, load, then check that every message and reply was stored."""
    base = server.url
    async with aiohttp.ClientSession() as http:
        bearer = await tokens(http, base, args.clients)
        run = await load(server, bearer, args.warmup, args.seconds)
        for token, sent in zip(bearer, run.sent, strict=True):
            if (found := await stored(http, base, token)) != 2 * sent:
                raise SystemExit(
                    f"an account sent {sent} messages; {found} were stored, not {2 * sent}"
                )
    return run


async def bare_load(server: Server, args: argparse.Namespace) -> Run:
    return await load(server, ["not checked"] * args.clients, args.warmup, args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent keep-alive clients")
    parser.add_argument("--seconds", type=float, default=10, help="measured time per server")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before measuring")
    parser.add_argument(
        "--bare-loop", choices=["auto", "asyncio"], default="auto",
        help="uvicorn's event loop for the baseline (auto: uvloop, uvicorn's default)",
    )  # fmt: skip
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        uvicorn.run(bare_app(), host="127.0.0.1", port=args.serve_bare, loop=args.bare_loop)
        return
    results = {}
    for name, server, measure in (
        ("chatlink", chatlink_server, chatlink_load),
        ("bare", partial(bare_server, loop=args.bare_loop), bare_load),
    ):
        with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as running:
            results[name] = asyncio.run(measure(running, args))
    print(
        f"{'measure':<48} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU':>10} {'client CPU':>10}"
    )
    for name, label in (
        ("chatlink", "chatlink web door, POST /api/chat (SQLite, echo)"),
        ("bare", f"bare FastAPI echo route ({LOOPS[args.bare_loop]})"),
    ):
        run = results[name]
        print(
            f"{label:<48} {run.rate:>10,.0f} {statistics.median(run.latencies) * 1000:>8.1f} "
            f"{percentile(run.latencies, 0.99) * 1000:>8.1f} "
            f"{run.server_cpu:>10.0%} {run.client_cpu:>10.0%}"
        )
    ratio = results["chatlink"].rate / results["bare"].rate
    print(f"{'ratio chatlink / bare (requests/s)':<48} {ratio:>10.1%}")


if __name__ == "__main__":
    main()
