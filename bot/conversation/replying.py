"""Generating a reply for a thread whose turn it is: a message, /retry or /undo, and /stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from bot.clock import Clock, utcnow
from bot.conversation.choices import Choices, resolve
from bot.conversation.ledger import UsageLedger
from bot.conversation.memory import Memory
from bot.conversation.settings_cache import ThreadSettingsCache
from bot.conversation.streaming import EmptyReply, generate
from bot.conversation.tokens import estimate, estimate_turns
from bot.limits import UsageLimits
from bot.media import MediaReader
from bot.messages import IncomingMessage, ProgressCallback, Reply, ReplyKind
from bot.monitoring import Metrics
from bot.providers import (
    Catalogue,
    ReplyProvider,
    ToolingProvider,
    Turn,
    Usage,
    describe_failure,
)
from bot.tools import ToolRegistry, run_tool_loop
from storage import Account, UsageStore

log = logging.getLogger(__name__)

MODEL_FAILED = "The model is unavailable right now. Please try again in a moment."
STOPPED = "Stopped. Nothing of that reply was kept."
NOTHING_TO_RETRY = "There is nothing to retry in this chat yet."
NOTHING_TO_UNDO = "There is nothing to undo in this chat."
SUMMARY_PROMPT = (
    "Summarise this conversation for your own memory in a few sentences: facts about the "
    "person, their preferences and open questions. Plain text, no preamble."
)
# The same, asked at the end of the conversation (with the summary so far in its system turns).
SUMMARY_TURN = Turn(
    "user",
    "(A note for your memory, not a message from the person.) Summarise our conversation so "
    "far, the summary of its earlier part included, for your own memory in a few sentences: "
    "facts about the person, their preferences and open questions. Plain text, no preamble.",
)
CONTEXT_TRIMMED = (
    "(Our conversation is getting long: my oldest messages in this chat are no longer in "
    "my context. /reset starts afresh.)"
)
QUOTE_WORDS = 8
HEARD_WORDS = 30
MIN_CONTEXT_TOKENS = 256  # history read however small a model's window


class Stopped(Exception):
    """/stop closed the stream."""


class Replier:
    """Answers in a thread whose turn has come (the caller holds it), with the thread's model."""

    def __init__(
        self,
        *,
        memory: Memory,
        catalogue: Catalogue,
        thread_settings: ThreadSettingsCache,
        usage: UsageLimits,
        usage_store: UsageStore,
        metrics: Metrics,
        summarize_memory: bool,
        reply_timeout_s: float,
        base_prompt_tokens: int = 0,
        reader: MediaReader | None = None,
        clock: Clock = utcnow,
        tools: ToolRegistry | None = None,
    ) -> None:
        self.tools = tools  # MCP_SERVERS_FILE's servers, for models marked `tools`
        self.base_prompt_tokens = base_prompt_tokens
        self.reader = reader or MediaReader()
        self.memory = memory
        self.catalogue = catalogue
        self.thread_settings = thread_settings
        self.usage_store = usage_store  # read by /usage
        self.metrics = metrics
        self.summarize_memory = summarize_memory
        self.reply_timeout_s = reply_timeout_s
        self.clock = clock
        self._background: set[asyncio.Task[None]] = set()
        self.ledger = UsageLedger(usage, usage_store, clock)
        # The stream being read per thread, for /stop (from here or another replica).
        self._streams: dict[int, asyncio.Task[str]] = {}
        memory.store.on_stop(self._stop_here)

    async def choices(self, account: Account, thread_id: int) -> Choices:
        """The model, persona and prompt in force in a thread."""
        stored = await self.thread_settings.get(thread_id)
        return resolve(self.catalogue, stored, account.is_admin)

    async def stop(self, thread_id: int) -> bool:
        """Close the thread's model stream, here or on the replica writing it; nothing of it
        is stored. Whether a reply was (or, elsewhere, may be) being written."""
        if self._stop_here(thread_id):
            return True
        return await self.memory.store.ask_to_stop(thread_id)

    def _stop_here(self, thread_id: int) -> bool:
        task = self._streams.get(thread_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def answer(
        self,
        account: Account,
        message: IncomingMessage,
        thread_id: int,
        text: str,
        on_progress: ProgressCallback | None,
    ) -> list[Reply]:
        """Store the message, then generate and store the reply. Attachments are read
        first (any that cannot be used refuses the message, and nothing is stored); a voice
        note's transcript becomes the message, shown back as a quote before the reply."""
        if not message.attachments:
            # Committed before anything slow: the message survives a model failure or a crash.
            await self.memory.remember(thread_id, "user", text, message.platform.value)
            return await self._reply(account, message, thread_id, on_progress, replacing=None)
        choices = await self.choices(account, thread_id)
        intake = await self.reader.read(message.attachments, vision=choices.model.vision)
        images = [(i.mime, i.width, i.height, i.data) for i in intake.images]
        content = intake.text(text)
        await self.memory.remember(thread_id, "user", content, message.platform.value, images)
        if not intake.heard:
            return await self._reply(account, message, thread_id, on_progress, replacing=None)
        heard = Reply(_heard(intake.heard))
        if on_progress is not None:  # the live message shows what was heard at once
            try:
                await on_progress(heard.text)
            except Exception:
                log.warning("live reply update failed; continuing without it", exc_info=True)
        replies = await self._reply(account, message, thread_id, None, replacing=None)
        return [heard, *replies]

    async def retry(
        self,
        account: Account,
        message: IncomingMessage,
        thread_id: int,
        on_progress: ProgressCallback | None,
    ) -> list[Reply]:
        """Regenerate the last reply from the history up to its message; the new one
        replaces the old (which stays if the model fails)."""
        exchange = await self.memory.last_exchange(thread_id)
        if not exchange:
            return [Reply(NOTHING_TO_RETRY)]
        replacing = [m.id for m in exchange[1:]]
        return await self._reply(account, message, thread_id, on_progress, replacing=replacing)

    async def undo(self, thread_id: int) -> list[Reply]:
        """Remove the thread's last exchange and say what went."""
        removed = await self.memory.undo(thread_id)
        if not removed:
            return [Reply(NOTHING_TO_UNDO)]
        words = removed[0].content.split()
        quote = " ".join(words[:QUOTE_WORDS]) + (" …" if len(words) > QUOTE_WORDS else "")
        if not words and removed[0].images:
            quote = "(an image)"
        replies = len(removed) - 1
        return [
            Reply(
                f'Removed your message "{quote}" and {replies} '
                f"repl{'y' if replies == 1 else 'ies'} from my memory."
            )
        ]

    async def _reply(
        self,
        account: Account,
        message: IncomingMessage,
        thread_id: int,
        on_progress: ProgressCallback | None,
        *,
        replacing: list[int] | None,
    ) -> list[Reply]:
        choices = await self.choices(account, thread_id)
        system = choices.system_turns()
        budget = self._budget(choices, system)
        context = await self.memory.history(thread_id, budget, vision=choices.model.vision)
        history = context.turns
        if replacing:  # /retry: the history up to the last user message, as it was sent
            history = history[: len(history) - len(replacing)]
        history = system + history
        provider, name = choices.provider, choices.model.name
        usage = Usage()
        started = time.perf_counter()
        try:
            # Bounded as a whole: SDK retries honour the server's retry-after, however long.
            async with asyncio.timeout(self.reply_timeout_s):
                work = self._generate(choices, account, message, history, usage, on_progress)
                reply = await self._stoppable(thread_id, work)
        except Stopped:
            await self.ledger.record(
                account.id, name, usage.total or estimate_turns(history), usage
            )
            return [Reply(STOPPED)]
        except Exception as exc:
            self.metrics.model_errors.labels(provider.name).inc()
            log.warning(
                "reply provider %s failed after %.0f ms: account_id=%s model=%s %s",
                provider.name,
                (time.perf_counter() - started) * 1000,
                account.id,
                name,
                describe_failure(exc),
            )
            await self.ledger.record(
                account.id, name, usage.total or estimate_turns(history), usage
            )
            return [Reply(MODEL_FAILED, kind=ReplyKind.ERROR)]
        # Only a whole reply is stored: a failed, cut or stopped stream stores nothing.
        if replacing is None:
            await self.memory.remember(thread_id, "assistant", reply, message.platform.value)
        else:
            await self.memory.replace_replies(thread_id, replacing, reply, message.platform.value)
        tokens = usage.total or estimate_turns(history) + estimate(reply)
        await self.ledger.record(account.id, name, tokens, usage)
        self.metrics.reply_seconds.observe(time.perf_counter() - started)
        log.info(
            "replied: account_id=%s provider=%s model=%s ms=%.0f tokens=%d",
            account.id,
            provider.name,
            name,
            (time.perf_counter() - started) * 1000,
            tokens,
        )
        replies = [Reply(reply, kind=ReplyKind.MODEL)]
        try:
            if context.trimmed and await self.memory.claim_context_notice(thread_id):
                replies.append(Reply(CONTEXT_TRIMMED))
        except Exception:  # the reply is stored and must reach the person regardless
            log.warning("context notice failed: account_id=%s", account.id, exc_info=True)
        if context.fold_before and self.summarize_memory:
            # Waits for this lock, so it runs after the reply is out; nobody waits for it.
            # The summary is asked for after the conversation as just sent, so the provider's
            # prompt cache serves that prefix, when it fits the context budget with the reply.
            sent = [*context.turns, Turn("assistant", reply)]
            fits = estimate_turns([*sent, SUMMARY_TURN]) <= (budget or self.memory.max_tokens)
            after = [*system, *sent] if fits and not replacing else None
            self._in_background(
                self._fold(account.id, name, provider, thread_id, context.fold_before, after)
            )
        return replies

    def _budget(self, choices: Choices, system: list[Turn]) -> int | None:
        # What the model may read: its window, less the reply and the system prompts. The
        # LLM_* model keeps the memory's own budget, reckoned the same way at assembly.
        if not self.catalogue.from_file:
            return None
        spec = choices.model
        left = spec.context_tokens - spec.max_tokens - self.base_prompt_tokens
        return max(MIN_CONTEXT_TOKENS, left - estimate_turns(system))

    async def _generate(
        self,
        choices: Choices,
        account: Account,
        message: IncomingMessage,
        history: list[Turn],
        usage: Usage,
        on_progress: ProgressCallback | None,
    ) -> str:
        provider, tools = choices.provider, self.tools
        if tools is None or not choices.model.tools or not isinstance(provider, ToolingProvider):
            return await generate(provider, history, usage, on_progress)
        # Only the final text is stored (see docs/tools.md): the history stays plain turns,
        # valid for either provider whatever model the thread switches to.
        offered = await tools.offered(is_admin=account.is_admin, private=message.is_private)
        reply = await run_tool_loop(
            provider, history, offered, tools, usage, on_progress, account_id=account.id
        )
        if not reply.strip():
            raise EmptyReply()
        return reply

    async def _stoppable(self, thread_id: int, work: Coroutine[Any, Any, str]) -> str:
        # The reply is made in a task of its own, so /stop can end it (a model stream or a
        # tool call) without cancelling the door's task that waits here.
        task = asyncio.create_task(work)
        self._streams[thread_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this task itself was cancelled (a timeout, shutdown): not /stop
            raise Stopped() from None
        finally:
            if self._streams.get(thread_id) is task:
                del self._streams[thread_id]

    async def usage_settled(self) -> None:
        """Wait until the usage rows of every reply already given are committed."""
        await self.ledger.settled()

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
        while self._background or self.ledger.writes:
            pending = set(self._background) | self.ledger.writes
            left = None if deadline is None else max(0.0, deadline - loop.time())
            _, late = await asyncio.wait(pending, timeout=left)
            if late:
                for task in late:
                    task.cancel()
                cancelled += len(late)
                # Cancelled folds still unwind (locks, sessions) before the database closes.
                await asyncio.wait(late)
        return cancelled

    async def _fold(
        self,
        account_id: int,
        model: str,
        provider: ReplyProvider,
        thread_id: int,
        fold_before: int,
        conversation: list[Turn] | None,
    ) -> None:
        """MEMORY_SUMMARY: fold the block of turns leaving the context into the thread's
        summary. Where they are all in `conversation` (what the model was just sent, and its
        reply), the summary is asked for after it, as one more user turn: the same prefix,
        so the provider's prompt cache serves it, and the summary covers the whole
        conversation so far. Otherwise (a backlog), from a transcript of them."""

        async def summarize(previous: str | None, turns: list[Turn]) -> str:
            # By role and text: the folded turns come without their images.
            sent = {(t.role, t.content) for t in conversation or ()}
            if conversation is not None and all((t.role, t.content) in sent for t in turns):
                request = [*conversation, SUMMARY_TURN]
            else:
                transcript = "\n".join(f"{t.role}: {t.content}" for t in turns)
                if previous:
                    transcript = f"Summary so far: {previous}\n\n{transcript}"
                request = [Turn("system", SUMMARY_PROMPT), Turn("user", transcript)]
            usage = Usage()
            text = await generate(provider, request, usage, None)
            spent = usage.total or estimate_turns(request) + estimate(text)
            await self.ledger.record(account_id, model, spent, usage)
            return text.strip()

        try:
            async with self.memory.exclusive(account_id):
                if await self.memory.fold(thread_id, fold_before, summarize):
                    log.info("conversation summary updated: account_id=%s", account_id)
        except Exception as exc:  # the reply is delivered anyway; the next turn tries again
            log.warning(
                "summarising failed: account_id=%s error=%s", account_id, type(exc).__name__
            )


def _heard(transcripts: tuple[str, ...]) -> str:
    words = " ".join(transcripts).split()
    quote = " ".join(words[:HEARD_WORDS]) + (" …" if len(words) > HEARD_WORDS else "")
    return f'🎤 I heard: "{quote}"'
