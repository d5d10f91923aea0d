"""Bodies of the thread-control API: models, personas, settings, usage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelOut(BaseModel):
    name: str
    provider: str
    model: str
    description: str
    context_tokens: int
    max_tokens: int
    vision: bool
    tools: bool
    admin_only: bool
    default: bool
    current: bool = Field(description="the private thread's model")


class PersonaOut(BaseModel):
    name: str
    description: str
    model: str | None = Field(description="the model the persona pins, if any")
    current: bool


class SettingsOut(BaseModel):
    model: str = Field(description="the model answering in the private thread")
    persona: str | None
    system_prompt: str | None


class SettingsIn(BaseModel):
    """Only the fields sent change; `null` (or "off") clears persona and system prompt, and
    puts the model back to the default."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=64, examples=["large"])
    persona: str | None = Field(None, max_length=64, examples=["pirate"])
    system_prompt: str | None = Field(None, max_length=100_000)


class ModelUsageOut(BaseModel):
    model: str
    tokens: int
    calls: int
    cache_read_tokens: int = Field(0, description="of the tokens: input read from the prompt cache")
    cache_write_tokens: int = Field(0, description="of the tokens: input written to it")


class UsageOut(BaseModel):
    tokens_today: int
    cache_read_tokens_today: int = Field(
        0, description="of tokens_today: input read from the providers' prompt caches"
    )
    cache_write_tokens_today: int = Field(0, description="of tokens_today: input written to them")
    daily_budget: int | None
    budget_left: int | None
    messages_this_minute: int | None = Field(description="null: no RATE_LIMIT_PER_MINUTE")
    rate_limit_per_minute: int
    by_model: list[ModelUsageOut]
    model: str
    persona: str | None


class StoppedOut(BaseModel):
    stopped: bool = Field(description="whether a reply was being written (and is stopped)")
