"""The model provider's path alone: CPU per streamed reply through chatlink's OpenAI provider
against aiohttp reading the same stream bare, in one process, from one stand-in.

    .venv/bin/python benchmarks/provider_stream.py [--streams 500] [--rounds 3]

The stand-in is benchmarks/streaming.py's (its own process: 40 pieces over 4 s per
request). Each round opens `--streams` streams at once, first bare (aiohttp's `post` and
`iter_any`, the events cut at blank lines and each chunk's JSON read: the least any client
does), then through `OpenAIChatProvider.stream` (the request as the SDK makes it, the
events decoded, the read timeout kept, the usage read); the rounds alternate, and the CPU of
this process over each is divided by its streams. Every reply is checked whole. Reading
the model's stream is about a third of chatlink's CPU per streamed reply
(benchmarks/streaming.py); this measures it apart from the web door and the core, where
the machine's noise is smaller than the differences looked for.
Not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from benchmarks.streaming import expected_reply, read_bare  # noqa: E402


async def bare(session: object, url: str, tag: str) -> str:
    """The stream read with aiohttp alone."""
    reply = ""
    async for so_far in read_bare(session, url, tag):
        reply = so_far
    return reply


async def ours(provider: object, tag: str) -> str:
    """The stream read through chatlink's provider."""
    from bot.providers import Turn, Usage
    from bot.providers.openai_chat import OpenAIChatProvider

    assert isinstance(provider, OpenAIChatProvider)
    parts = [piece async for piece in provider.stream([Turn("user", tag)], Usage())]
    return "".join(parts)


async def measure(args: argparse.Namespace) -> None:
    import aiohttp

    from bot.providers.openai_chat import OpenAIChatProvider
    from tests.fakes.serve import free_port

    port = free_port()
    stand_in = subprocess.Popen(  # noqa: ASYNC220 (nothing else runs yet)
        [sys.executable, str(ROOT / "benchmarks" / "streaming.py"), "--serve-model", str(port)],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    provider = OpenAIChatProvider(
        model="m", api_key="sk-stand-in", base_url=url, system_prompt="You are helpful.",
        temperature=0.7, max_tokens=1024, timeout_s=60, max_retries=2,
    )  # fmt: skip
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
    cpu: dict[str, list[float]] = {"bare aiohttp": [], "chatlink's provider": []}
    whole = {name: 0 for name in cpu}
    try:
        for _ in range(100):
            try:
                await bare(session, url, "c0 warm-up")
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        await ours(provider, "c0 warm-up")
        for n in range(args.rounds):
            for name in cpu:
                tags = [f"c{n}-{i} tell me a story" for i in range(args.streams)]
                began = time.process_time()
                if name == "bare aiohttp":
                    replies = await asyncio.gather(*(bare(session, url, t) for t in tags))
                else:
                    replies = await asyncio.gather(*(ours(provider, t) for t in tags))
                cpu[name].append((time.process_time() - began) / args.streams)
                whole[name] += sum(r == expected_reply() for r in replies)
    finally:
        await session.close()
        await provider.close()
        stand_in.terminate()
        stand_in.wait(timeout=10)
    floor = statistics.median(cpu["bare aiohttp"])
    print(f"{'client':<24} {'CPU per reply, median (ms)':>28} {'each round (ms)':>26} "
          f"{'whole':>7} {'x bare':>7}")  # fmt: skip
    for name, each in cpu.items():
        rounds = " ".join(f"{c * 1000:.2f}" for c in each)
        print(
            f"{name:<24} {statistics.median(each) * 1000:>28.2f} {rounds:>26} "
            f"{whole[name]:>7,} {statistics.median(each) / floor:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
