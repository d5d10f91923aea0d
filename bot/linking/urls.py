"""Where a link code is used: the web page of a chat-first code, the Telegram deep link."""

from __future__ import annotations

from bot.delivery import ChatSenders


class LinkUrls:
    """Addresses built from PUBLIC_URL and the Telegram bot's username, once it is known."""

    def __init__(self, public_url: str, senders: ChatSenders) -> None:
        self.public_url = public_url
        self.senders = senders

    def web(self, code: str) -> str:
        """Where a chat-first code is completed."""
        return f"{self.public_url}/link/{code}"

    def telegram_deep_link(self, code: str) -> str | None:
        """`https://t.me/<bot>?start=<code>`, when the Telegram bot's username is known."""
        username = self.senders.username("telegram")
        return f"https://t.me/{username}?start={code}" if username else None
