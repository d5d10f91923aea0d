"""Storage integrity errors become domain errors in one place, as httpx's `map_exceptions`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bot.errors import ChatlinkError, InviteInvalid, UsernameUnavailable
from storage import InviteNotAvailable, StorageError, UsernameTaken

# Each storage error with the factory that makes its domain error from it. A factory takes the
# storage error (an IdentityTaken carries the owner's id); typed Any because each factory
# takes its own key's type, which a Mapping cannot say.
ExceptionMapping = Mapping[type[StorageError], Callable[[Any], ChatlinkError]]

# Registering, on its own or inside a chat-first link.
REGISTRATION_ERRORS: ExceptionMapping = {
    UsernameTaken: lambda _: UsernameUnavailable(),
    InviteNotAvailable: lambda _: InviteInvalid(),
}


@contextmanager
def map_exceptions(mapping: ExceptionMapping) -> Iterator[None]:
    """Raise the domain error `mapping` gives for a storage error raised inside the block.

    The most specific class wins (the first of the error's own classes found in `mapping`);
    a storage error `mapping` does not name, and any other exception, passes unchanged.
    """
    try:
        yield
    except StorageError as error:
        for kind in type(error).__mro__:
            factory = mapping.get(kind)
            if factory is not None:
                raise factory(error) from error
        raise
