"""The SQLite driver: SQLAlchemy over aiosqlite, one trip to its thread a statement."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.backends.sqlite import SqliteBackend
from storage.backends.sqlite_driver import OneTripConnection, connector

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", String, nullable=False, unique=True),
)


def _engine(path: Path) -> AsyncEngine:
    url = make_url(f"sqlite+aiosqlite:///{path}")
    return create_async_engine(url, async_creator=connector(url))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    engine = _engine(tmp_path / "notes.db")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every trip to a connection's thread, counted where aiosqlite queues it."""
    seen: list[object] = []
    queue = OneTripConnection._execute

    async def counted(self: OneTripConnection, fn: object, *args: object, **kw: object) -> object:
        seen.append(fn)
        return await queue(self, fn, *args, **kw)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(OneTripConnection, "_execute", counted)
    return seen


async def test_rows_ids_and_counts_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(notes).returning(notes.c.id), [{"body": "a"}, {"body": "b"}, {"body": "c"}]
        )
        assert sorted(result.scalars().all()) == [1, 2, 3]
        single = await conn.execute(insert(notes).values(body="d"))
        assert single.inserted_primary_key == (4,)
        updated = await conn.execute(text("UPDATE notes SET body = body || '!' WHERE id < 3"))
        assert updated.rowcount == 2
    async with engine.connect() as conn:
        rows = (await conn.execute(select(notes).order_by(notes.c.id))).all()
        assert [(r.id, r.body) for r in rows] == [(1, "a!"), (2, "b!"), (3, "c"), (4, "d")]
        assert (await conn.execute(select(notes).where(notes.c.id == 99))).first() is None
        first_two = (await conn.execute(select(notes.c.body).order_by(notes.c.id))).fetchmany(2)
        assert [r.body for r in first_two] == ["a!", "b!"]


async def test_each_statement_is_one_trip(engine: AsyncEngine, trips: list[object]) -> None:
    async with engine.connect() as conn:
        trips.clear()
        await conn.execute(select(notes))
        await conn.execute(text("SELECT 1"))
        assert len(trips) == 2  # SQLAlchemy's own adapter made four each


async def test_errors_are_sqlalchemy_errors_and_roll_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(notes).values(body="kept"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(notes).values(body="gone"))
            await conn.execute(insert(notes).values(body="kept"))  # unique: refused
    with pytest.raises(OperationalError):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    async with engine.connect() as conn:  # the connection is usable after both
        bodies = (await conn.execute(select(notes.c.body))).scalars().all()
    assert bodies == ["kept"]


async def test_the_file_is_the_one_the_url_names(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "named.db")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    await engine.dispose()
    assert (tmp_path / "named.db").is_file()


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SqliteBackend]:
    """The SQLite backend on a file of its own, with the notes table."""
    backend = SqliteBackend(
        make_url(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"), reader_pool_size=1
    )
    async with backend.writer.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield backend
    await backend.close()


@pytest.fixture
def writer(backend: SqliteBackend) -> AsyncEngine:
    """The backend's writer engine: isolation off in the driver, BEGIN IMMEDIATE emitted."""
    return backend.writer


async def test_begin_goes_with_the_first_statement(
    writer: AsyncEngine, trips: list[object], tmp_path: Path
) -> None:
    async with writer.begin() as conn:
        trips.clear()
        await conn.execute(insert(notes).values(body="one"))
        assert len(trips) == 1  # BEGIN IMMEDIATE and the INSERT in one trip
        # The lock is taken: another connection cannot write until this one commits.
        other = sqlite3.connect(tmp_path / "w.db", timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO notes (body) VALUES ('other')")
        other.close()
    assert len(trips) == 2  # and COMMIT
    async with writer.begin() as conn:
        trips.clear()
    assert trips == []  # nothing ran: no BEGIN, no COMMIT
    async with writer.connect() as conn:
        bodies = (await conn.execute(select(notes.c.body))).scalars().all()
    assert bodies == ["one"]


async def test_a_failed_first_statement_leaves_no_transaction_open(writer: AsyncEngine) -> None:
    async with writer.begin() as conn:
        await conn.execute(insert(notes).values(body="kept"))
    with pytest.raises(IntegrityError):
        async with writer.begin() as conn:
            await conn.execute(insert(notes).values(body="kept"))  # the first, refused
    with pytest.raises(IntegrityError):
        async with writer.begin() as conn:
            await conn.execute(insert(notes).values(body="gone"))
            await conn.execute(insert(notes).values(body="kept"))
    async with writer.begin() as conn:  # a new transaction begins cleanly after both
        await conn.execute(insert(notes).values(body="after"))
    async with writer.connect() as conn:
        bodies = (await conn.execute(select(notes.c.body).order_by(notes.c.id))).scalars().all()
    assert bodies == ["kept", "after"]


async def test_the_commit_and_the_mark_go_with_the_last_statement(
    backend: SqliteBackend, trips: list[object], tmp_path: Path
) -> None:
    """A group commit's transaction: BEGIN, its INSERT, the mark and COMMIT, one trip."""
    async with backend.writer.begin() as conn:
        trips.clear()
        await backend.commit_with_next(conn)
        await conn.execute(insert(notes).values(body="one"))
        assert len(trips) == 1
        # Committed in that trip: another connection sees the row, and may write.
        other = sqlite3.connect(tmp_path / "w.db", timeout=0)
        assert other.execute("SELECT body FROM notes").fetchall() == [("one",)]
        mark = await backend.foreign_write_mark(conn)  # read in that trip too
        other.execute("INSERT INTO notes (body) VALUES ('other')")
        other.commit()
        other.close()
    assert len(trips) == 1  # SQLAlchemy's COMMIT had nothing left to send
    async with backend.writer.begin() as conn:
        trips.clear()
        assert await backend.foreign_write_mark(conn) != mark  # the other's commit is seen
        await conn.execute(insert(notes).values(body="two"))
    assert len(trips) == 3  # no commit asked for with it: the mark, the INSERT, COMMIT
    async with backend.reader.connect() as conn:
        bodies = (await conn.execute(select(notes.c.body).order_by(notes.c.id))).scalars()
        assert list(bodies) == ["one", "other", "two"]


async def test_a_last_statement_that_fails_commits_nothing(backend: SqliteBackend) -> None:
    async with backend.writer.begin() as conn:
        await conn.execute(insert(notes).values(body="kept"))
    with pytest.raises(IntegrityError):
        async with backend.writer.begin() as conn:
            await conn.execute(insert(notes).values(body="gone"))
            await backend.commit_with_next(conn)
            await conn.execute(insert(notes).values(body="kept"))  # unique: refused
    async with backend.writer.begin() as conn:  # nothing left over: a plain transaction
        await conn.execute(insert(notes).values(body="after"))
        assert await backend.foreign_write_mark(conn) is not None
    async with backend.reader.connect() as conn:
        bodies = (await conn.execute(select(notes.c.body).order_by(notes.c.id))).scalars()
        assert list(bodies) == ["kept", "after"]
