"""The Discord door: discord.py 2.7, slash commands, DMs and mentions."""

from adapters.discord_bot.door import DiscordDoor

__all__ = ["DiscordDoor"]
