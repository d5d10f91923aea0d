"""How the core reaches a chat on its own (a link confirmed on the web, for instance)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

SendText = Callable[[str, str], Awaitable[None]]  # (chat id, text)


class ChatSenders:
    """Per platform: a function that sends text to a chat, and the bot's username there.

    Chat adapters register themselves when they start; the core and the web door use them
    without importing any adapter.
    """

    def __init__(self) -> None:
        self._senders: dict[str, SendText] = {}
        self._usernames: dict[str, str] = {}

    def register(self, platform: str, send: SendText, username: str | None = None) -> None:
        """Make `platform` reachable (called by its adapter once connected)."""
        self._senders[platform] = send
        if username:
            self._usernames[platform] = username

    def unregister(self, platform: str) -> None:
        """Forget a platform (its adapter stopped)."""
        self._senders.pop(platform, None)
        self._usernames.pop(platform, None)

    def username(self, platform: str) -> str | None:
        """The bot's username on `platform`, when its adapter is running."""
        return self._usernames.get(platform)

    async def send(self, platform: str, chat_id: str, text: str) -> bool:
        """Send `text` to a chat; False (logged, never raised) when that cannot be done."""
        send = self._senders.get(platform)
        if send is None:
            log.info("no running %s adapter: a notice was not delivered", platform)
            return False
        try:
            await send(chat_id, text)
        except Exception:
            log.exception("sending a notice through %s failed", platform)
            return False
        return True
