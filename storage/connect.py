"""DATABASE_URL as a person writes it, and why a database cannot be opened, in one line each.

Both answer in terms of the setting (DATABASE_URL, DATA_DIR) and what to do, never with the
driver's traceback: they are what `chatlink` prints before exiting with code 2.
"""

from __future__ import annotations

import errno
import socket
import sqlite3

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

# The async driver chatlink ships for each dialect; a URL naming no driver (or a sync one, as
# copied from another tool's documentation) gets this one.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
ALIASES = {"postgres": "postgresql"}
EXAMPLES = "sqlite:///./data/chatlink.db or postgresql://user:password@host:5432/chatlink"


class DatabaseUnavailable(Exception):
    """The database cannot be opened or used; the message names the setting and the fix."""


class UnsupportedDatabase(DatabaseUnavailable, ValueError):
    """DATABASE_URL is no URL, or names a database chatlink does not support."""


def database_url(url: str) -> URL:
    """Parse DATABASE_URL, giving SQLite and PostgreSQL their async driver; refuse the rest."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabase(
            f"DATABASE_URL {url!r} is not a database URL: use {EXAMPLES}"
        ) from None
    dialect = ALIASES.get(parsed.get_backend_name(), parsed.get_backend_name())
    if dialect not in ASYNC_DRIVERS:
        raise UnsupportedDatabase(
            f"DATABASE_URL names an unsupported database {dialect!r}: use {EXAMPLES}"
        )
    return parsed.set(drivername=f"{dialect}+{ASYNC_DRIVERS[dialect]}")


def describe_failure(error: BaseException, url: URL) -> str:
    """One line for an error met while opening or first using the database at `url`."""
    where = _where(url)
    for link in _chain(error):
        if isinstance(link, socket.gaierror):
            return f"{where}: the host name is unknown: check the host in DATABASE_URL"
        if isinstance(link, ConnectionRefusedError):
            return f"{where}: nothing answers there: start PostgreSQL or fix DATABASE_URL"
        if isinstance(link, TimeoutError):
            return f"{where}: no answer in time: check the host, port and firewall"
        if isinstance(link, PermissionError) or (
            isinstance(link, OSError) and link.errno in (errno.EROFS, errno.EACCES)
        ):
            return (
                f"{where}: the folder is not writable ({link.strerror or link}): give the user "
                "running chatlink write access, or set DATA_DIR or DATABASE_URL elsewhere"
            )
        if isinstance(link, OSError) and link.errno == errno.ENOSPC:
            return f"{where}: the disk is full: free some space"
        if isinstance(link, sqlite3.OperationalError):
            text = str(link)
            if "readonly" in text or "unable to open" in text:
                return (
                    f"{where}: the database cannot be written ({text}): give the user running "
                    "chatlink write access to the file and its folder, or set DATA_DIR"
                )
            return f"{where}: {text}"
        if type(link).__name__ == "InvalidPasswordError":
            return f"{where}: the password was refused: fix the user and password in DATABASE_URL"
        if type(link).__name__ == "InvalidCatalogNameError":
            return f"{where}: no such database: create it (createdb) or fix DATABASE_URL"
        if isinstance(link, OSError):
            return f"{where}: {link.strerror or link}: check DATABASE_URL"
    if isinstance(error, DBAPIError):
        return f"{where}: {type(error.orig).__name__}: {error.orig}: check DATABASE_URL"
    return f"{where}: {type(error).__name__}: check DATABASE_URL"


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database {url.database}"
    return f"cannot reach PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and those it was raised from, oldest last, each once."""
    seen: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in seen:
        seen.append(link)
        orig = getattr(link, "orig", None)
        link = orig if isinstance(orig, BaseException) else (link.__cause__ or link.__context__)
    return seen
