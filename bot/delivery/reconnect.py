"""A door that cannot reach its platform at start keeps trying, with backoff, while the other
doors serve; `DoorHealth` is what /healthz says about it meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

FIRST_WAIT_S = 1.0
LONGEST_WAIT_S = 60.0


class DoorHealth:
    """The doors that are configured but not serving, each with why: /healthz reports them."""

    def __init__(self) -> None:
        self._waiting: dict[str, str] = {}

    def waiting(self, door: str, why: str) -> None:
        """`door` is not serving yet (or any more), because of `why`."""
        self._waiting[door] = why

    def serving(self, door: str) -> None:
        """`door` serves."""
        self._waiting.pop(door, None)

    def degraded(self) -> dict[str, str]:
        """Each door that is not serving, with why."""
        return dict(self._waiting)


def reason(error: BaseException) -> str:
    """A short reason for a failed start: the error's type and first line, never a traceback."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


async def keep_starting(
    name: str,
    start: Callable[[], Awaitable[None]],
    undo: Callable[[], Awaitable[None]],
    health: DoorHealth,
    first_error: BaseException,
    *,
    is_fatal: Callable[[BaseException], bool],
    first_wait_s: float = FIRST_WAIT_S,
    longest_wait_s: float = LONGEST_WAIT_S,
) -> BaseException | None:
    """Try `start` again with growing waits (jittered, up to `longest_wait_s`) until it
    works (None) or fails in a way retrying cannot fix (that error: the process should stop).

    Logged once per change of state: when the door starts waiting, when its reason changes,
    and when it serves; each failed try in between only at DEBUG.
    """
    why = reason(first_error)
    health.waiting(name, f"connecting ({why})")
    log.warning("%s: cannot reach the platform (%s); retrying, the other doors serve", name, why)
    wait, tries = first_wait_s, 1
    while True:
        await asyncio.sleep(wait * random.uniform(0.8, 1.2))
        wait = min(wait * 2, longest_wait_s)
        tries += 1
        try:
            await start()
        except asyncio.CancelledError:  # shutdown while trying: leave nothing half open
            with contextlib.suppress(Exception):
                await undo()
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):  # release what a half start opened
                await undo()
            if is_fatal(exc):
                health.waiting(name, f"stopped ({reason(exc)})")
                return exc
            if reason(exc) != why:
                why = reason(exc)
                log.warning("%s: still cannot reach the platform (%s); retrying", name, why)
            else:
                log.debug("%s: try %d failed (%s)", name, tries, why)
            health.waiting(name, f"connecting ({why})")
            continue
        health.serving(name)
        log.info("%s: connected after %d tries", name, tries)
        return None
