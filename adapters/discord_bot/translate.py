"""Discord messages and interactions -> the core's IncomingMessage (pure, no network)."""

from __future__ import annotations

import re

import discord

from bot.messages import IncomingMessage, Platform

# Commands whose answers only the person sees: the core treats them as private.
EPHEMERAL_COMMANDS = ("link", "unlink", "forget", "whoami", "help")


def private_chat_id(user_id: int) -> str:
    """Private contexts (DMs, ephemeral answers) are addressed by the person, not a channel."""
    return f"user:{user_id}"


def display_name(user: discord.abc.User) -> str:
    """The name people see: global display name, else the username."""
    return user.display_name or user.name


def _mention_pattern(bot_id: int) -> re.Pattern[str]:
    return re.compile(rf"<@!?{bot_id}>")


def addressed_to(message: discord.Message, bot_id: int) -> bool:
    """Whether a guild message mentions the bot or replies to one of its messages."""
    if any(user.id == bot_id for user in message.mentions):
        return True
    reference = message.reference
    resolved = reference.resolved if reference is not None else None
    return isinstance(resolved, discord.Message) and resolved.author.id == bot_id


def from_message(message: discord.Message, bot_id: int) -> IncomingMessage | None:
    """A DM, or a guild message addressed to the bot; None for everything else."""
    if message.author.bot:
        return None
    private = message.guild is None
    if not private and not addressed_to(message, bot_id):
        return None
    text: str | None = _mention_pattern(bot_id).sub("", message.content).strip()
    if not text and (message.attachments or message.stickers):
        text = None  # an image, a file, a voice message or a sticker with no words
    if not text and not private and not message.attachments:
        # Nothing to read: a sticker, or a reply whose text Discord withholds without the
        # message-content intent. Not worth a public "send me text".
        return None
    return IncomingMessage(
        platform=Platform.DISCORD,
        user_id=str(message.author.id),
        chat_id=private_chat_id(message.author.id) if private else str(message.channel.id),
        is_private=private,
        text=text,
        display_name=display_name(message.author),
        group_id=str(message.guild.id) if message.guild is not None else None,
    )


def from_command(
    interaction: discord.Interaction, name: str, argument: str = ""
) -> IncomingMessage:
    """A slash command as the core's text command (`/chat` becomes plain text)."""
    in_dm = interaction.guild is None
    # /link, /whoami ... answer ephemerally, which is as private as a DM.
    private = in_dm or name in EPHEMERAL_COMMANDS
    text = argument if name == "chat" else f"/{name} {argument}".strip()
    channel_id = interaction.channel_id or 0
    return IncomingMessage(
        platform=Platform.DISCORD,
        user_id=str(interaction.user.id),
        chat_id=private_chat_id(interaction.user.id) if private else str(channel_id),
        is_private=private,
        text=text,
        display_name=display_name(interaction.user),
        group_id=str(interaction.guild_id) if interaction.guild_id is not None else None,
    )
