"""`chatlink doctor`'s Discord check: the token, through GET /users/@me."""

from __future__ import annotations

import httpx

from bot.app import Chatlink
from bot.operations import Check, CheckFailed


def checks(app: Chatlink) -> list[Check]:
    """A users/@me call when DISCORD_BOT_TOKEN is set."""
    settings = app.settings
    if settings.discord_bot_token is None:
        return []
    token = settings.discord_bot_token.get_secret_value()

    async def users_me() -> str:
        url = settings.discord_api_base_url.rstrip("/") + "/users/@me"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(url, headers={"Authorization": f"Bot {token}"})
        except httpx.HTTPError as exc:
            also = (
                " and DISCORD_API_BASE_URL"
                if "discord_api_base_url" in settings.model_fields_set
                else ""
            )
            raise CheckFailed(
                f"Discord is unreachable from this machine ({type(exc).__name__}): check its "
                f"network, DNS and firewall{also}"
            ) from None
        if response.status_code == 401:
            raise CheckFailed(
                "the token was refused: reset it under Bot in the developer portal and set "
                "DISCORD_BOT_TOKEN"
            )
        if response.status_code != 200:
            raise CheckFailed(f"Discord answered {response.status_code}")
        return str(response.json().get("username", "ok"))

    return [Check("discord", users_me)]
