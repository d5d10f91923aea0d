"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# The database keeps naive UTC; the API always says so with an offset.
UtcDatetime = Annotated[datetime, AfterValidator(lambda value: value.replace(tzinfo=UTC))]


class Body(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class RegisterIn(Body):
    username: str = Field(max_length=256, examples=["alice"])
    password: str = Field(max_length=4096, examples=["a long passphrase"])
    invite: str | None = Field(
        None, max_length=256, description="needed when the server runs REGISTRATION=invite"
    )


class ChatIn(Body):
    message: str = Field(max_length=100_000, examples=["Hello!"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class IdentityOut(BaseModel):
    platform: str
    display_name: str
    linked_at: UtcDatetime


class AccountOut(BaseModel):
    id: int
    username: str
    created_at: UtcDatetime
    identities: list[IdentityOut] = []


class ChatOut(BaseModel):
    reply: str
    thread: str
    kind: str
    notes: list[str] = Field(
        [], description="short notes beside the reply: what was heard in a voice message"
    )


class UploadOut(BaseModel):
    id: str = Field(description='name it in a WebSocket message: {"files": [id]}')
    kind: str = Field(description="image, audio or document")
    name: str


class MessageOut(BaseModel):
    id: int
    role: str
    content: str
    platform: str
    created_at: UtcDatetime
    html: str | None = Field(
        None, description="a model reply's Markdown as sanitised HTML, as the chat page shows it"
    )
    images: list[str] = Field([], description="where its images are (GET, same credentials)")


class HistoryOut(BaseModel):
    thread: str
    messages: list[MessageOut]
    next_before: int | None = Field(description="pass as `before` for the next older page")


class DeletedOut(BaseModel):
    deleted: int


class LinkCodeOut(BaseModel):
    code: str
    expires_at: UtcDatetime
    command: str = Field(description="what to send the bot in a private chat")
    telegram_deep_link: str | None


class LinkedOut(BaseModel):
    platform: str
    display_name: str


class HealthOut(BaseModel):
    status: str = Field(description='"ok", "degraded" (a door still connecting) or "unavailable"')
    database: str = Field(description='"ok", "unreachable" or "failing: writes fail (why)"')
    redis: str = Field(description='"ok", "unreachable" or "not configured"')
    doors: dict[str, str] | None = Field(
        None, description="each door that is not serving yet, with why (absent when all serve)"
    )


class Problem(BaseModel):
    detail: str


class ChatPlatform(StrEnum):
    telegram = "telegram"
    discord = "discord"
