"""Answers to slash commands (deferred interactions, then followups) and how replies are cut
into Discord messages."""

from __future__ import annotations

import asyncio

import discord

from bot.delivery import (
    APOLOGY,
    NOT_HERE,
    SHUTTING_DOWN,
    LiveReply,
    split_text,
    utf16_length,
)
from bot.messages import Reply, ReplyKind
from bot.rendering import split_discord

MESSAGE_LIMIT = 2000
EDIT_EVERY_S = 1.5  # Discord allows about five edits per five seconds in a channel
NO_PINGS = discord.AllowedMentions.none()


class Followups:
    """Answers a deferred interaction: model replies where the command was (public for /chat),
    everything else only to the person."""

    def __init__(self, interaction: discord.Interaction, public: bool) -> None:
        self.interaction = interaction
        self.public = public
        self.original_open = True  # the deferred "thinking" message awaits its content
        self.acknowledged = asyncio.Event()  # followups exist only once the defer is done
        self.live: LiveReply[discord.WebhookMessage, str] = LiveReply(
            self._send_public, self._edit, split=parts, interval_s=EDIT_EVERY_S
        )

    async def stream(self, text: str) -> None:
        """Show a public model reply as it grows (followup edits at a bounded pace)."""
        await self.acknowledged.wait()
        await self.live.update(text)

    async def _send_public(self, part: str) -> discord.WebhookMessage:
        self.original_open = False
        return await self.interaction.followup.send(part, wait=True, allowed_mentions=NO_PINGS)

    async def _edit(self, message: discord.WebhookMessage, part: str) -> None:
        await message.edit(content=part, allowed_mentions=NO_PINGS)

    async def send_all(self, replies: list[Reply]) -> None:
        if not replies:  # a server the bot is not enabled in: an interaction needs an answer
            await self.send(NOT_HERE, public=False)
            return
        for index, reply in enumerate(replies):
            if index == 0 and self.live.started:
                # What streamed in public becomes the whole reply (or the apology for it).
                await self.live.finish(reply.text)
                continue
            await self.send(reply, public=self.public and reply.kind is ReplyKind.MODEL)

    async def send(self, reply: Reply | str, *, public: bool) -> None:
        if self.original_open and self.public and not public:
            # The first followup would take over the public "thinking" message: remove it,
            # so that this private text is not shown to the channel.
            await self.interaction.delete_original_response()
            self.original_open = False
        for part in reply_parts(reply if isinstance(reply, Reply) else Reply(reply)):
            await self.interaction.followup.send(
                part, ephemeral=not public, allowed_mentions=NO_PINGS
            )
            self.original_open = False

    async def apologise(self) -> None:
        await self.send(APOLOGY, public=False)

    async def cut_off(self) -> None:
        """Say that we are stopping, in place of what streamed so far (none of it is stored)."""
        if self.live.started:
            await self.live.finish(SHUTTING_DOWN)
        else:
            await self.send(SHUTTING_DOWN, public=False)


def parts(markdown: str) -> list[str]:
    # Discord draws Markdown itself; what it lacks (tables) and what a split breaks (fences)
    # are mended here.
    return split_discord(markdown, MESSAGE_LIMIT)


def reply_parts(reply: Reply) -> list[str]:
    """A reply as Discord messages: Markdown (the model's, /help) mended, notices split as
    written."""
    if reply.is_markdown:
        return parts(reply.text)
    return split_text(reply.text, MESSAGE_LIMIT, utf16_length)
