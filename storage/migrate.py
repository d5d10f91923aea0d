"""Alembic, driven from code: `upgrade()` brings a database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at our migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(db: Database, revision: str = "head") -> list[str]:
    """Apply every pending migration inside one write transaction; return those applied,
    oldest first, each as "revision: message".

    Safe from several replicas at once: the backend's migration lock lets one migrate while
    the others wait and then find nothing left to do.
    """

    def _run(sync_conn: Connection) -> list[str]:
        before = MigrationContext.configure(sync_conn).get_current_revision()
        command.upgrade(alembic_config(sync_conn), revision)
        after = MigrationContext.configure(sync_conn).get_current_revision()
        if after == before:
            return []
        scripts = ScriptDirectory.from_config(alembic_config())
        applied = scripts.iterate_revisions(after, before)  # newest first
        return [f"{script.revision}: {script.doc}" for script in reversed(list(applied))]

    async with db.write() as conn:
        await db.backend.lock_migrations(conn)
        return await conn.run_sync(_run)


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, None when it was never migrated."""

    def _get(sync_conn: Connection) -> str | None:
        return MigrationContext.configure(sync_conn).get_current_revision()

    async with db.read() as conn:
        return await conn.run_sync(_get)


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
