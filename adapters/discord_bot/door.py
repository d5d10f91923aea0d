"""The Discord door: a discord.py client with a command tree, rendering the core's replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
import yarl
from discord import app_commands

from adapters.discord_bot.translate import from_command, from_message
from bot.app import Chatlink
from bot.commands import DESCRIPTIONS
from bot.errors import ConfigError
from bot.logs import redact
from bot.messages import IncomingMessage, Reply, ReplyKind
from bot.text_split import split_text, utf16_length

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
READY_TIMEOUT_S = 60
APOLOGY = "Sorry, something went wrong on my side. Please try again."
SENT_PRIVATELY = "I sent you the answer in a private message."
NO_DMS = "I can't message you privately: allow direct messages from this server's members."
NO_PINGS = discord.AllowedMentions.none()


def _point_at(settings_api: str, settings_gateway: str) -> None:
    # discord.py keeps its server addresses on the classes: one bot per process, so set them.
    discord.http.Route.BASE = settings_api.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings_gateway)
    # A text bot needs no voice: skip the warnings about missing voice libraries.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


class DiscordDoor:
    """Serves the bot on Discord; `chatlink run` starts it when DISCORD_BOT_TOKEN is set."""

    name = "discord"

    def __init__(self, chatlink: Chatlink) -> None:
        settings = chatlink.settings
        assert settings.discord_bot_token is not None
        self.chatlink = chatlink
        self.settings = settings
        self.token = settings.discord_bot_token.get_secret_value()
        redact(self.token)
        _point_at(settings.discord_api_base_url, settings.discord_gateway_url)
        intents = discord.Intents.default()
        intents.message_content = settings.discord_message_content
        if settings.discord_shard_count:
            self.client: discord.Client = discord.AutoShardedClient(
                shard_count=settings.discord_shard_count,
                intents=intents,
                allowed_mentions=NO_PINGS,
            )
        else:
            self.client = discord.Client(intents=intents, allowed_mentions=NO_PINGS)
        self.tree = app_commands.CommandTree(self.client)
        self._add_commands()
        self.client.event(self.on_message)
        self.tree.error(self._on_command_error)
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Log in, sync the slash commands, connect to the gateway and wait until ready."""
        try:
            await self.client.login(self.token)
        except discord.LoginFailure:
            raise ConfigError("DISCORD_BOT_TOKEN was refused by Discord.") from None
        await self._sync_commands()
        self._task = asyncio.create_task(self.client.connect(reconnect=True))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            failure = self._task.exception() if self._task.done() else None
            await self.stop()
            if failure is not None:
                raise failure
            raise ConfigError("Discord: the gateway did not get ready in time.")
        self.chatlink.senders.register("discord", self._send_to_chat)
        user = self.client.user
        log.info(
            "discord: serving %s (%d guilds)", user.name if user else "?", len(self.client.guilds)
        )

    async def stop(self) -> None:
        """Disconnect from the gateway and close the HTTP session."""
        self.chatlink.senders.unregister("discord")
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _sync_commands(self) -> None:
        if self.settings.discord_guild_ids:
            for guild_id in self.settings.discord_guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    # --- slash commands ----------------------------------------------------------------
    def _add_commands(self) -> None:
        door = self

        @self.tree.command(name="chat", description="Talk to me (everyone here sees the answer)")
        @app_commands.describe(message="What you want to say")
        async def chat(interaction: discord.Interaction, message: str) -> None:
            await door._run_command(interaction, "chat", message)

        @self.tree.command(name="link", description=DESCRIPTIONS["link"])
        @app_commands.describe(code="A code from the web page or `chatlink link-code`")
        async def link(interaction: discord.Interaction, code: str | None = None) -> None:
            await door._run_command(interaction, "link", code or "")

        for name in ("unlink", "reset", "forget", "whoami", "help"):
            self.tree.add_command(
                app_commands.Command(
                    name=name, description=DESCRIPTIONS[name], callback=self._simple(name)
                )
            )

    def _simple(self, name: str):  # type: ignore[no-untyped-def]
        async def callback(interaction: discord.Interaction) -> None:
            await self._run_command(interaction, name)

        callback.__name__ = name
        return callback

    async def _run_command(
        self, interaction: discord.Interaction, name: str, argument: str = ""
    ) -> None:
        ephemeral = name != "chat"
        # Deferred at once: the model may take longer than the 3 seconds Discord allows.
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        replies = await self.chatlink.core.handle(from_command(interaction, name, argument))
        if not ephemeral and any(r.kind is not ReplyKind.MODEL for r in replies):
            # Only model replies are public: instructions and refusals go to the person alone.
            await interaction.delete_original_response()
            ephemeral = True
        for reply in replies:
            for part in split_text(reply.text, MESSAGE_LIMIT, utf16_length):
                await interaction.followup.send(
                    part, ephemeral=ephemeral, allowed_mentions=NO_PINGS
                )

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("discord: command failed: interaction_id=%s", interaction.id, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(APOLOGY, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(APOLOGY, ephemeral=True)

    # --- plain messages ----------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        """DMs and guild messages that mention or reply to the bot go to the core."""
        bot_user = self.client.user
        if bot_user is None:
            return
        incoming = from_message(message, bot_user.id)
        if incoming is None:
            return
        typing = None
        if incoming.text is not None and not incoming.text.startswith("/"):
            typing = asyncio.create_task(self._keep_typing(message.channel))
        try:
            replies = await self.chatlink.core.handle(incoming)
        except Exception:
            log.exception("discord: handling message_id=%s failed", message.id)
            replies = [Reply(APOLOGY, kind=ReplyKind.ERROR)]
        finally:
            if typing is not None:
                typing.cancel()
        for reply in replies:
            await self._render(message, incoming, reply)

    async def _keep_typing(self, channel: discord.abc.Messageable) -> None:
        with contextlib.suppress(discord.HTTPException):
            async with channel.typing():
                await asyncio.Event().wait()

    async def _render(
        self, source: discord.Message, incoming: IncomingMessage, reply: Reply
    ) -> None:
        parts = split_text(reply.text, MESSAGE_LIMIT, utf16_length)
        if reply.private and not incoming.is_private:
            try:
                for part in parts:
                    await source.author.send(part, allowed_mentions=NO_PINGS)
            except discord.Forbidden:
                await source.reply(NO_DMS, mention_author=False, allowed_mentions=NO_PINGS)
                return
            await source.reply(SENT_PRIVATELY, mention_author=False, allowed_mentions=NO_PINGS)
            return
        for index, part in enumerate(parts):
            if index == 0 and not incoming.is_private:
                await source.reply(part, mention_author=False, allowed_mentions=NO_PINGS)
            else:
                await source.channel.send(part, allowed_mentions=NO_PINGS)

    async def _send_to_chat(self, chat_id: str, text: str) -> None:
        if chat_id.startswith("user:"):
            user = await self.client.fetch_user(int(chat_id.removeprefix("user:")))
            channel: discord.abc.Messageable = await user.create_dm()
        else:
            found = self.client.get_channel(int(chat_id)) or await self.client.fetch_channel(
                int(chat_id)
            )
            assert isinstance(found, discord.abc.Messageable)
            channel = found
        for part in split_text(text, MESSAGE_LIMIT, utf16_length):
            await channel.send(part, allowed_mentions=NO_PINGS)
