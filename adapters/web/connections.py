"""uvicorn's HTTP/1.1 protocol (h11) with a deadline on reading each request's headers.

uvicorn times out idle keep-alive connections, but not a client that opened a connection
and sends its headers a byte at a time (slowloris): each such socket was held for as long as
the client liked. Here a request's headers must be in within `header_timeout_s` of the
connection opening or of the previous response; otherwise the connection is closed. The size
of the headers is bounded by uvicorn's own `h11_max_incomplete_event_size`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadline(H11Protocol):
    """H11Protocol that closes a connection whose request headers are late."""

    header_timeout_s = 10.0
    _deadline: asyncio.TimerHandle | None = None

    @classmethod
    def with_timeout(cls, seconds: float) -> type[HeaderDeadline]:
        """This protocol with its own deadline, for uvicorn's `http` setting."""
        return type("HeaderDeadline", (cls,), {"header_timeout_s": seconds})

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the headers are in (or the peer is done)
            self._disarm()

    def on_response_complete(self) -> None:
        # The next request's headers get the same time; a pipelined one parsed below
        # disarms it again.
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
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
