"""`chatlink doctor`: each part of the set-up checked, with the fix for whatever fails."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.limits import Limiter
from bot.monitoring import scrub
from bot.providers import ReplyProvider
from storage import Database, DatabaseUnavailable, current_revision, head_revision


class CheckFailed(Exception):
    """A check failed; the message says what to do about it."""


@dataclass(frozen=True, slots=True)
class Check:
    """One named check: returns a short detail, or raises CheckFailed with the fix."""

    name: str
    run: Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    passed: bool
    detail: str


def core_checks(db: Database, provider: ReplyProvider, limiter: Limiter) -> list[Check]:
    """Database, migrations, model endpoint and Redis."""

    async def database() -> str:
        path = db.sqlite_path
        if path is not None and not os.access(path.parent, os.W_OK):
            raise CheckFailed(f"{path.parent} is not writable: fix its owner or set DATABASE_URL")
        if not db.exists():
            return f"none yet at {path}: `chatlink migrate` or `chatlink run` makes it"
        try:
            await db.open_check()
        except DatabaseUnavailable as exc:
            raise CheckFailed(str(exc)) from None
        return "sqlite " + str(path) if path is not None else db.url.render_as_string()

    async def migrations() -> str:
        if not db.exists():
            raise CheckFailed("no schema yet: run chatlink migrate")
        try:
            current = await current_revision(db)
        except Exception:
            raise CheckFailed("cannot read the schema version: fix the database first") from None
        head = head_revision()
        if current != head:
            raise CheckFailed(
                f"schema at {current or 'nothing'}, code at {head}: run chatlink migrate"
            )
        return f"at {head}"

    async def model() -> str:
        try:
            return await provider.check()
        except Exception as exc:
            raise CheckFailed(
                f"{provider.name} endpoint failed ({type(exc).__name__}): check "
                "LLM_BASE_URL, LLM_API_KEY and LLM_MODEL"
            ) from None

    async def redis() -> str:
        if not limiter.shared:
            return "not configured (limits count per process)"
        if not await limiter.ping():
            raise CheckFailed("Redis does not answer: check REDIS_URL")
        return "ok"

    return [
        Check("database", database),
        Check("migrations", migrations),
        Check("model", model),
        Check("redis", redis),
    ]


async def run_checks(checks: Sequence[Check]) -> list[Outcome]:
    """Run every check, whatever the others did."""
    outcomes = []
    for check in checks:
        try:
            outcomes.append(Outcome(check.name, True, await check.run()))
        except CheckFailed as failure:
            outcomes.append(Outcome(check.name, False, str(failure)))
        except Exception as exc:
            outcomes.append(Outcome(check.name, False, scrub(f"{type(exc).__name__}: {exc}")))
    return outcomes
