"""Web against the seed tutorial's own design: chatlink's POST /api/chat and the tutorial's
POST /chat (benchmarks/tutorial_app.py), 50 keep-alive clients over real HTTP, two workloads.

    .venv/bin/python benchmarks/web_tutorial.py [--clients 50] [--seconds 10] [--warmup 3]
        [--deps FOLDER]

- people: every client is a person of its own (registered, logged in), in their own
  conversation;
- shared: one person whose clients all post into one conversation (chatlink: the account's
  private thread, answered one message at a time in arrival order; the tutorial: the user's
  messages).
Both servers run in processes of their own on SQLite files, answered by an echo: chatlink as
`chatlink run` (benchmarks/web.py's settings), the tutorial app under uvicorn with its
defaults. Afterwards every message sent and its reply must be stored (chatlink: GET
/api/history; the tutorial: GET /count). `--deps` names a folder holding bcrypt and
python-jose (`pip install --target FOLDER bcrypt python-jose`) when they are not installed;
without python-jose the tutorial signs with PyJWT, and the table says so.
Not a test: the machine is shared and noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.core import percentile  # noqa: E402
from benchmarks.web import PASSWORD, Run, Server, chatlink_server, served, stored  # noqa: E402
from tests.fakes.serve import free_port  # noqa: E402

TUTORIAL = Path(__file__).resolve().parent / "tutorial_app.py"


def tutorial_server(folder: Path, deps: str | None) -> AbstractContextManager[Server]:
    port = free_port()
    env = dict(os.environ)
    if deps:
        env["PYTHONPATH"] = os.pathsep.join([deps, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, str(TUTORIAL), str(port), str(folder / "tutorial.db")]
    return served(command, port, folder, env)


async def login(
    http: aiohttp.ClientSession, base: str, kind: str, n: int, gate: asyncio.Semaphore
) -> str:
    """Register person n and return a bearer token (chatlink's /api/register and /api/token,
    or the tutorial's /register and /token). A few at a time: chatlink turns logins away
    past LOGIN_QUEUE_MAX (8), as a busy server should."""
    account = {"username": f"bench{n}", "password": PASSWORD}
    prefix = "/api" if kind == "chatlink" else ""
    async with gate:
        async with http.post(f"{base}{prefix}/register", json=account) as response:
            assert response.status == 201, await response.text()
        async with http.post(f"{base}{prefix}/token", data=account) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["access_token"])


async def load(server: Server, path: str, bearer: list[str], warmup: float, seconds: float) -> Run:
    """Every client posts one message after another on its own connection."""
    connector = aiohttp.TCPConnector(limit=len(bearer))
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        measure_from, end = started + warmup, started + warmup + seconds
        latencies: list[float] = []
        cpu: list[float] = []

        async def cpu_at_start() -> None:
            await asyncio.sleep(measure_from - time.perf_counter())
            cpu.append(server.cpu_seconds())

        async def client(c: int, token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            i = 0
            while (sent := time.perf_counter()) < end:
                i += 1
                text = f"message {c}.{i}"
                async with http.post(
                    f"{server.url}{path}", json={"message": text}, headers=headers
                ) as response:
                    body = await response.json()
                    if response.status != 200 or not body["reply"].startswith(f"Echo: {text}"):
                        raise SystemExit(f"unexpected answer {response.status}: {body}")
                if sent >= measure_from:
                    latencies.append(time.perf_counter() - sent)
            return i

        timer = asyncio.create_task(cpu_at_start())
        sent = await asyncio.gather(*(client(c, t) for c, t in enumerate(bearer)))
        elapsed = time.perf_counter() - measure_from
        await timer
        return Run(
            len(latencies) / elapsed, latencies, sent,
            (server.cpu_seconds() - cpu[0]) / elapsed, 0.0,
        )  # fmt: skip


async def measure(server: Server, kind: str, shared: bool, args: argparse.Namespace) -> Run:
    async with aiohttp.ClientSession() as http:
        people = 1 if shared else args.clients
        gate = asyncio.Semaphore(4)
        tokens = await asyncio.gather(
            *(login(http, server.url, kind, n, gate) for n in range(people))
        )
        bearer = [tokens[0]] * args.clients if shared else list(tokens)
        path = "/api/chat" if kind == "chatlink" else "/chat"
        run = await load(server, path, bearer, args.warmup, args.seconds)
        expected = [2 * sum(run.sent)] if shared else [2 * s for s in run.sent]
        for token, want in zip(tokens, expected, strict=True):
            if kind == "chatlink":
                found = await stored(http, server.url, token)
            else:
                headers = {"Authorization": f"Bearer {token}"}
                async with http.get(f"{server.url}/count", headers=headers) as response:
                    found = (await response.json())["messages"]
            if found != want:
                raise SystemExit(f"{kind}: {found} messages stored, not {want}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--deps", help="a folder holding bcrypt and python-jose")
    args = parser.parse_args()
    results: dict[tuple[str, str], Run] = {}
    for workload, shared in (("people", False), ("shared", True)):
        for kind in ("chatlink", "tutorial"):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                server = chatlink_server(folder) if kind == "chatlink" else (
                    tutorial_server(folder, args.deps)
                )  # fmt: skip
                with server as running:
                    results[(workload, kind)] = asyncio.run(measure(running, kind, shared, args))
                    if kind == "tutorial":
                        jwt_line = (folder / "server.log").read_text().splitlines()[0]
    print(f"({jwt_line}; {args.clients} clients, {args.seconds:g} s measured each)")
    print(
        f"{'workload / server':<44} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU':>10} {'ratio':>7}"
    )
    for workload, label in (
        ("people", f"{args.clients} people, each their own conversation"),
        ("shared", f"one person, {args.clients} clients, one conversation"),
    ):
        base = results[(workload, "tutorial")].rate
        for kind in ("chatlink", "tutorial"):
            run = results[(workload, kind)]
            print(
                f"{label + ': ' + kind:<44} {run.rate:>10,.0f} "
                f"{statistics.median(run.latencies) * 1000:>8.1f} "
                f"{percentile(run.latencies, 0.99) * 1000:>8.1f} {run.server_cpu:>10.0%} "
                f"{run.rate / base:>7.2f}"
            )


if __name__ == "__main__":
    main()
