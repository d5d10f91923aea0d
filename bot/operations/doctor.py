"""`chatlink doctor`: each part of the set-up checked, with the fix for whatever fails."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.limits import Limiter
from bot.monitoring import scrub
from bot.providers import Catalogue, ReplyProvider
from bot.tools import ToolRegistry
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


def core_checks(
    db: Database,
    provider: ReplyProvider,
    limiter: Limiter,
    *,
    catalogue: Catalogue | None = None,
    tools: ToolRegistry | None = None,
) -> list[Check]:
    """Database, migrations, model endpoint (each model of a MODELS_FILE), Redis, and each
    MCP server of MCP_SERVERS_FILE."""

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

    def catalogue_model(name: str) -> Check:
        async def check() -> str:
            assert catalogue is not None
            serving = catalogue.provider(name)
            try:
                return await serving.check()
            except Exception as exc:
                raise CheckFailed(
                    f"{serving.name} endpoint failed ({type(exc).__name__}): check base_url, "
                    f"api_key_env and model of {name} in MODELS_FILE"
                ) from None

        return Check(f"model {name}", check)

    async def redis() -> str:
        if not limiter.shared:
            return "not configured (limits count per process)"
        if not await limiter.ping():
            raise CheckFailed("Redis does not answer: check REDIS_URL")
        return "ok"

    return [
        Check("database", database),
        Check("migrations", migrations),
        *(
            [catalogue_model(spec.name) for spec in catalogue.models]
            if catalogue is not None and _from_file(catalogue)
            else [Check("model", model)]
        ),
        Check("redis", redis),
        *([] if tools is None else tool_checks(tools)),
    ]


def tool_checks(tools: ToolRegistry) -> list[Check]:
    """One check per MCP server: whether it started (or, over HTTP, answers) and its tools."""

    def server(name: str) -> Check:
        async def check() -> str:
            status = await tools.connect(name)
            config = next(s for s in tools.servers if s.name == name)
            if not status.up:
                where = (
                    "command and args in MCP_SERVERS_FILE (run it by hand to see its errors)"
                    if config.command is not None
                    else "url and headers in MCP_SERVERS_FILE"
                )
                raise CheckFailed(
                    f"{status.transport}, did not start ({status.error or 'no answer'}): check "
                    f"its {where}"
                )
            names = [t.name for t in status.tools if config.allows(t.name)]
            policy = [
                "admin only" if config.admin_only else "",
                "in groups too" if config.groups else "private chats only",
            ]
            return (
                f"{status.transport}, started, {len(names)} tool{'s' if len(names) != 1 else ''}"
                f" ({', '.join(p for p in policy if p)}): {', '.join(names) or 'none'}"
            )

        return Check(f"mcp:{name}", check)

    return [server(config.name) for config in tools.servers]


def _from_file(catalogue: Catalogue) -> bool:
    """Whether the catalogue came from MODELS_FILE (several models, or one named there)."""
    return catalogue.from_file


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
