"""The core: one platform-neutral message in, the replies out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any

from bot.accounts import AccountCache
from bot.conversation.chat_commands import ChatCommands
from bot.conversation.commands import parse_command
from bot.conversation.memory import Memory, thread_key
from bot.conversation.ordering import Place, TurnOrder
from bot.conversation.tokens import estimate, estimate_turns
from bot.delivery import STORAGE_FAILED
from bot.errors import AccountDisabled, ChatlinkError, InputRejected, RateLimited
from bot.limits import UsageLimits
from bot.linking import LinkService
from bot.messages import IncomingMessage, Platform, ProgressCallback, Reply, ReplyKind
from bot.monitoring import Metrics
from bot.providers import ReplyProvider, Turn, Usage
from storage import Account, AccountStore, database_failure

log = logging.getLogger(__name__)

NOT_TEXT = "I can only read text messages."
EMPTY = "Send me some text."
MODEL_FAILED = "The model is unavailable right now. Please try again in a moment."
SUMMARY_PROMPT = (
    "Summarise this conversation for your own memory in a few sentences: facts about the "
    "person, their preferences and open questions. Plain text, no preamble."
)
CONTEXT_TRIMMED = (
    "(Our conversation is getting long: my oldest messages in this chat are no longer in "
    "my context. /reset starts afresh.)"
)
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
        provider: ReplyProvider,
        usage: UsageLimits,
        max_message_chars: int = 8000,
        summarize_memory: bool = False,
        reply_timeout_s: float = 300.0,
        allowed_groups: dict[Platform, set[str]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.account_store = account_store
        self.accounts = AccountCache(account_store)
        memory.store.watch(self.accounts.clear)
        self.links = links
        self.memory = memory
        self.provider = provider
        self.usage = usage
        self.summarize_memory = summarize_memory
        self.reply_timeout_s = reply_timeout_s
        self._background: set[asyncio.Task[None]] = set()
        # Per platform, the groups (Telegram chats, Discord servers) the bot speaks in;
        # a platform missing here speaks everywhere.
        self.allowed_groups = allowed_groups or {}
        self.metrics = metrics or Metrics()
        self.max_message_chars = max_message_chars
        self.order = TurnOrder()
        self.commands = ChatCommands(account_store, links, memory, usage)

    def place(self, message: IncomingMessage) -> Place:
        """The message's place in its sender's line, for a door to hold until it has shown
        the replies (take it on arrival, before any await; see `ordering`)."""
        return self.order.place(message)

    def will_stream(self, message: IncomingMessage) -> bool:
        """Whether the answer may come from the model, streamed: doors then show typing and
        a live reply. Commands, refusals of the input and ignored messages do not."""
        text = _clean(message).text
        if self._ignored(message) or text is None or parse_command(text) is not None:
            return False
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

    def _ignored(self, message: IncomingMessage) -> bool:
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
        if self._ignored(message):
            return []
        message = _clean(message)
        arrival = self.order.arrive()  # before the first await: this is arrival order
        # Without a door holding it, the sender's place covers only the quick part up to the
        # ticket, so a long model call does not keep the next message from queueing (across
        # replicas, the queue is what orders it).
        own = self.order.place(message) if place is None else None
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
        if message.text is None:
            return [Reply.refused(InputRejected(NOT_TEXT))]
        command = parse_command(message.text)
        if command is not None:
            if not command.is_for(message.bot_username):
                return []
            account = known or await self._account_of(message)
            return await self.commands.run(message, command, account)
        text = message.text.strip()
        if not text:
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
        self, account: Account, message: IncomingMessage, text: str, arrival: int
    ) -> _Turn:
        """Take a ticket: it fixes this message's turn in its thread whichever replica
        received it; over a limit, the ticket is handed back and nothing is stored."""
        thread_id = await self.memory.thread(account.id, thread_key(message))
        # Lookups overlap; from here until it queues for the account lock, each message goes
        # in this process's arrival order (its ticket too).
        await self.order.wait(arrival)
        ticket = await self.memory.take_turn(thread_id)
        try:
            await self.usage.admit(account.id)
        except BaseException:
            await self.memory.end_turn(ticket)
            raise
        return _Turn(account, message, text, thread_id, ticket)

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
                            return await self._answer(
                                turn.account, turn.message, turn.thread_id, turn.text, on_progress
                            )
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

    async def _answer(
        self,
        account: Account,
        message: IncomingMessage,
        thread_id: int,
        text: str,
        on_progress: ProgressCallback | None,
    ) -> list[Reply]:
        """Store the message, then generate and store the reply, holding the account's lock."""
        # Committed before anything slow: the message survives a model failure or a crash.
        await self.memory.remember(thread_id, "user", text, message.platform.value)
        context = await self.memory.history(thread_id)
        history = context.turns
        usage = Usage()
        started = time.perf_counter()
        try:
            # Bounded as a whole: SDK retries honour the server's retry-after, however long.
            async with asyncio.timeout(self.reply_timeout_s):
                reply = await self._generate(history, usage, on_progress)
        except Exception as exc:
            self.metrics.model_errors.labels(self.provider.name).inc()
            log.warning(
                "reply provider %s failed after %.0f ms: account_id=%s error=%s",
                self.provider.name,
                (time.perf_counter() - started) * 1000,
                account.id,
                type(exc).__name__,
            )
            await self._record_usage(account.id, usage.total or estimate_turns(history))
            return [Reply(MODEL_FAILED, kind=ReplyKind.ERROR)]
        # Only a whole reply is stored: a failed or cut stream stores nothing.
        await self.memory.remember(thread_id, "assistant", reply, message.platform.value)
        tokens = usage.total or estimate_turns(history) + estimate(reply)
        await self._record_usage(account.id, tokens)
        self.metrics.reply_seconds.observe(time.perf_counter() - started)
        log.info(
            "replied: account_id=%s provider=%s ms=%.0f tokens=%d",
            account.id,
            self.provider.name,
            (time.perf_counter() - started) * 1000,
            tokens,
        )
        replies = [Reply(reply, kind=ReplyKind.MODEL)]
        try:
            if context.trimmed and await self.memory.claim_context_notice(thread_id):
                replies.append(Reply(CONTEXT_TRIMMED))
        except Exception:  # the reply is stored and must reach the person regardless
            log.warning("context notice failed: account_id=%s", account.id, exc_info=True)
        if context.trimmed and self.summarize_memory:
            # Waits for this lock, so it runs after the reply is out; nobody waits for it.
            self._in_background(self._fold(account.id, thread_id, context.first_kept))
        return replies

    async def _record_usage(self, account_id: int, tokens: int) -> None:
        try:
            await self.usage.record(account_id, tokens)
        except Exception as exc:
            log.warning(
                "usage not recorded: account_id=%s error=%s", account_id, type(exc).__name__
            )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def idle(self, grace_s: float | None = None) -> int:
        """Wait for background work (conversation summaries) to finish; with `grace_s`, cancel
        what is still running after that many seconds. Returns how many were cancelled."""
        loop = asyncio.get_running_loop()
        deadline = None if grace_s is None else loop.time() + grace_s
        cancelled = 0
        while self._background:
            pending = set(self._background)
            left = None if deadline is None else max(0.0, deadline - loop.time())
            _, late = await asyncio.wait(pending, timeout=left)
            if late:
                for task in late:
                    task.cancel()
                cancelled += len(late)
                # Cancelled folds still unwind (locks, sessions) before the database closes.
                await asyncio.wait(late)
        return cancelled

    async def _fold(self, account_id: int, thread_id: int, first_kept: int) -> None:
        """MEMORY_SUMMARY: fold turns that left the context into the thread's summary."""

        async def summarize(previous: str | None, turns: list[Turn]) -> str:
            transcript = "\n".join(f"{t.role}: {t.content}" for t in turns)
            if previous:
                transcript = f"Summary so far: {previous}\n\n{transcript}"
            usage = Usage()
            text = await self._generate(
                [Turn("system", SUMMARY_PROMPT), Turn("user", transcript)], usage, None
            )
            await self._record_usage(account_id, usage.total or estimate(transcript + text))
            return text.strip()

        try:
            async with self.memory.exclusive(account_id):
                if await self.memory.fold(thread_id, first_kept, summarize):
                    log.info("conversation summary updated: account_id=%s", account_id)
        except Exception as exc:  # the reply is delivered anyway; the next turn tries again
            log.warning(
                "summarising failed: account_id=%s error=%s", account_id, type(exc).__name__
            )

    async def _generate(
        self, history: list[Turn], usage: Usage, on_progress: ProgressCallback | None
    ) -> str:
        parts: list[str] = []
        async for piece in self.provider.stream(history, usage):
            parts.append(piece)
            if on_progress is not None:
                try:
                    await on_progress("".join(parts))
                except Exception:
                    # A failed live edit must not lose the reply: it is delivered at the end.
                    log.warning("live reply update failed; continuing without it", exc_info=True)
                    on_progress = None
        reply = "".join(parts)
        if not reply.strip():
            raise EmptyReply()
        return reply


@dataclass(frozen=True, slots=True)
class _Turn:
    """A chat message with its ticket, waiting to be answered."""

    account: Account
    message: IncomingMessage
    text: str
    thread_id: int
    ticket: int


class EmptyReply(Exception):
    """The model answered nothing."""


def _clean(message: IncomingMessage) -> IncomingMessage:
    # NUL never means anything in chat text, and PostgreSQL text columns refuse it.
    if (message.text is None or "\x00" not in message.text) and "\x00" not in message.display_name:
        return message
    return replace(
        message,
        text=None if message.text is None else message.text.replace("\x00", ""),
        display_name=message.display_name.replace("\x00", ""),
    )
