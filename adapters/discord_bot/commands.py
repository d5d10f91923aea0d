"""The thread-control slash commands: /model and /persona (names autocompleted), /system,
/retry, /undo, /stop, /usage and /tools, each run through the core like the other commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bot.conversation import DESCRIPTIONS
from bot.providers import OFF, Catalogue

# (interaction, command name, argument) -> the answer shown
Run = Callable[[discord.Interaction, str, str], Awaitable[None]]
SIMPLE = ("retry", "undo", "stop", "usage", "tools")
MAX_CHOICES = 25  # what Discord shows of an autocomplete list


def _matching(names: list[str], current: str) -> list[app_commands.Choice[str]]:
    typed = current.lower()
    return [app_commands.Choice(name=name, value=name) for name in names if typed in name.lower()][
        :MAX_CHOICES
    ]


def add_thread_commands(tree: app_commands.CommandTree, run: Run, catalogue: Catalogue) -> None:
    """Register the commands on `tree`; `run` hands each to the core."""

    async def model_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Admin-only models are left out here; an admin may still type the name.
        return _matching([m.name for m in catalogue.usable(False)], current)

    async def persona_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return _matching([p.name for p in catalogue.personas] + [OFF], current)

    @tree.command(name="model", description=DESCRIPTIONS["model"])
    @app_commands.describe(name="The model to switch to (leave out to list them)")
    @app_commands.autocomplete(name=model_names)
    async def model(interaction: discord.Interaction, name: str | None = None) -> None:
        await run(interaction, "model", name or "")

    @tree.command(name="persona", description=DESCRIPTIONS["persona"])
    @app_commands.describe(name="The persona to apply, or off (leave out to list them)")
    @app_commands.autocomplete(name=persona_names)
    async def persona(interaction: discord.Interaction, name: str | None = None) -> None:
        await run(interaction, "persona", name or "")

    @tree.command(name="system", description=DESCRIPTIONS["system"])
    @app_commands.describe(text="The system prompt for this chat, or off (leave out to show it)")
    async def system(interaction: discord.Interaction, text: str | None = None) -> None:
        await run(interaction, "system", text or "")

    for name in SIMPLE:
        tree.add_command(
            app_commands.Command(
                name=name, description=DESCRIPTIONS[name], callback=_simple(run, name)
            )
        )


def _simple(run: Run, name: str):  # type: ignore[no-untyped-def]
    async def callback(interaction: discord.Interaction) -> None:
        await run(interaction, name, "")

    callback.__name__ = name
    return callback
