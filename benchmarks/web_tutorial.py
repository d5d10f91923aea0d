"""Web against the seed tutorial's own design: chatlink's POST /api/chat and the tutorial's
POST /chat (benchmarks/tutorial_app.py), 50 keep-alive clients over real HTTP, two workloads.

    .venv/bin/python benchmarks/web_tutorial.py [--clients 50] [--rounds 3] [--seconds 5]
        [--warmup 2] [--deps FOLDER]

- people: every client is a person of its own (registered, logged in), in their own
  conversation;
- shared: one person whose clients all post into one conversation (chatlink: the account's
  private thread, answered one message at a time in arrival order; the tutorial: the user's
  messages).
Both servers run in processes of their own on SQLite files, answered by an echo: chatlink as
`chatlink run` (benchmarks/web.py's settings), the tutorial app under uvicorn with its
defaults. For each workload both are started and logged in to once, then the load goes to
one and the other in turn, `--rounds` times each (a warm-up, then `--seconds` measured), so
that a change of the machine's pace falls on both: the table gives each server's median
round, the ratio of the medians, and the lowest and highest ratio of a round against the
tutorial's round next to it. Afterwards every message sent and its reply must be stored
(chatlink: GET /api/history; the tutorial: GET /count). `--deps` names a folder holding bcrypt and
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


async def logged_in(server: Server, kind: str, shared: bool, clients: int) -> list[str]:
    """Each person registered and logged in: their bearer tokens, one per person."""
    async with aiohttp.ClientSession() as http:
        gate = asyncio.Semaphore(4)
        people = 1 if shared else clients
        return list(
            await asyncio.gather(*(login(http, server.url, kind, n, gate) for n in range(people)))
        )


async def check_stored(server: Server, kind: str, tokens: list[str], expected: list[int]) -> None:
    """Every message sent, and its reply, is stored for each person."""
    async with aiohttp.ClientSession() as http:
        for token, want in zip(tokens, expected, strict=True):
            if kind == "chatlink":
                found = await stored(http, server.url, token)
            else:
                headers = {"Authorization": f"Bearer {token}"}
                async with http.get(f"{server.url}/count", headers=headers) as response:
                    found = (await response.json())["messages"]
            if found != want:
                raise SystemExit(f"{kind}: {found} messages stored, not {want}")


def workload(shared: bool, args: argparse.Namespace) -> tuple[dict[str, list[Run]], str]:
    """Both servers up at once; the load goes to each in turn, `args.rounds` times."""
    kinds = ("chatlink", "tutorial")
    runs: dict[str, list[Run]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp_chatlink, tempfile.TemporaryDirectory() as tmp:
        folders = {"chatlink": Path(tmp_chatlink), "tutorial": Path(tmp)}
        with (
            chatlink_server(folders["chatlink"]) as chatlink,
            tutorial_server(folders["tutorial"], args.deps) as tutorial,
        ):
            servers = {"chatlink": chatlink, "tutorial": tutorial}
            tokens = {
                kind: asyncio.run(logged_in(servers[kind], kind, shared, args.clients))
                for kind in kinds
            }
            for _ in range(args.rounds):
                for kind in kinds:
                    bearer = tokens[kind] * args.clients if shared else tokens[kind]
                    path = "/api/chat" if kind == "chatlink" else "/chat"
                    runs[kind].append(
                        asyncio.run(load(servers[kind], path, bearer, args.warmup, args.seconds))
                    )
            for kind in kinds:
                sent = [sum(n) for n in zip(*(run.sent for run in runs[kind]), strict=True)]
                expected = [2 * sum(sent)] if shared else [2 * n for n in sent]
                asyncio.run(check_stored(servers[kind], kind, tokens[kind], expected))
        jwt_line = (folders["tutorial"] / "server.log").read_text().splitlines()[0]
    return runs, jwt_line


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each server, in turn")
    parser.add_argument("--seconds", type=float, default=5, help="measured in each round")
    parser.add_argument("--warmup", type=float, default=2, help="before each round's measure")
    parser.add_argument("--deps", help="a folder holding bcrypt and python-jose")
    args = parser.parse_args()
    rows = []
    for shared, label in (
        (False, f"{args.clients} people, each their own conversation"),
        (True, f"one person, {args.clients} clients, one conversation"),
    ):
        runs, jwt_line = workload(shared, args)
        rows.append((label, runs))
    print(
        f"({jwt_line}; {args.clients} clients; {args.rounds} rounds of each server in turn, "
        f"{args.seconds:g} s measured in each)"
    )
    print(
        f"{'workload / server (median round)':<44} {'requests/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'server CPU':>10} {'ratio':>7}  each round (requests/s; ratio)"
    )
    for label, runs in rows:
        base = median_run(runs["tutorial"]).rate
        paired = [
            ours.rate / theirs.rate
            for ours, theirs in zip(runs["chatlink"], runs["tutorial"], strict=True)
        ]
        for kind in ("chatlink", "tutorial"):
            run = median_run(runs[kind])
            rounds = " ".join(f"{r.rate:,.0f}" for r in runs[kind])
            if kind == "chatlink":
                rounds += f"; {min(paired):.2f} to {max(paired):.2f}"
            print(
                f"{label + ': ' + kind:<44} {run.rate:>10,.0f} "
                f"{statistics.median(run.latencies) * 1000:>8.1f} "
                f"{percentile(run.latencies, 0.99) * 1000:>8.1f} {run.server_cpu:>10.0%} "
                f"{run.rate / base:>7.2f}  {rounds}"
            )


if __name__ == "__main__":
    main()
