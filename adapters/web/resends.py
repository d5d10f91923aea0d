"""A message the chat page sends again is answered once.

The page gives each message an id (`{"message": ..., "id": ...}`) and, after a reconnect,
sends again what was not answered. The id is remembered per account with the handling it
started, so a message that reached the server before the connection broke is not stored
twice: its resend waits for that same handling and gets the same replies. Remembered in this
process only, for the last KEEP messages; a handling that failed is forgotten, so a retry runs.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict

from starlette.requests import HTTPConnection

from bot.messages import Reply

KEEP = 4096
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Handling = asyncio.Task[list[Reply]]


class Resends:
    """The recent handlings by (account, client message id)."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._handlings: OrderedDict[tuple[int, str], Handling] = OrderedDict()

    def get(self, account_id: int, client_id: str) -> Handling | None:
        """The handling this message started, if it arrived before."""
        return self._handlings.get((account_id, client_id))

    def add(self, account_id: int, client_id: str, handling: Handling) -> None:
        """Remember that `handling` answers this message."""
        key = (account_id, client_id)
        self._handlings[key] = handling
        while len(self._handlings) > self.keep:
            self._handlings.popitem(last=False)

        def forget_failure(done: Handling) -> None:
            if (done.cancelled() or done.exception() is not None) and (
                self._handlings.get(key) is done
            ):
                del self._handlings[key]

        handling.add_done_callback(forget_failure)


def resends_of(connection: HTTPConnection) -> Resends:
    """The app's registry (kept on the app, not in a module global)."""
    state = connection.app.state
    if not hasattr(state, "resends"):
        state.resends = Resends()
    found: Resends = state.resends
    return found
