"""Alembic, driven from code: `upgrade()` brings a database to the newest schema."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from storage.database import Database

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (and Mako, Pygments behind it) is imported only when there is something to migrate:
# a restart on a database already at head does without it (a tenth of a second of start-up).
MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r'^(down_)?revision\s*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at our migrations, optionally bound to a connection."""
    from alembic.config import Config

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
        head = _shipped_head() if revision == "head" else None
        if head is not None and _stored_revision(sync_conn) == head:
            return []
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

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
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(sync_conn).get_current_revision()

    async with db.read() as conn:
        return await conn.run_sync(_get)


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@cache
def _shipped_head() -> str | None:
    """The one revision no other revision follows, read from the files without Alembic;
    None (so that Alembic decides) when the files do not say it plainly."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = {bool(down): value for down, value in _REVISION.findall(script.read_text())}
        if not found:
            continue  # not a revision (__init__.py)
        if False not in found or not found[False]:
            return None
        revisions.add(found[False])
        if found.get(True):
            followed.add(found[True])
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(sync_conn: Connection) -> str | None:
    """The revision in the database's `alembic_version` table (None: none, or no table)."""
    try:
        with sync_conn.begin_nested():
            rows = sync_conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None
