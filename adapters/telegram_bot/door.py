"""The Telegram door: an `Application` fed by polling or a webhook, rendering the core's replies."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.telegram_bot.formatted import (
    draft_parts,
    entities,
    message_parts,
    refused_entities,
    reply_parts,
)
from adapters.telegram_bot.keyboards import choices_keyboard, pressed
from adapters.telegram_bot.media import offered_files
from adapters.telegram_bot.requests import BotApiRequest
from adapters.telegram_bot.translate import incoming
from adapters.telegram_bot.webhook import TelegramWebhook
from bot.app import Chatlink
from bot.conversation import DESCRIPTIONS
from bot.delivery import (
    APOLOGY,
    CANNOT_DM,
    SENT_PRIVATELY,
    InFlight,
    LiveReply,
    Rendering,
    answer,
)
from bot.errors import ConfigError
from bot.media import Downloader
from bot.messages import IncomingMessage, Reply
from bot.monitoring import redact
from bot.rendering import Formatted
from bot.secret import derive_key

log = logging.getLogger(__name__)

TYPING_EVERY_S = 4.5
TYPING_AFTER_S = 1.0  # a reply ready sooner needs no typing action: one Bot API call less
SEND_ATTEMPTS = 3
# Messages, and the presses of /model and /persona buttons.
UPDATES = ["message", "callback_query"]
EDIT_EVERY_S = 1.0
GROUP_EDIT_EVERY_S = 3.0
# Of Telegram's ~30 messages a second per bot, what streaming edits may take together; the
# rest is for the replies themselves. With more updates in flight, each reply edits less
# often: 1,000 replies at once go out whole, once each, instead of queueing three calls
# apiece behind the flood limiter (benchmarks/streaming.py).
EDITS_PER_S = 15.0
# PTB's own limit is taken before the handler and cannot be overridden, so it is set out of
# reach: the door takes TELEGRAM_CONCURRENT_UPDATES slots itself, after the sender's place.
UNBOUNDED = 1 << 30


class TelegramDoor:
    """Serves the bot on Telegram; `chatlink run` starts it when TELEGRAM_BOT_TOKEN is set."""

    name = "telegram"
    reconnects = True  # the Bot API unreachable at start: tried again with backoff (see serve)

    def __init__(
        self,
        chatlink: Chatlink,
        *,
        poll_timeout: int = 10,
        rate_limiter: BaseRateLimiter[Any] | None = None,
    ) -> None:
        """`rate_limiter` replaces the one that keeps to Telegram's flood limits."""
        settings = chatlink.settings
        assert settings.telegram_bot_token is not None
        self.chatlink = chatlink
        self.settings = settings
        self.token = settings.telegram_bot_token.get_secret_value()
        self.poll_timeout = poll_timeout
        redact(self.token)
        builder = (
            ApplicationBuilder()
            .token(self.token)
            .base_url(settings.telegram_api_base_url)
            .base_file_url(settings.telegram_file_base_url)
            .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3))
            .request(BotApiRequest())
            .concurrent_updates(UNBOUNDED)
        )
        if settings.telegram_mode == "webhook":
            # No updater: the web app serves the webhook on WEB_PORT, so PTB opens no server.
            builder = builder.updater(None)
        self.application: Application = builder.build()  # type: ignore[type-arg]
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        self.application.add_handler(CallbackQueryHandler(self._on_button))
        self.application.add_error_handler(self._on_error)
        # Photos, documents and voice notes: from the file URLs getFile gives, within limits.
        self.downloads = Downloader.from_settings(settings)
        self.username = ""
        self.bot_id = 0
        self._conflict_reported = False
        self.grace_s = settings.shutdown_grace_s
        self.in_flight = InFlight()
        self._slots = asyncio.Semaphore(settings.telegram_concurrent_updates)
        # What the composition root gives the web door to serve, in webhook mode.
        self.webhook: TelegramWebhook | None = None
        if settings.telegram_mode == "webhook":
            self.webhook = TelegramWebhook(self.application, self.webhook_secret)

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Log in (getMe), register the command menu, then poll, or set the webhook and take
        the updates the web app receives on it."""
        app = self.application
        try:
            await app.initialize()
        except InvalidToken:
            raise ConfigError("TELEGRAM_BOT_TOKEN was refused by the Bot API server.") from None
        self.username, self.bot_id = app.bot.username, app.bot.id
        await app.bot.set_my_commands(
            [BotCommand(name, text) for name, text in DESCRIPTIONS.items()]
        )
        await app.start()
        if self.webhook is not None:
            url = self.settings.telegram_webhook_url
            assert url is not None
            self.webhook.open = True
            await app.bot.set_webhook(
                url=url, secret_token=self.webhook_secret, allowed_updates=UPDATES
            )
            log.info("telegram: webhook %s, served on WEB_PORT at %s", url, self.webhook.path)
        else:
            assert app.updater is not None
            await app.updater.start_polling(
                timeout=self.poll_timeout,
                allowed_updates=UPDATES,
                error_callback=self._on_polling_error,
            )
        self.chatlink.senders.register("telegram", self._send_to_chat, username=self.username)
        log.info("telegram: serving @%s (%s)", self.username, self.settings.telegram_mode)

    async def stop(self) -> None:
        """Stop receiving, give the updates in flight SHUTDOWN_GRACE_S to finish and cut off
        the rest, close the connection pool."""
        self.chatlink.senders.unregister("telegram")
        app = self.application
        if self.webhook is not None:
            self.webhook.open = False  # no new updates: Telegram is answered 503 and retries
        if app.updater is not None and app.updater.running:
            await app.updater.stop()  # no new updates: polling ends
        if self.username:  # it served: a start that failed took no updates to speak of
            log.info("telegram: taking no new updates; %d in flight", len(self.in_flight))
        if cut := await self.in_flight.finish(self.grace_s):
            log.warning(
                "telegram: %d update(s) cut off after SHUTDOWN_GRACE_S=%gs", cut, self.grace_s
            )
        if app.running:
            await app.stop()
        if app._initialized:
            await app.shutdown()
        else:
            await app.bot.shutdown()  # a refused start still opened the HTTP pool
        await self.downloads.aclose()

    @property
    def webhook_secret(self) -> str:
        """TELEGRAM_WEBHOOK_SECRET, else one derived from SECRET_KEY (the same on every replica)."""
        if self.settings.telegram_webhook_secret is not None:
            return self.settings.telegram_webhook_secret.get_secret_value()
        return derive_key(self.chatlink.secret_key, "chatlink.telegram-webhook")[:64]

    # --- updates -----------------------------------------------------------------------
    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = incoming(update, self.username, self.bot_id)
        if message is None or update.message is None:
            return
        source = update.message
        files = offered_files(source, self.application.bot, self.downloads.max_bytes)
        rendering = Rendering(
            render=functools.partial(self._render, source, message),
            notify=functools.partial(self._send, source, quote=not message.is_private),
            live_reply=functools.partial(self._live_reply, source, message),
            typing=functools.partial(self._keep_typing, source.chat_id),
            about=f"update_id={update.update_id}",
        )
        await answer(
            self.chatlink.core,
            message,
            rendering,
            self.in_flight,
            refuse=self.in_flight.cut,  # fetched before the stop, reached only after the grace
            slots=self._slots,
            fetch=functools.partial(self.downloads.fetch, files) if files else None,
        )

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # A /model or /persona button: answered like the command it names, in its chat.
        found = pressed(update, self.username)
        if found is None:
            if update.callback_query is not None:
                await update.callback_query.answer()
            return
        query, source, message = found
        await query.answer()  # stops the button's spinner at once
        rendering = Rendering(
            render=functools.partial(self._render, source, message),
            notify=functools.partial(self._send, source),
            live_reply=functools.partial(self._live_reply, source, message),
            typing=functools.partial(self._keep_typing, source.chat_id),
            about=f"update_id={update.update_id}",
        )
        await answer(
            self.chatlink.core, message, rendering, self.in_flight, refuse=self.in_flight.cut
        )

    def _live_reply(
        self, source: Message, message: IncomingMessage
    ) -> LiveReply[Message, Formatted]:
        """One message edited as the reply streams: about once a second in private chats,
        every few seconds in groups (Telegram allows about 20 messages a minute there). The
        edits are rendered as the finished reply is, with unfinished code shown plain."""

        async def send(part: Formatted) -> Message:
            return await self._send(source, part, quote=not message.is_private and not live.started)

        live: LiveReply[Message, Formatted] = LiveReply(
            send,
            self._edit,
            split=message_parts,
            draft=draft_parts,
            interval_s=functools.partial(self._edit_interval, message.is_private),
        )
        return live

    def _edit_interval(self, private: bool) -> float:
        """Seconds between a streamed reply's edits: as a chat allows, and slower when so
        many replies stream at once that their edits would pass EDITS_PER_S together."""
        every_s = EDIT_EVERY_S if private else GROUP_EDIT_EVERY_S
        return max(every_s, len(self.in_flight) / EDITS_PER_S)

    async def _edit(self, sent: Message, part: Formatted) -> None:
        try:
            try:
                await sent.edit_text(part.text, entities=entities(part))
            except BadRequest as error:
                if not part.entities or not refused_entities(error.message):
                    raise
                await sent.edit_text(part.text)
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                raise

    async def _keep_typing(self, chat_id: int) -> None:
        with contextlib.suppress(TelegramError):
            await asyncio.sleep(TYPING_AFTER_S)
            while True:
                await self.application.bot.send_chat_action(chat_id, ChatAction.TYPING)
                await asyncio.sleep(TYPING_EVERY_S)

    async def _render(self, source: Message, message: IncomingMessage, reply: Reply) -> None:
        markup = self._private_chat_button() if reply.open_private else choices_keyboard(reply)
        if reply.private and not message.is_private:
            try:
                await self._send_parts(int(message.user_id), reply_parts(reply))
            except Forbidden:
                await self._send(source, CANNOT_DM, quote=True, markup=self._private_chat_button())
                return
            await self._send(source, SENT_PRIVATELY, quote=True)
            return
        parts = reply_parts(reply)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self._send(
                source,
                part,
                quote=not message.is_private and index == 0,
                markup=markup if last else None,
            )

    async def _send(
        self,
        source: Message,
        text: str | Formatted,
        *,
        quote: bool = False,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message:
        """Send into the source's chat (and forum topic)."""
        reply_to = (
            ReplyParameters(source.message_id, allow_sending_without_reply=True) if quote else None
        )
        return await self._send_message(
            source.chat_id,
            text,
            message_thread_id=source.message_thread_id if source.is_topic_message else None,
            reply_parameters=reply_to,
            reply_markup=markup,
        )

    async def _send_message(self, chat_id: int, text: str | Formatted, **options: Any) -> Message:
        """sendMessage, retrying network failures (flood waits are the rate limiter's); text
        whose formatting Telegram refuses goes out again plain, never lost."""
        part = text if isinstance(text, Formatted) else Formatted(text)
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                try:
                    sent: Message = await self.application.bot.send_message(
                        chat_id, part.text, entities=entities(part), **options
                    )
                except BadRequest as error:
                    if not part.entities or not refused_entities(error.message):
                        raise
                    sent = await self.application.bot.send_message(chat_id, part.text, **options)
                return sent
            except (TimedOut, NetworkError) as error:
                if isinstance(error, BadRequest) or attempt == SEND_ATTEMPTS:
                    raise
                await asyncio.sleep(attempt)
        raise AssertionError("unreachable")

    def _private_chat_button(self) -> InlineKeyboardMarkup:
        url = f"https://t.me/{self.username}?start=link"
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton("Open a private chat with me", url=url)]]
        )

    async def _send_parts(self, chat_id: int, parts: list[Formatted]) -> None:
        for part in parts:
            await self._send_message(chat_id, part)

    async def _send_to_chat(self, chat_id: str, text: str) -> None:
        await self._send_parts(int(chat_id), reply_parts(Reply(text)))

    # --- failures ----------------------------------------------------------------------
    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            log.warning("telegram: %s", context.error)
            return
        log.error(
            "telegram: handling update_id=%s failed", update.update_id, exc_info=context.error
        )
        if update.effective_message is not None:
            with contextlib.suppress(TelegramError):
                await self._send(update.effective_message, APOLOGY)

    def _on_polling_error(self, error: TelegramError) -> None:
        if isinstance(error, Conflict):
            if not self._conflict_reported:  # once, not on every retry
                self._conflict_reported = True
                log.error(
                    "telegram: another process is polling with this bot token (%s). Only one "
                    "process may poll: for several replicas set TELEGRAM_MODE=webhook.",
                    error.message,
                )
            return
        log.warning("telegram: polling failed, retrying: %s", error)
