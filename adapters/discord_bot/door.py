"""The Discord door: a discord.py client with a command tree, rendering the core's replies."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable

import discord
import yarl
from discord import app_commands

from adapters.discord_bot.commands import add_thread_commands
from adapters.discord_bot.translate import from_command, from_message
from bot.app import Chatlink
from bot.conversation import DESCRIPTIONS
from bot.delivery import (
    APOLOGY,
    CANNOT_DM,
    NOT_HERE,
    SENT_PRIVATELY,
    SHUTTING_DOWN,
    InFlight,
    LiveReply,
    Rendering,
    answer,
    split_text,
    utf16_length,
)
from bot.errors import ConfigError
from bot.messages import IncomingMessage, Reply, ReplyKind
from bot.monitoring import redact
from bot.rendering import split_discord

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
READY_TIMEOUT_S = 60
EDIT_EVERY_S = 1.5  # Discord allows about five edits per five seconds in a channel
NO_PINGS = discord.AllowedMentions.none()


def _point_at(api_url: str, gateway_url: str) -> Callable[[], None]:
    """Point discord.py at these servers; returns the call that puts the old values back.

    discord.py keeps its server addresses on classes (Route.BASE, DEFAULT_GATEWAY), so this
    changes them for the whole process: one Discord bot per process. The door calls it when
    it starts and undoes it when it stops.
    """
    route, socket = discord.http.Route, discord.gateway.DiscordWebSocket
    before = (route.BASE, socket.DEFAULT_GATEWAY)
    route.BASE = api_url.rstrip("/")
    socket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def undo() -> None:
        route.BASE, socket.DEFAULT_GATEWAY = before

    return undo


class DiscordDoor:
    """Serves the bot on Discord; `chatlink run` starts it when DISCORD_BOT_TOKEN is set."""

    name = "discord"
    reconnects = True  # Discord unreachable at start: tried again with backoff (see serve)

    def __init__(self, chatlink: Chatlink) -> None:
        settings = chatlink.settings
        assert settings.discord_bot_token is not None
        self.chatlink = chatlink
        self.settings = settings
        self.token = settings.discord_bot_token.get_secret_value()
        redact(self.token)
        self._undo_point_at: Callable[[], None] | None = None
        # A text bot needs no voice: discord.py warns once per process that the voice
        # libraries are missing (clearing these flags itself); clear them before it can.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        self._build_client()
        self._task: asyncio.Task[None] | None = None
        self.grace_s = settings.shutdown_grace_s
        self.in_flight = InFlight()
        self._stopping = False

    def _build_client(self) -> None:
        """A new discord.py client with its command tree and handlers: a closed one (after
        a start that could not reach Discord) is not reliably reusable."""
        settings = self.settings
        intents = discord.Intents.default()
        intents.message_content = settings.discord_message_content
        if settings.discord_shard_ids:  # this replica's share of DISCORD_SHARD_COUNT shards
            self.client: discord.Client = discord.AutoShardedClient(
                shard_count=settings.discord_shard_count,
                shard_ids=settings.discord_shard_ids,
                intents=intents,
                allowed_mentions=NO_PINGS,
            )
        elif settings.discord_shard_count:
            self.client = discord.AutoShardedClient(
                shard_count=settings.discord_shard_count, intents=intents, allowed_mentions=NO_PINGS
            )
        else:
            self.client = discord.Client(intents=intents, allowed_mentions=NO_PINGS)
        self.tree = app_commands.CommandTree(self.client)
        self._add_commands()
        self.client.event(self.on_message)
        self.tree.error(self._on_command_error)

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Log in, sync the slash commands, connect to the gateway and wait until ready."""
        if self.client.is_closed():  # a try after one that could not reach Discord
            self._build_client()
            self._stopping = False
        if self._undo_point_at is None:
            settings = self.settings
            self._undo_point_at = _point_at(
                settings.discord_api_base_url, settings.discord_gateway_url
            )
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
            if failure is not None:
                raise failure
            raise ConfigError("Discord: the gateway did not get ready in time.")
        self.chatlink.senders.register("discord", self._send_to_chat)
        user = self.client.user
        log.info(
            "discord: serving %s (%d guilds)", user.name if user else "?", len(self.client.guilds)
        )

    async def stop(self) -> None:
        """Take no new work, give answers in flight SHUTDOWN_GRACE_S to finish and cut off
        the rest, then disconnect."""
        self._stopping = True
        self.chatlink.senders.unregister("discord")
        if self.client.is_ready():  # a start that failed took no work to speak of
            log.info(
                "discord: refusing new messages and commands; %d in flight", len(self.in_flight)
            )
        if cut := await self.in_flight.finish(self.grace_s):
            log.warning(
                "discord: %d answer(s) cut off after SHUTDOWN_GRACE_S=%gs", cut, self.grace_s
            )
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._undo_point_at is not None:
            self._undo_point_at()
            self._undo_point_at = None

    async def _sync_commands(self) -> None:
        if self.settings.discord_guild_ids:
            for guild_id in self.settings.discord_guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            # Guild commands only: drop global ones left from an earlier global sync, or
            # each command would show twice.
            self.tree.clear_commands(guild=None)
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
        add_thread_commands(self.tree, self._run_command, self.chatlink.catalogue)

    def _simple(self, name: str):  # type: ignore[no-untyped-def]
        async def callback(interaction: discord.Interaction) -> None:
            await self._run_command(interaction, name)

        callback.__name__ = name
        return callback

    async def _run_command(
        self, interaction: discord.Interaction, name: str, argument: str = ""
    ) -> None:
        self.in_flight.track()
        if self._stopping:  # new work is refused with a short answer
            await interaction.response.send_message(SHUTTING_DOWN, ephemeral=True)
            return
        public = name == "chat"
        followups = _Followups(interaction, public)
        # The core takes the person's place before its first await: start it before the
        # defer (a network round trip), so two commands of one person keep their order. The
        # place is not held through the followups: each answer is shown under its own
        # interaction, so letting the next one queue early (for its ticket) loses nothing.
        answering = asyncio.ensure_future(
            self.chatlink.core.handle(
                from_command(interaction, name, argument),
                on_progress=followups.stream if public else None,
            )
        )
        try:
            # Deferred at once: the model may take longer than the 3 seconds Discord allows.
            try:
                await interaction.response.defer(ephemeral=not public, thinking=True)
            finally:
                followups.acknowledged.set()  # never leave the streaming answer waiting
            replies = await answering
        except asyncio.CancelledError:
            answering.cancel()  # cut off during the defer, the answer was not awaited yet
            if self.in_flight.cut and interaction.response.is_done():
                with contextlib.suppress(discord.HTTPException):
                    await followups.cut_off()
            raise
        await followups.send_all(replies)

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("discord: command failed: interaction_id=%s", interaction.id, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await _Followups(interaction, public=True).apologise()
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
        rendering = Rendering(
            render=functools.partial(self._render, message, incoming),
            notify=functools.partial(self._reply, message),
            live_reply=functools.partial(self._live_reply, message, incoming),
            typing=functools.partial(self._keep_typing, message.channel),
            about=f"message_id={message.id}",
        )
        # New work is refused with a short answer once the door is stopping.
        await answer(self.chatlink.core, incoming, rendering, self.in_flight, refuse=self._stopping)

    def _live_reply(
        self, source: discord.Message, incoming: IncomingMessage
    ) -> LiveReply[discord.Message, str]:
        async def send(part: str) -> discord.Message:
            if not incoming.is_private and not live.started:
                return await self._reply(source, part)
            return await source.channel.send(part, allowed_mentions=NO_PINGS)

        async def edit(sent: discord.Message, part: str) -> None:
            await sent.edit(content=part, allowed_mentions=NO_PINGS)

        live: LiveReply[discord.Message, str] = LiveReply(
            send, edit, split=_parts, interval_s=EDIT_EVERY_S
        )
        return live

    async def _keep_typing(self, channel: discord.abc.Messageable) -> None:
        with contextlib.suppress(discord.HTTPException):
            async with channel.typing():
                await asyncio.Event().wait()

    async def _render(
        self, source: discord.Message, incoming: IncomingMessage, reply: Reply
    ) -> None:
        parts = _reply_parts(reply)
        if reply.private and not incoming.is_private:
            try:
                for part in parts:
                    await source.author.send(part, allowed_mentions=NO_PINGS)
            except discord.Forbidden:
                await self._reply(source, CANNOT_DM)
                return
            await self._reply(source, SENT_PRIVATELY)
            return
        for index, part in enumerate(parts):
            if index == 0 and not incoming.is_private:
                await self._reply(source, part)
            else:
                await source.channel.send(part, allowed_mentions=NO_PINGS)

    async def _reply(self, source: discord.Message, text: str) -> discord.Message:
        # A reply to a message deleted meanwhile still goes out, just without the reference.
        reference = source.to_reference(fail_if_not_exists=False)
        return await source.channel.send(
            text, reference=reference, mention_author=False, allowed_mentions=NO_PINGS
        )

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
        for part in _reply_parts(Reply(text)):
            await channel.send(part, allowed_mentions=NO_PINGS)


class _Followups:
    """Answers a deferred interaction: model replies where the command was (public for /chat),
    everything else only to the person."""

    def __init__(self, interaction: discord.Interaction, public: bool) -> None:
        self.interaction = interaction
        self.public = public
        self.original_open = True  # the deferred "thinking" message awaits its content
        self.acknowledged = asyncio.Event()  # followups exist only once the defer is done
        self.live: LiveReply[discord.WebhookMessage, str] = LiveReply(
            self._send_public, self._edit, split=_parts, interval_s=EDIT_EVERY_S
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
        for part in _reply_parts(reply if isinstance(reply, Reply) else Reply(reply)):
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


def _parts(markdown: str) -> list[str]:
    # Discord draws Markdown itself; what it lacks (tables) and what a split breaks (fences)
    # are mended here.
    return split_discord(markdown, MESSAGE_LIMIT)


def _reply_parts(reply: Reply) -> list[str]:
    """A reply as Discord messages: Markdown (the model's, /help) mended, notices split as
    written."""
    if reply.is_markdown:
        return _parts(reply.text)
    return split_text(reply.text, MESSAGE_LIMIT, utf16_length)
