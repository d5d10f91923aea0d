"""Message order inside one process, owned by one object: `TurnOrder`.

The guarantee: the messages of one thread are answered one at a time, in arrival order, while
different chats go ahead concurrently. It is kept in three steps, each a FIFO `Line`:

1. The sender's place (`TurnOrder.place`): one line per sender in one chat, joined on arrival
   (before the first await). A chat door's flow (`bot.delivery.answer`) holds the place until
   it has shown the replies, so one sender's messages are answered and rendered one at a time,
   never interleaved; where no door holds it (the web, Discord's slash commands, each answered
   under its own interaction), the core holds it itself up to the thread's ticket.
2. The gate (`arrive`, `wait`, `leave`): one thread can be spoken to from several chats (all
   private chats of an account share one), which the door cannot know before the lookups. The
   core numbers each message as it starts on it; the lookups overlap, and the step that fixes
   the message's turn in its thread (its ticket) goes in that order.
3. Across replicas the ticket rows (`Memory.take_turn`, served under the account's exclusive
   section in `ChatCore._take_turn`) order the thread; the same lines, as `KeyedLocks`, keep
   the account's exclusive section FIFO inside the process.
"""

from __future__ import annotations

import asyncio
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
        self._gate = Line()

    def place(self, message: IncomingMessage) -> Place:
        """The message's place in its sender's line (call it on arrival, before any await)."""
        return self._senders.place(sender(message))

    def aside(self) -> Place:
        """A place in a line of its own, held at once: for what must not wait (/stop)."""
        return KeyedLocks().place(None)

    def arrive(self) -> int:
        """A number at the gate for a message the core starts on (call it before any await)."""
        return self._gate.join()

    async def wait(self, arrival: int) -> None:
        """Wait at the gate until every earlier arrival has left it."""
        await self._gate.wait(arrival)

    def leave(self, arrival: int) -> None:
        """Let later arrivals through the gate (ticket taken, or answered without one)."""
        self._gate.leave(arrival)

    def __len__(self) -> int:
        """Messages still in the order: at the gate, or senders with a place taken."""
        return len(self._gate) + len(self._senders)
