"""uvicorn's HTTP/1.1 protocol on httptools (llhttp), with a deadline and a size bound on
each request's head.

uvicorn times out idle keep-alive connections, but not a client that opened a connection and
sends its headers a byte at a time (slowloris): each such socket was held for as long as the
client liked. Here a request's head must be in within `header_timeout_s` of the connection
opening or of the previous response; otherwise the connection is closed. httptools keeps an
unfinished header in memory without a bound of its own, so the head's bytes are counted as
they arrive too: past `max_header_bytes` the request gets a 431 and the connection is closed.
A head that arrives whole is measured again by adapters.web.security.HeaderLimit.

httptools rather than h11 (uvicorn's pure-Python parser): with 50 clients on /api/chat the
web door answered about a fifth more requests a second on it (benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

HEAD_TOO_LARGE = b"Request headers too large."


class BoundedHeads(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection whose request head is late or too large."""

    header_timeout_s = 10.0
    max_header_bytes = 16_384
    _deadline: asyncio.TimerHandle | None = None
    _in_head = True  # the next bytes are (or will be) a request's head
    _head_bytes = 0  # of the head now arriving, counted once a read ends inside it
    _ends = 0  # heads and messages finished on this connection

    @classmethod
    def bounded(cls, timeout_s: float, max_bytes: int) -> type[BoundedHeads]:
        """This protocol with its own bounds, for uvicorn's `http` setting."""
        bounds = {"header_timeout_s": timeout_s, "max_header_bytes": max_bytes}
        return type("BoundedHeads", (cls,), bounds)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused already: nothing more is parsed
        ends = self._ends
        super().data_received(data)
        # Only a read that was head from start to end (no head or body finished in it) is
        # counted: one that ends a body and starts the next head leaves those bytes of the
        # head out, so the bound is loose by less than one read.
        if self._in_head and ends == self._ends and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse_head()

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._ends += 1
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # what follows is the next request
        self._ends += 1
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # The next request's head gets the same time from here (not while the app works).
        if self._in_head:
            self._arm()
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def _refuse_head(self) -> None:
        self._disarm()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[431],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(HEAD_TOO_LARGE),
                    b"connection: close\r\n\r\n",
                    HEAD_TOO_LARGE,
                ]
            )
        )
        self.transport.close()
