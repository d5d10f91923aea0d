"""Running the doors side by side until Ctrl-C or SIGTERM, then stopping them in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Protocol

from bot.errors import ChatlinkError

log = logging.getLogger(__name__)


class DoorFailed(ChatlinkError):
    """A door could not start (bad token, unreachable server, port in use)."""


class Door(Protocol):
    """One way in (Telegram, Discord, web): started and stopped by `chatlink run`.

    `stop` must also undo a `start` that failed halfway."""

    name: str

    async def start(self) -> None:
        """Connect and begin serving; return once serving."""
        ...

    async def stop(self) -> None:
        """Stop taking new work, finish what is in flight, disconnect."""
        ...


async def serve(doors: Sequence[Door], stop: asyncio.Event | None = None) -> None:
    """Start every door, wait for a stop signal (or `stop`), then stop them in reverse order."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Door] = []
    try:
        for door in doors:
            try:
                await door.start()
            except Exception as exc:
                with contextlib.suppress(Exception):  # release what a half start opened
                    await door.stop()
                if isinstance(exc, ChatlinkError):
                    raise
                log.exception("%s: could not start", door.name)
                raise DoorFailed(f"The {door.name} door could not start: {exc}") from exc
            started.append(door)
            log.info("%s: started", door.name)
        log.info("chatlink running with %d door(s); Ctrl-C or SIGTERM stops it", len(started))
        await stop.wait()
        log.info("stopping")
    finally:
        for door in reversed(started):
            try:
                await door.stop()
                log.info("%s: stopped", door.name)
            except Exception:
                log.exception("%s: failed to stop cleanly", door.name)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
