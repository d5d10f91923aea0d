"""One backend object per dialect, holding every difference between SQLite and PostgreSQL.

Backend          engines, cross-process locks, migration lock, ordered RETURNING,
                 the foreign-write probe, whether caches may stand for the database
├── SqliteBackend     one process: a single writer, turns kept in memory
└── PostgresBackend   many replicas: advisory locks, turns woken by LISTEN/NOTIFY
Turns            a thread's ticket queue (LocalTurns, PostgresTurns)
"""

from sqlalchemy.engine import URL

from storage.backends.base import Backend, Turns
from storage.backends.postgres import PostgresBackend
from storage.backends.sqlite import SqliteBackend

__all__ = ["Backend", "PostgresBackend", "SqliteBackend", "Turns", "backend_for"]


def backend_for(url: URL, *, reader_pool_size: int = 4) -> Backend:
    """The backend for a database URL: the one place that looks at the dialect."""
    name = url.get_backend_name()
    if name == "sqlite":
        return SqliteBackend(url, reader_pool_size=reader_pool_size)
    if name == "postgresql":
        return PostgresBackend(url)
    raise ValueError(f"unsupported database {name!r}: use SQLite or PostgreSQL")
