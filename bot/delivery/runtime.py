"""Running the doors side by side until Ctrl-C or SIGTERM, then stopping them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Any, Protocol

from bot.delivery.reconnect import DoorHealth, keep_starting
from bot.errors import ChatlinkError

log = logging.getLogger(__name__)

SHUTTING_DOWN = "chatlink is shutting down, try again shortly."
CUT_OFF_WAIT_S = 5.0  # cancelled work only runs its clean-up (a rollback, a short notice)


class DoorFailed(ChatlinkError):
    """A door could not start (bad token, unreachable server, port in use)."""


class Door(Protocol):
    """One way in (Telegram, Discord, web): started and stopped by `chatlink run`.

    `stop` must also undo a `start` that failed halfway. A door whose class sets
    `reconnects = True` (a platform reached over the network) is started again and again
    with backoff when `start` fails with anything but a ChatlinkError (a refused token, a bad
    setting), while the other doors serve."""

    name: str

    async def start(self) -> None:
        """Connect and begin serving; return once serving."""
        ...

    async def stop(self) -> None:
        """Stop taking new work, finish what is in flight (within SHUTDOWN_GRACE_S, then cut
        it off), disconnect."""
        ...


class InFlight:
    """The tasks a door is answering: on stop they get a grace period, then are cut off.

    A cut-off task sees `CancelledError` with `cut` already true, so it can tell its person
    (SHUTTING_DOWN) before it ends; the core stores nothing of a reply that did not finish.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.cut = False

    def __len__(self) -> int:
        return len(self._tasks)

    def track(self) -> None:
        """Count the current task in until it ends."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, grace_s: float) -> int:
        """Wait up to `grace_s` for the tracked tasks (also those tracked meanwhile), then
        cancel what is left and wait for its clean-up; return how many were cut off."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left, return_when=asyncio.FIRST_COMPLETED)
        cut = set(self._tasks)
        if cut:
            self.cut = True
            for task in cut:
                task.cancel("cut off: SHUTDOWN_GRACE_S is over")
            await asyncio.wait(cut, timeout=CUT_OFF_WAIT_S)
        return len(cut)


async def serve(
    doors: Sequence[Door], stop: asyncio.Event | None = None, health: DoorHealth | None = None
) -> None:
    """Start every door, wait for a stop signal (or `stop`), then stop them all at once, so
    that none takes new work while another finishes its own. A reconnecting door that cannot
    start keeps trying in the background (`health` says so); one that is refused for good
    stops the process with its error."""
    stop = stop or asyncio.Event()
    health = health or DoorHealth()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Door] = []
    retrying: list[asyncio.Task[None]] = []
    refused: list[BaseException] = []

    async def retry(door: Door, first_error: BaseException) -> None:
        failure = await keep_starting(
            door.name, door.start, door.stop, health, first_error,
            is_fatal=lambda exc: isinstance(exc, ChatlinkError),
        )  # fmt: skip
        if failure is None:
            started.append(door)
            log.info("%s: started", door.name)
            return
        refused.append(failure)
        stop.set()

    try:
        for door in doors:
            try:
                await door.start()
            except Exception as exc:
                with contextlib.suppress(Exception):  # release what a half start opened
                    await door.stop()
                if isinstance(exc, ChatlinkError):
                    raise
                if getattr(door, "reconnects", False):
                    retrying.append(asyncio.create_task(retry(door, exc)))
                    continue
                log.exception("%s: could not start", door.name)
                raise DoorFailed(f"The {door.name} door could not start: {exc}") from exc
            started.append(door)
            log.info("%s: started", door.name)
        log.info(
            "chatlink running with %d door(s)%s; Ctrl-C or SIGTERM stops it",
            len(started),
            f", {len(retrying)} still connecting" if retrying else "",
        )
        await stop.wait()
        log.info("stopping")
    finally:
        for task in retrying:
            task.cancel()
        await asyncio.gather(*retrying, return_exceptions=True)
        await asyncio.gather(*(_stop(door) for door in reversed(started)))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if refused:
        raise refused[0]


async def _stop(door: Door) -> None:
    try:
        await door.stop()
        log.info("%s: stopped", door.name)
    except Exception:
        log.exception("%s: failed to stop cleanly", door.name)
