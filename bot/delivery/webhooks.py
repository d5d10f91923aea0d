"""Updates a platform pushes over HTTP: what a chat door offers the web app to serve for it.

The web door owns the HTTP side (one port, its body limit, drain and headers); the chat door
owns what a pushed body means. The composition root hands one to the other."""

from __future__ import annotations

import enum
from typing import Protocol


class Pushed(enum.Enum):
    """What became of one pushed update; the web door maps each to one HTTP answer."""

    ACCEPTED = "accepted"  # queued to be answered
    FORBIDDEN = "forbidden"  # the shared secret was missing or wrong
    MALFORMED = "malformed"  # not an update this door understands; nothing changed
    UNAVAILABLE = "unavailable"  # not started yet, or stopping: the platform sends it again


class WebhookReceiver(Protocol):
    """A door that takes JSON updates POSTed to `path` on the web app."""

    path: str  # e.g. "/telegram/webhook"
    secret_header: str  # the request header that carries the shared secret

    async def receive(self, body: bytes, secret: str | None) -> Pushed:
        """Check `secret` (the header's value, None when absent), then take the raw body."""
        ...
