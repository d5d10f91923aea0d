"""The limit on guessing link codes, and the count of link attempts by outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from bot.errors import ChatlinkError, CodeInvalid, RateLimited
from bot.limits import Limiter, PerHour
from bot.monitoring import Metrics


class Guesses:
    """Counts tries at codes that are not ours, per chat identity, account or client."""

    def __init__(self, limiter: Limiter, per_hour: int, metrics: Metrics) -> None:
        self.limiter = limiter
        self.per_hour = per_hour
        self.metrics = metrics
        self._item = PerHour(per_hour)

    @asynccontextmanager
    async def attempt(self, *who: str) -> AsyncIterator[None]:
        """One try at a code by `who` (a chat identity, an account, a client address).

        Only codes that are not ours (forged, mistyped, unknown) count: holding a real code
        that is used or expired is no guess, so a race on one code limits nobody. Once
        `per_hour` are counted, every try is refused until the hour is over, the right code
        too: otherwise guessing could go on behind the refusals.
        """
        if not who:
            yield
            return
        left, resets_at = await self.limiter.remaining(self._item, "link-attempt", *who)
        if left <= 0:
            raise RateLimited("link attempts", resets_at - self.limiter.now())
        try:
            yield
        except CodeInvalid:
            await self.limiter.spend(self._item, 1, "link-attempt", *who)
            raise

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Count the attempt inside as linked, refused or limited."""
        try:
            yield
        except RateLimited:
            self.metrics.link_attempts.labels("limited").inc()
            raise
        except ChatlinkError:
            self.metrics.link_attempts.labels("refused").inc()
            raise
        self.linked()

    def linked(self) -> None:
        """Count one identity linked."""
        self.metrics.link_attempts.labels("linked").inc()


def client_key(client: str | None) -> tuple[str, ...]:
    """Who tries a code on the web page: its client address."""
    # Callers without an address (the CLI, tests) are not counted.
    return ("client", client) if client is not None else ()
