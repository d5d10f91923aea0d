"""The composition root: the `chatlink` command with every available door plugged in.

The doors' modules (and the platform libraries behind them) are imported when doors or their
checks are built, so `chatlink user add` or `chatlink stats` starts without loading them.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import Chatlink
    from bot.delivery import Door, WebhookReceiver
    from bot.operations import Check

log = logging.getLogger("chatlink")


def build_doors(app: Chatlink) -> list[Door]:
    """The doors to serve, given the settings; says which are configured and which are not."""
    settings = app.settings
    for line in settings.retired():
        log.warning("%s", line)
    doors: list[Door] = []
    receivers: list[WebhookReceiver] = []
    if settings.telegram_bot_token is not None:
        from adapters.telegram_bot import TelegramDoor, use_timedelta_durations

        # A process-wide library setting, made here rather than when a module is imported.
        use_timedelta_durations()
        telegram = TelegramDoor(app)
        doors.append(telegram)
        if telegram.webhook is not None:
            receivers.append(telegram.webhook)
    else:
        log.info("Telegram: not configured (TELEGRAM_BOT_TOKEN is not set)")
    if settings.discord_bot_token is not None:
        from adapters.discord_bot import DiscordDoor

        doors.append(DiscordDoor(app))
    else:
        log.info("Discord: not configured (DISCORD_BOT_TOKEN is not set)")
    if settings.web_enabled:
        from adapters.web import WebDoor

        # Last, so that a healthy /healthz means every door serves; but first when it serves a
        # webhook, so that the route listens before Telegram is told to post there.
        doors.insert(0 if receivers else len(doors), WebDoor(app, receivers))
    else:
        log.info("Web page and HTTP API: turned off (WEB_ENABLED=false)")
    return doors


def build_checks(app: Chatlink) -> list[Check]:
    """What `chatlink doctor` checks: the core's parts, then each configured door."""
    from adapters.discord_bot.check import checks as discord_checks
    from adapters.telegram_bot import use_timedelta_durations
    from adapters.telegram_bot.check import checks as telegram_checks
    from bot.operations import core_checks

    use_timedelta_durations()
    return [
        *core_checks(
            app.db, app.core.provider, app.limiter, catalogue=app.catalogue, tools=app.tools
        ),
        *telegram_checks(app),
        *discord_checks(app),
    ]


def main() -> None:
    """Entry point of the `chatlink` console script.

    The collector is off while the program is imported: what start-up builds (the
    libraries, the app: about 350,000 objects) lives as long as the process, and with the
    collector on, three or four full collections ran among it, a sixth of the time to the
    first /healthz (benchmarks/startup.py). `chatlink run` turns it back on once that is
    frozen (`settle_collector`); every other command as soon as its arguments are read."""
    gc.disable()
    from adapters.cli.main import main as cli_main

    sys.exit(cli_main(build_doors=build_doors, build_checks=build_checks))


if __name__ == "__main__":
    main()
