"""The core: one platform-neutral message in, the replies out."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace

from bot.accounts import AccountCache
from bot.conversation.chat_commands import ChatCommands
from bot.conversation.commands import parse_command
from bot.conversation.files import Files
from bot.conversation.memory import Memory, thread_key
from bot.conversation.ordering import Place, TurnOrder
from bot.conversation.replying import CONTEXT_TRIMMED, MODEL_FAILED, SUMMARY_PROMPT, Replier
from bot.conversation.settings_cache import ThreadSettingsCache
from bot.conversation.streaming import EmptyReply
from bot.delivery import STORAGE_FAILED
from bot.errors import AccountDisabled, ChatlinkError, InputRejected, RateLimited
from bot.limits import UsageLimits
from bot.linking import LinkService
from bot.media import MediaReader
from bot.messages import IncomingMessage, Platform, ProgressCallback, Reply, ReplyKind
from bot.monitoring import Metrics
from bot.providers import Catalogue, ModelSpec, ReplyProvider
from bot.tools import ToolRegistry
from storage import (
    Account,
    AccountStore,
    ThreadSettingsStore,
    UsageStore,
    database_failure,
)

log = logging.getLogger(__name__)

# Re-exported: where these lived before the reply moved to `replying`.
__all__ = ["CONTEXT_TRIMMED", "MODEL_FAILED", "SUMMARY_PROMPT", "ChatCore", "EmptyReply"]
# Commands answered in the thread's turn, after the messages before them.
IN_TURN = ("retry", "undo")

NOT_TEXT = "I can only read text, images, voice messages and documents."
EMPTY = "Send me some text."
NOT_LINKED_PRIVATE = (
    "Hi! This chat is not linked to an account yet. Send /link and I will give you a "
    "link to the web page, where you log in or register. (Never send me a password here.)"
)
NOT_LINKED_GROUP = "This chat is not linked to an account. Message me privately and send /link."


class ChatCore:
    """Commands, linking and conversation for every door; adapters only translate."""

    def __init__(
        self,
        *,
        account_store: AccountStore,
        links: LinkService,
        memory: Memory,
        provider: ReplyProvider | None = None,
        usage: UsageLimits,
        catalogue: Catalogue | None = None,
        thread_settings: ThreadSettingsStore | None = None,
        usage_store: UsageStore | None = None,
        system_prompt_max_chars: int = 4000,
        base_prompt_tokens: int = 0,
        max_message_chars: int = 8000,
        summarize_memory: bool = False,
        reply_timeout_s: float = 300.0,
        allowed_groups: dict[Platform, set[str]] | None = None,
        metrics: Metrics | None = None,
        tools: ToolRegistry | None = None,
        media: MediaReader | None = None,
    ) -> None:
        self.account_store = account_store
        self.accounts = AccountCache(account_store)
        memory.store.watch(self.accounts.clear)
        self.links = links
        self.memory = memory
        if catalogue is None:
            if provider is None:
                raise ValueError("ChatCore needs a catalogue or a provider")
            catalogue = Catalogue([(_spec_of(provider), provider)])
        self.catalogue = catalogue
        self.provider = catalogue.provider(catalogue.default.name)
        self.usage = usage
        db = memory.store.db
        # Every reply reads its thread's settings: cached where the history is (SQLite).
        self.thread_settings = ThreadSettingsCache(
            thread_settings or ThreadSettingsStore(db),
            enabled=memory.store.caches_may_stand_for_database,
        )
        memory.store.watch(self.thread_settings.clear)
        memory.watch_new_threads(self.thread_settings.new_thread)
        # Per platform, the groups (Telegram chats, Discord servers) the bot speaks in;
        # a platform missing here speaks everywhere.
        self.allowed_groups = allowed_groups or {}
        self.metrics = metrics or Metrics()
        self.max_message_chars = max_message_chars
        self.order = TurnOrder()
        self.replier = Replier(
            memory=memory,
            catalogue=catalogue,
            thread_settings=self.thread_settings,
            usage=usage,
            usage_store=usage_store or UsageStore(db),
            metrics=self.metrics,
            summarize_memory=summarize_memory,
            reply_timeout_s=reply_timeout_s,
            base_prompt_tokens=base_prompt_tokens,
            reader=media,
            clock=memory.clock,
            tools=tools,
        )
        self.commands = ChatCommands(
            account_store,
            links,
            memory,
            usage,
            self.replier,
            system_prompt_max_chars=system_prompt_max_chars,
        )
        # The thread's controls, for doors that offer them outside chat (the web API).
        self.controls = self.commands.controls
        # Uploads waiting for a message, and stored images shown back (the web door).
        self.files = Files(memory.media, clock=memory.clock)

    def place(self, message: IncomingMessage) -> Place:
        """The message's place in its sender's line, for a door to hold until it has shown
        the replies (take it on arrival, before any await; see `ordering`). /stop stands
        in no line: it must reach the reply it stops, which holds the sender's place."""
        command = parse_command(message.text or "")
        if command is not None and command.name == "stop":
            return self.order.aside()
        return self.order.place(message)

    def will_stream(self, message: IncomingMessage) -> bool:
        """Whether the answer may come from the model, streamed: doors then show typing and
        a live reply. Commands, refusals of the input and ignored messages do not."""
        text = _clean(message).text
        if self.ignores(message):
            return False
        if message.attachments:  # read in the turn, then answered by the model
            return len((text or "").strip()) <= self.max_message_chars
        if text is None:
            return False
        command = parse_command(text)
        if command is not None:
            return command.name == "retry"
        return 0 < len(text.strip()) <= self.max_message_chars

    async def handle(
        self,
        message: IncomingMessage,
        on_progress: ProgressCallback | None = None,
        *,
        account: Account | None = None,
        place: Place | None = None,
    ) -> list[Reply]:
        """Answer one message; an empty list means "ignore it" (a group chat not addressed to us).

        Chat doors leave `account` out: the sender's linked identity decides. The web door,
        which has authenticated the sender itself, passes the account. Messages of one sender
        in one chat are handled one at a time in arrival order: a door passes the `place` it
        holds (`self.place`); without one, the core takes it before the first await.
        """
        if place is not None and not place.held:
            raise ValueError("hold the place (async with) before passing it to the core")
        replies = await self._handle(message, on_progress, account, place)
        self.metrics.handled(message.platform.value, replies)
        return replies

    def ignores(self, message: IncomingMessage) -> bool:
        """Whether `message` gets no answer: a group message not addressed to the bot, or
        from a group the operator did not allow (stored nowhere)."""
        if not message.is_private and not message.addressed:
            return True
        allowed = self.allowed_groups.get(message.platform)
        if not allowed or message.group_id is None:
            return False
        return message.group_id not in allowed  # a group the operator did not allow: stored nowhere

    async def _handle(
        self,
        message: IncomingMessage,
        on_progress: ProgressCallback | None,
        account: Account | None,
        place: Place | None,
    ) -> list[Reply]:
        if self.ignores(message):
            return []
        message = _clean(message)
        arrival = self.order.arrive()  # before the first await: this is arrival order
        # Without a door holding it, the sender's place covers only the quick part up to the
        # ticket, so a long model call does not keep the next message from queueing (across
        # replicas, the queue is what orders it).
        own = self.place(message) if place is None else None
        try:
            async with own or contextlib.nullcontext():
                outcome = await self._dispatch(message, account, arrival)
            if isinstance(outcome, list):
                return outcome
            # Queued for the account lock in the same step that lets the next arrival through.
            self.order.leave(arrival)
            return await self._take_turn(outcome, on_progress)
        except ChatlinkError as error:
            # A refusal: the error travels with the reply, for each door to answer it its way.
            if isinstance(error, RateLimited):
                self.metrics.rate_limited.inc()
            return [Reply.refused(error, private=message.is_private)]
        except Exception as error:
            # The database refusing (disk full, read-only, unreachable): one line in the log,
            # a short answer, and the process carries on; the next message tries again.
            failure = database_failure(error)
            if failure is None:
                raise
            log.error("database failed, message not answered: %s", failure)
            return [Reply(STORAGE_FAILED, private=message.is_private, kind=ReplyKind.ERROR)]
        finally:
            self.order.leave(arrival)

    async def _dispatch(
        self, message: IncomingMessage, known: Account | None, arrival: int
    ) -> list[Reply] | _Turn:
        """Answer commands and refusals at once; for a chat message, queue its turn."""
        if known is not None:
            self.accounts.know(known)  # just read by the door: the turn's re-check is free
            self.order.identify(arrival, known.id)
        if message.text is None and not message.attachments:
            return [Reply.refused(InputRejected(NOT_TEXT))]
        # A caption is never a command: the files it came with are the message.
        command = None if message.attachments else parse_command(message.text or "")
        if command is not None:
            if not command.is_for(message.bot_username):
                return []
            account = known or await self._account_of(message)
            if command.name in IN_TURN and account is not None and not account.disabled:
                return await self._queue(account, message, "", arrival, action=command.name)
            return await self.commands.run(message, command, account)
        text = (message.text or "").strip()
        if not text and not message.attachments:
            return [Reply.refused(InputRejected(EMPTY))]
        if len(text) > self.max_message_chars:
            too_long = InputRejected(
                f"That message is too long ({len(text):,} characters); the limit is "
                f"{self.max_message_chars:,}."
            )
            return [Reply.refused(too_long)]
        account = known or await self._account_of(message)
        if account is None:
            if message.is_private:
                return [Reply(NOT_LINKED_PRIVATE)]
            return [Reply(NOT_LINKED_GROUP, open_private=True)]
        if account.disabled:
            raise AccountDisabled()
        return await self._queue(account, message, text, arrival)

    async def _account_of(self, message: IncomingMessage) -> Account | None:
        if message.platform is Platform.WEB:
            return None  # web messages come with their authenticated account, or not at all
        return await self.accounts.for_identity(message.platform.value, message.user_id)

    async def _queue(
        self,
        account: Account,
        message: IncomingMessage,
        text: str,
        arrival: int,
        *,
        action: str = "message",
    ) -> _Turn:
        """Take a ticket: it fixes this message's turn in its thread whichever replica
        received it; over a limit, the ticket is handed back and nothing is stored."""
        # Known now: from here it waits at the gate only for its account's earlier messages.
        self.order.identify(arrival, account.id)
        thread_id = await self.memory.thread(account.id, thread_key(message))
        # Lookups overlap; from here until it queues for the account lock, each message goes
        # in this process's arrival order among the account's messages (its ticket too).
        await self.order.wait(arrival)
        ticket = await self.memory.take_turn(thread_id)
        try:
            if action != "undo":  # a model call: counted like a message
                await self.usage.admit(account.id)
        except BaseException:
            await self.memory.end_turn(ticket)
            raise
        return _Turn(account, message, text, thread_id, ticket, action)

    async def _take_turn(self, turn: _Turn, on_progress: ProgressCallback | None) -> list[Reply]:
        """Wait for the turn (the account lock, and no older ticket), then answer."""
        ended = False
        try:
            while True:
                async with self.memory.exclusive(turn.account.id):
                    if await self.memory.is_turn_of(turn.thread_id, turn.ticket):
                        # Disabled while this message waited: still nothing stored.
                        current = await self.accounts.by_id(turn.account.id)
                        if current is None or current.disabled:
                            raise AccountDisabled()
                        try:
                            return await self._in_turn(turn, on_progress)
                        finally:
                            # Ended before the lock goes, so the thread's next message, first
                            # in the lock's queue, finds its turn has come.
                            ended = True
                            await self.memory.end_turn(turn.ticket)
                # An older message of this thread (received by another replica) goes first:
                # wait, holding nothing, until it ends or its replica dies.
                await self.memory.wait_for_turn(turn.thread_id, turn.ticket)
        finally:
            if not ended:
                await self.memory.end_turn(turn.ticket)

    async def _in_turn(self, turn: _Turn, on_progress: ProgressCallback | None) -> list[Reply]:
        account, message, thread_id = turn.account, turn.message, turn.thread_id
        if turn.action == "undo":
            return await self.replier.undo(thread_id)
        if turn.action == "retry":
            return await self.replier.retry(account, message, thread_id, on_progress)
        return await self.replier.answer(account, message, thread_id, turn.text, on_progress)

    async def idle(self, grace_s: float | None = None) -> int:
        """Wait for background work (conversation summaries) to finish; with `grace_s`, cancel
        what is still running after that many seconds. Returns how many were cancelled."""
        return await self.replier.idle(grace_s)


@dataclass(frozen=True, slots=True)
class _Turn:
    """A chat message with its ticket, waiting to be answered."""

    account: Account
    message: IncomingMessage
    text: str
    thread_id: int
    ticket: int
    action: str = "message"  # or an IN_TURN command


def _clean(message: IncomingMessage) -> IncomingMessage:
    # NUL never means anything in chat text, and PostgreSQL text columns refuse it.
    if (message.text is None or "\x00" not in message.text) and "\x00" not in message.display_name:
        return message
    return replace(
        message,
        text=None if message.text is None else message.text.replace("\x00", ""),
        display_name=message.display_name.replace("\x00", ""),
    )


def _spec_of(provider: ReplyProvider) -> ModelSpec:
    # A core built around one provider (tests, tools): that provider is the one model.
    return ModelSpec(name=provider.name, provider=provider.name, model=provider.name)
