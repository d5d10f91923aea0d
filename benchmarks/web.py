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
answered after the warm-up count. Prints one table. Not a test: the machine is shared and
noisy; compare the ratio.
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
from pathlib import Path

import aiohttp
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import Settings  # noqa: E402
from tests.fakes.serve import free_port  # noqa: E402

PASSWORD = "benchmark password"
START_WITHIN_S = 60


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


@contextmanager
def served(command: list[str], port: int, folder: Path, env: dict[str, str]) -> Iterator[str]:
    """Run a server process until the block ends; yields its base URL once it accepts."""
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
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chatlink_server(folder: Path) -> AbstractContextManager[str]:
    """`chatlink run` with only the web door, its settings from a clean environment."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env |= {
        "PYTHONPATH": str(ROOT), "DATA_DIR": str(folder / "data"), "WEB_PORT": str(port),
        "RATE_LIMIT_PER_MINUTE": "0",  # no chat rate limit
        "AUTH_ATTEMPTS_PER_MINUTE": "1000000",  # every client registers from 127.0.0.1
    }  # fmt: skip
    return served([sys.executable, "-m", "adapters.compose", "run"], port, folder, env)


def bare_server(folder: Path) -> AbstractContextManager[str]:
    """uvicorn with its defaults serving `bare_app`, started by this script."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]
    return served(command, port, folder, dict(os.environ))


async def tokens(http: aiohttp.ClientSession, base: str, clients: int) -> list[str]:
    """A registered account and a bearer token from POST /api/token, for each client."""

    async def one(n: int) -> str:
        account = {"username": f"bench{n}", "password": PASSWORD}
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


async def load(base: str, bearer: list[str], warmup: float, seconds: float) -> Run:
    """Every client posts messages back to back on its own connection until the time is up."""
    connector = aiohttp.TCPConnector(limit=len(bearer))
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        measure_from, end = started + warmup, started + warmup + seconds
        latencies: list[float] = []

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

        sent = await asyncio.gather(*(client(token) for token in bearer))
        return Run(len(latencies) / (time.perf_counter() - measure_from), latencies, sent)


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


async def chatlink_load(base: str, args: argparse.Namespace) -> Run:
    """Register the clients, load, then check that every message and reply was stored."""
    async with aiohttp.ClientSession() as http:
        bearer = await tokens(http, base, args.clients)
        run = await load(base, bearer, args.warmup, args.seconds)
        for token, sent in zip(bearer, run.sent, strict=True):
            if (found := await stored(http, base, token)) != 2 * sent:
                raise SystemExit(
                    f"an account sent {sent} messages; {found} were stored, not {2 * sent}"
                )
    return run


async def bare_load(base: str, args: argparse.Namespace) -> Run:
    return await load(base, ["not checked"] * args.clients, args.warmup, args.seconds)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent keep-alive clients")
    parser.add_argument("--seconds", type=float, default=10, help="measured time per server")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before measuring")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        uvicorn.run(bare_app(), host="127.0.0.1", port=args.serve_bare)
        return
    results = {}
    for name, server, measure in (
        ("chatlink", chatlink_server, chatlink_load),
        ("bare", bare_server, bare_load),
    ):
        with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as base:
            results[name] = asyncio.run(measure(base, args))
    print(f"{'measure':<46} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for name, label in (
        ("chatlink", "chatlink web door POST /api/chat (SQLite, echo)"),
        ("bare", "bare FastAPI echo route"),
    ):
        run = results[name]
        median = statistics.median(run.latencies) * 1000
        print(f"{label:<46} {run.rate:>10,.0f} {median:>8.1f} {p99(run.latencies) * 1000:>8.1f}")
    ratio = results["chatlink"].rate / results["bare"].rate
    print(f"{'ratio chatlink / bare':<46} {ratio:>10.1%}")


if __name__ == "__main__":
    main()
