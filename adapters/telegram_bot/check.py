"""`chatlink doctor`'s Telegram check: the token, through getMe."""

from __future__ import annotations

from telegram import Bot
from telegram.error import InvalidToken, NetworkError

from bot.app import Chatlink
from bot.operations import Check, CheckFailed


def checks(app: Chatlink) -> list[Check]:
    """A getMe call when TELEGRAM_BOT_TOKEN is set."""
    settings = app.settings
    if settings.telegram_bot_token is None:
        return []
    token = settings.telegram_bot_token.get_secret_value()

    async def get_me() -> str:
        bot = Bot(token, base_url=settings.telegram_api_base_url)
        try:
            async with bot:
                return f"@{bot.username} ({settings.telegram_mode})"
        except InvalidToken:
            raise CheckFailed(
                "the token was refused: copy it again from @BotFather into TELEGRAM_BOT_TOKEN"
            ) from None
        except NetworkError as exc:
            # The setting is named only when the operator set it: most never do.
            also = (
                " and TELEGRAM_API_BASE_URL"
                if "telegram_api_base_url" in settings.model_fields_set
                else ""
            )
            raise CheckFailed(
                f"the Bot API is unreachable from this machine ({exc.message}): check its "
                f"network, DNS and firewall{also}"
            ) from None

    return [Check("telegram", get_me)]
