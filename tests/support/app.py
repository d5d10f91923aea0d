"""The type of the `open_app` fixture: open_chatlink on the test's settings, clock and model."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from bot.app import Chatlink

OpenApp = Callable[..., AbstractAsyncContextManager[Chatlink]]
