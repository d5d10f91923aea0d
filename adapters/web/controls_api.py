"""The thread-control API: models, personas, settings, retry, undo, stop and usage.

Each acts on the account's private thread, which its Telegram and Discord DMs share.
"""

from __future__ import annotations

from fastapi import APIRouter

from adapters.web.api import PROBLEMS, answer_chat
from adapters.web.controls_schemas import (
    ModelOut,
    ModelUsageOut,
    PersonaOut,
    SettingsIn,
    SettingsOut,
    StoppedOut,
    UsageOut,
)
from adapters.web.deps import ApiAccount, ChatlinkDep
from adapters.web.schemas import ChatOut, Problem
from bot.conversation import PRIVATE_THREAD
from bot.providers import OFF

controls_api = APIRouter(prefix="/api", tags=["api"])


@controls_api.get("/models", response_model=list[ModelOut], responses=PROBLEMS)
async def models(account: ApiAccount, chatlink: ChatlinkDep) -> list[ModelOut]:
    """The models this account may pick, the private thread's marked `current`."""
    controls = chatlink.core.controls
    current = (await controls.current(account, PRIVATE_THREAD)).model.name
    default = chatlink.catalogue.default.name
    return [
        ModelOut(
            name=m.name,
            provider=m.provider,
            model=m.model,
            description=m.description,
            context_tokens=m.context_tokens,
            max_tokens=m.max_tokens,
            vision=m.vision,
            tools=m.tools,
            admin_only=m.admin_only,
            default=m.name == default,
            current=m.name == current,
        )
        for m in controls.models(account)
    ]


@controls_api.get("/personas", response_model=list[PersonaOut], responses=PROBLEMS)
async def personas(account: ApiAccount, chatlink: ChatlinkDep) -> list[PersonaOut]:
    """Every persona, the private thread's marked `current`."""
    controls = chatlink.core.controls
    current = (await controls.current(account, PRIVATE_THREAD)).persona
    return [
        PersonaOut(
            name=p.name,
            description=p.description,
            model=p.model,
            current=current is not None and p.name == current.name,
        )
        for p in controls.personas()
    ]


@controls_api.get("/settings", response_model=SettingsOut, responses=PROBLEMS)
async def get_settings(account: ApiAccount, chatlink: ChatlinkDep) -> SettingsOut:
    """The private thread's model, persona and system prompt."""
    choices = await chatlink.core.controls.current(account, PRIVATE_THREAD)
    return SettingsOut(
        model=choices.model.name,
        persona=None if choices.persona is None else choices.persona.name,
        system_prompt=choices.system_prompt,
    )


@controls_api.put("/settings", response_model=SettingsOut, responses=PROBLEMS)
async def put_settings(body: SettingsIn, account: ApiAccount, chatlink: ChatlinkDep) -> SettingsOut:
    """Change the private thread's settings; an unknown name is 422 and changes nothing."""
    given = body.model_fields_set
    await chatlink.core.controls.change(
        account,
        PRIVATE_THREAD,
        model=(body.model or "") if "model" in given else None,
        persona=(body.persona or OFF) if "persona" in given else None,
        system_prompt=(body.system_prompt or "") if "system_prompt" in given else None,
    )
    return await get_settings(account, chatlink)


@controls_api.post("/retry", response_model=ChatOut, responses=PROBLEMS | {503: {"model": Problem}})
async def retry(account: ApiAccount, chatlink: ChatlinkDep) -> ChatOut:
    """Write the private thread's last reply again (it replaces the old one)."""
    return await answer_chat(account, chatlink, "/retry")


@controls_api.post("/undo", response_model=ChatOut, responses=PROBLEMS)
async def undo(account: ApiAccount, chatlink: ChatlinkDep) -> ChatOut:
    """Remove the private thread's last exchange; `reply` says what went."""
    return await answer_chat(account, chatlink, "/undo")


@controls_api.post("/stop", response_model=StoppedOut, responses=PROBLEMS)
async def stop(account: ApiAccount, chatlink: ChatlinkDep) -> StoppedOut:
    """Stop the reply being written in the private thread (on any door); nothing of it is
    stored."""
    return StoppedOut(stopped=await chatlink.core.controls.stop(account, PRIVATE_THREAD))


@controls_api.get("/usage", response_model=UsageOut, responses=PROBLEMS)
async def usage(account: ApiAccount, chatlink: ChatlinkDep) -> UsageOut:
    """Tokens today and the budget left, messages this minute, the model and persona."""
    view = await chatlink.core.controls.usage_of(account, PRIVATE_THREAD)
    return UsageOut(
        tokens_today=view.tokens_today,
        cache_read_tokens_today=view.cache_read_today,
        cache_write_tokens_today=view.cache_write_today,
        daily_budget=view.daily_budget,
        budget_left=None
        if view.daily_budget is None
        else max(0, view.daily_budget - view.tokens_today),
        messages_this_minute=view.messages_this_minute,
        rate_limit_per_minute=view.per_minute,
        by_model=[
            ModelUsageOut(
                model=u.name,
                tokens=u.tokens,
                calls=u.calls,
                cache_read_tokens=u.cache_read_tokens,
                cache_write_tokens=u.cache_write_tokens,
            )
            for u in view.by_model
        ],
        model=view.model,
        persona=view.persona,
    )
