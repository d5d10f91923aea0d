"""The event loop a command runs on: uvloop where it is installed, else asyncio's own.

uvloop (libuv, installed with uvicorn[standard] on Linux and macOS) runs the same asyncio
code with less overhead per callback, socket read and timer: with 50 clients on /api/chat the
web door answered about a sixth more requests a second on it, and under a thousand streaming
conversations its loop lagged less (benchmarks/README.md, 2026-12-04, second session).
EVENT_LOOP=asyncio keeps asyncio's loop, for an installation without uvloop or to rule the
loop out when something misbehaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bot.errors import ConfigError

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
T = TypeVar("T")


def loop_factory(choice: str) -> LoopFactory | None:
    """The factory of EVENT_LOOP's loop; None for asyncio's default."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                "EVENT_LOOP=uvloop, but uvloop is not installed here: "
                "install it (pip install uvloop) or set EVENT_LOOP=auto"
            ) from None
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def running_loop_name() -> str:
    """The package of the loop this runs on: uvloop or asyncio."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def run_on_loop(work: Coroutine[Any, Any, T], choice: str) -> T:
    """`work` run to its end on a new loop of EVENT_LOOP's kind, as asyncio.run does."""
    try:
        factory = loop_factory(choice)
    except ConfigError:
        work.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(work)
