"""Message order inside one process, owned by one object: `TurnOrder`.

The guarantee: the messages of one thread are answered one at a time, in arrival order, while
different chats go ahead concurrently. It is kept in three steps, each a FIFO `Line`:

1. The sender's place (`TurnOrder.place`): one line per sender in one chat, joined on arrival
   (before the first await). A chat door's flow (`bot.delivery.answer`) holds the place until
   it has shown the replies, so one sender's messages are answered and rendered one at a time,
   never interleaved; where no door holds it (the web, Discord's slash commands, each answered
   under its own interaction), the core holds it itself up to the thread's ticket.
2. The gate (`arrive`, `identify`, `wait`, `leave`): one thread can be spoken to from several
   chats (all private chats of an account share one), which the door cannot know before the
   lookups. The core numbers each message as it starts on it; the lookups overlap, and the step
   that fixes the message's turn in its thread (its ticket) goes in that order among the
   messages that may share a thread: those of one account, and any whose account is not known
   yet. Other accounts' messages do not wait for each other (see `Gate`).
3. Across replicas the ticket rows (`Memory.take_turn`, served under the account's exclusive
   section in `ChatCore._take_turn`) order the thread; the same lines, as `KeyedLocks`, keep
   the account's exclusive section FIFO inside the process.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from types import TracebackType

from bot.messages import IncomingMessage


class Line:
    """A FIFO line: `join` gives a number on arrival; `wait(n)` returns once every earlier
    number has left, and `leave(n)` lets the next one through. What runs before `wait`
    overlaps; what runs between `wait` and `leave` happens one at a time, in arrival order."""

    def __init__(self) -> None:
        self._numbers = itertools.count()
        # In arrival order (numbers only grow): the waiting ones hold a future.
        self._standing: dict[int, asyncio.Future[None] | None] = {}

    def join(self) -> int:
        """A number at the back of the line (call it on arrival, before any await)."""
        number = next(self._numbers)
        self._standing[number] = None
        return number

    async def wait(self, number: int) -> None:
        """Wait until every earlier number has left; a waiter cancelled here leaves."""
        if number not in self._standing:
            raise RuntimeError("waiting for a place that was left already")
        if next(iter(self._standing)) != number:
            future = asyncio.get_running_loop().create_future()
            self._standing[number] = future
            try:
                await future
            except BaseException:
                self.leave(number)
                raise

    def leave(self, number: int) -> None:
        """Stop holding up later numbers (done, or answered without waiting); idempotent."""
        if self._standing.pop(number, 0) == 0:
            return  # gone already
        if self._standing:
            first = self._standing[next(iter(self._standing))]
            if first is not None and not first.done():
                first.set_result(None)

    def __len__(self) -> int:
        return len(self._standing)


class Gate:
    """Arrival numbers that wait only for earlier ones that may share their thread.

    A number is `join`ed on arrival, its account unknown; `identify` names it once known.
    `wait(n)` returns once no earlier number is still unknown and none of the same account is
    still at the gate (a number never identified waits for every earlier one). A thousand
    people writing at once thus do not queue behind one slow lookup, nor behind each other's
    hand-over from one waiter to the next through a busy event loop, as one FIFO line made
    them do (benchmarks/streaming.py).
    """

    def __init__(self) -> None:
        self._numbers = itertools.count()
        self._standing: dict[int, None] = {}  # every number at the gate, in arrival order
        self._unknown: dict[int, None] = {}  # those whose account is not known, in order
        self._account_of: dict[int, int] = {}
        self._lines: dict[int, list[int]] = {}  # per account, its numbers at the gate, sorted
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._blocked: list[int] = []  # identified waiters, sorted: woken as unknowns clear

    def join(self) -> int:
        """A number for a message arriving now (call it before any await)."""
        number = next(self._numbers)
        self._standing[number] = None
        self._unknown[number] = None
        return number

    def identify(self, number: int, account_id: int) -> None:
        """The account `number` speaks for: it now waits only for that account's earlier
        numbers (and earlier unknown ones); harmless once left or identified."""
        if number not in self._unknown:
            return
        threshold = self._threshold()
        del self._unknown[number]
        self._account_of[number] = account_id
        bisect.insort(self._lines.setdefault(account_id, []), number)
        self._wake_past(threshold)

    async def wait(self, number: int) -> None:
        """Return once every earlier number that may share this one's thread has left; a
        waiter cancelled here leaves."""
        if number not in self._standing:
            raise RuntimeError("waiting for a place that was left already")
        if self._may_pass(number):
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        if number in self._account_of:
            bisect.insort(self._blocked, number)
        try:
            await future
        except BaseException:
            self.leave(number)
            raise
        finally:
            self._forget_waiter(number)

    def leave(self, number: int) -> None:
        """Stop holding up later numbers (done, or answered without waiting); idempotent."""
        if self._standing.pop(number, 0) == 0:
            return
        self._forget_waiter(number)
        threshold = self._threshold()
        account = self._account_of.pop(number, None)
        if account is None:
            del self._unknown[number]
        else:
            line = self._lines[account]
            line.remove(number)
            if line:
                self._wake_if_free(line[0])
            else:
                del self._lines[account]
        if self._standing:  # the first of all may be one never identified
            self._wake_if_free(next(iter(self._standing)))
        self._wake_past(threshold)

    def _threshold(self) -> int | None:
        """The first unknown number: no identified number after it may pass."""
        return next(iter(self._unknown), None)

    def _may_pass(self, number: int) -> bool:
        account = self._account_of.get(number)
        if account is None:
            return next(iter(self._standing)) == number
        first_unknown = self._threshold()
        if first_unknown is not None and first_unknown < number:
            return False
        return self._lines[account][0] == number

    def _wake_if_free(self, number: int) -> None:
        future = self._waiting.get(number)
        if future is not None and not future.done() and self._may_pass(number):
            future.set_result(None)

    def _wake_past(self, before: int | None) -> None:
        """The unknown numbers up to the first one now are gone: wake the identified waiters
        they held (each is looked at here once: the first unknown number only grows)."""
        after = self._threshold()
        if before == after or before is None:
            return
        start = bisect.bisect_left(self._blocked, before)
        end = len(self._blocked) if after is None else bisect.bisect_left(self._blocked, after)
        for number in self._blocked[start:end]:
            self._wake_if_free(number)

    def _forget_waiter(self, number: int) -> None:
        if self._waiting.pop(number, None) is not None:
            index = bisect.bisect_left(self._blocked, number)
            if index < len(self._blocked) and self._blocked[index] == number:
                del self._blocked[index]

    def __len__(self) -> int:
        return len(self._standing)


class Place:
    """One message's place in a line: taken when made, held inside `async with` (or from
    `wait()` to `leave()`); whoever stands behind it waits until it is left."""

    __slots__ = ("_line", "_number", "_on_leave", "held")

    def __init__(self, line: Line, number: int, on_leave: Callable[[], None]) -> None:
        self._line = line
        self._number = number
        self._on_leave = on_leave
        self.held = False

    async def wait(self) -> None:
        """Wait until every earlier place in the line has been left."""
        try:
            await self._line.wait(self._number)
        except BaseException:
            self.leave()  # cancelled while waiting: nobody is held up by it
            raise
        self.held = True

    def leave(self) -> None:
        """Let the next place through; harmless when left already."""
        self.held = False
        self._line.leave(self._number)
        self._on_leave()

    async def __aenter__(self) -> Place:
        await self.wait()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.leave()


class KeyedLocks:
    """A line per key, kept only while someone stands in it: FIFO mutual exclusion per key,
    with memory bounded by the keys in use."""

    def __init__(self) -> None:
        self._lines: dict[Hashable, Line] = {}

    def place(self, key: Hashable) -> Place:
        """A place at the back of `key`'s line (call it on arrival, before any await)."""
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = Line()

        def dropped() -> None:
            if not line and self._lines.get(key) is line:
                del self._lines[key]

        return Place(line, line.join(), dropped)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold `key`; waiters are served in arrival order."""
        async with self.place(key):
            yield

    def __len__(self) -> int:
        return len(self._lines)


def sender(message: IncomingMessage) -> Hashable:
    """Whose messages are answered one at a time: one person in one chat."""
    return (message.platform, message.chat_id, message.user_id)


class TurnOrder:
    """The order of messages in this process: each sender's place, taken on arrival and held
    until the replies are shown, and the gate through which messages take their ticket."""

    def __init__(self) -> None:
        self._senders = KeyedLocks()
        self._gate = Gate()

    def place(self, message: IncomingMessage) -> Place:
        """The message's place in its sender's line (call it on arrival, before any await)."""
        return self._senders.place(sender(message))

    def aside(self) -> Place:
        """A place in a line of its own, held at once: for what must not wait (/stop)."""
        return KeyedLocks().place(None)

    def arrive(self) -> int:
        """A number at the gate for a message the core starts on (call it before any await)."""
        return self._gate.join()

    def identify(self, arrival: int, account_id: int) -> None:
        """The arrival's account is known: it waits only for that account's earlier ones."""
        self._gate.identify(arrival, account_id)

    async def wait(self, arrival: int) -> None:
        """Wait at the gate until every earlier arrival that may share its thread has left."""
        await self._gate.wait(arrival)

    def leave(self, arrival: int) -> None:
        """Let later arrivals through the gate (ticket taken, or answered without one)."""
        self._gate.leave(arrival)

    def __len__(self) -> int:
        """Messages still in the order: at the gate, or senders with a place taken."""
        return len(self._gate) + len(self._senders)
