"""The latest messages of recently active threads, kept in memory within a size bound."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from storage import StoredMessage

# What one cached message costs besides its text (the record, its strings, the deque slot);
# ASCII text costs a byte a character.
MESSAGE_OVERHEAD = 300


def _size(message: StoredMessage) -> int:
    return MESSAGE_OVERHEAD + len(message.content)


@dataclass(slots=True)
class Recent:
    """A thread's summary and its latest messages (at most `depth`), oldest first."""

    summary: str | None
    messages: deque[StoredMessage]
    size: int
    notice_sent: bool  # whether the person was told that older messages left the context
    summary_until: int = 0  # the last message id the summary covers
    window_from: int = 0  # where the context window starts (a message id; 0: anywhere)


class HistoryCache:
    """Write-through: filled from the database on a thread's first read, then kept in step
    by every message this process commits, so a busy thread's history costs no query.

    Bounded by an estimate of the bytes held, least recently used threads first
    out: memory stays flat however many accounts write. A bound of 0 keeps nothing.
    """

    def __init__(self, max_bytes: int, depth: int) -> None:
        self.max_bytes = max_bytes
        self.depth = depth
        self._threads: OrderedDict[int, Recent] = OrderedDict()
        self._size = 0

    def get(self, thread_id: int) -> Recent | None:
        recent = self._threads.get(thread_id)
        if recent is not None:
            self._threads.move_to_end(thread_id)
        return recent

    def put(
        self,
        thread_id: int,
        summary: str | None,
        messages: list[StoredMessage],
        notice_sent: bool = False,
        *,
        summary_until: int = 0,
        window_from: int = 0,
    ) -> None:
        """Remember what the database holds now for a thread (its latest `depth` messages)."""
        if self.max_bytes <= 0:
            return
        self.drop(thread_id)
        kept = deque(messages[-self.depth :], maxlen=self.depth)
        size = len(summary or "") + sum(_size(m) for m in kept)
        self._threads[thread_id] = Recent(
            summary, kept, size, notice_sent, summary_until, window_from
        )
        self._size += size
        self._shrink()

    def append(self, message: StoredMessage) -> None:
        """A message was committed: add it to its thread, if that thread is kept."""
        recent = self._threads.get(message.thread_id)
        if recent is None:
            return
        if len(recent.messages) == self.depth:
            gone = recent.messages.popleft()
            recent.size -= _size(gone)
            self._size -= _size(gone)
        recent.messages.append(message)
        recent.size += _size(message)
        self._size += _size(message)
        self._shrink()

    def drop(self, thread_id: int) -> None:
        recent = self._threads.pop(thread_id, None)
        if recent is not None:
            self._size -= recent.size

    def clear(self) -> None:
        self._threads.clear()
        self._size = 0

    def __len__(self) -> int:
        return len(self._threads)

    @property
    def size(self) -> int:
        return self._size

    def _shrink(self) -> None:
        while self._size > self.max_bytes and self._threads:
            _, recent = self._threads.popitem(last=False)
            self._size -= recent.size
