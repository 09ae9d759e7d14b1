"""The SQLite driver that runs each statement in one trip to its thread: what SQLAlchemy reads from a cursor
(rows, row counts, RETURNING, errors) comes back as the stock aiosqlite driver gives it, and transactions keep
their meaning (a rollback undoes, a failed statement changes nothing, concurrent writers all land)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from web_ui import sqlite_driver
from web_ui.db import Database

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, unique=True, nullable=False),
    Column("count", Integer, nullable=False, default=0),
)


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_the_engine_uses_one_trip_connections(db: Database) -> None:
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_driver.OneTripConnection)
        # WAL and the other pragmas are set on every new connection
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1


async def test_rows_counts_and_returning(db: Database) -> None:
    async with db.engine.begin() as connection:
        result = await connection.execute(insert(things).returning(things.c.id, things.c.name), {"name": "甲"})
        assert result.all() == [(1, "甲")]
        result = await connection.execute(insert(things), [{"name": f"n{i}"} for i in range(5)])  # executemany
        assert result.rowcount == 5
        result = await connection.execute(insert(things), {"name": "乙"})
        assert result.inserted_primary_key == (7,)  # from the cursor's lastrowid
        changed = await connection.execute(update(things).where(things.c.id > 3).values(count=things.c.count + 1))
        assert changed.rowcount == 4
        nothing = await connection.execute(update(things).where(things.c.id > 100).values(count=1))
        assert nothing.rowcount == 0
    async with db.engine.connect() as connection:
        rows = (await connection.execute(select(things.c.name, things.c.count).order_by(things.c.id))).all()
        assert rows[0] == ("甲", 0) and rows[-1] == ("乙", 1) and len(rows) == 7
        first = await connection.execute(select(things.c.name).order_by(things.c.id))
        assert first.fetchone() == ("甲",)
        assert first.fetchmany(2) == [("n0",), ("n1",)]
        assert len(first.fetchall()) == 4
        assert (await connection.execute(select(func.count()).select_from(things))).scalar_one() == 7


async def test_errors_change_nothing(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(insert(things), {"name": "甲"})
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(insert(things), {"name": "乙"})
            await session.execute(insert(things), {"name": "甲"})  # unique: the whole transaction goes
    with pytest.raises(OperationalError):
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT nope FROM things"))
    async with db.transaction() as session:
        await session.execute(insert(things), {"name": "丙"})
        await session.rollback()
    async with db.engine.connect() as connection:
        names = (await connection.execute(select(things.c.name))).scalars().all()
    assert names == ["甲"]


async def test_concurrent_writers_all_land(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(insert(things), {"name": "counter"})

    async def add_one() -> None:
        async with db.transaction() as session:
            value = (await session.execute(select(things.c.count).where(things.c.name == "counter"))).scalar_one()
            await asyncio.sleep(0)  # let the others run: the writers' turn-taking must hold
            await session.execute(update(things).where(things.c.name == "counter").values(count=value + 1))

    await asyncio.gather(*(add_one() for _ in range(40)))
    async with db.engine.connect() as connection:
        count = (await connection.execute(select(things.c.count).where(things.c.name == "counter"))).scalar_one()
    assert count == 40


async def test_a_cancelled_statement_still_gets_its_rollback(db: Database) -> None:
    """A rollback is skipped only when the thread has run the last statement: a caller cancelled while its
    INSERT waits in the queue must not leave that INSERT's transaction open (and SQLite's write lock held)."""
    release = threading.Event()

    def slow_insert(connection) -> None:
        release.wait(5)
        connection.execute("INSERT INTO things (name, count) VALUES ('half', 0)")  # begins a transaction

    async with db.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        task = asyncio.create_task(raw.run(slow_insert))
        await asyncio.sleep(0.05)
        task.cancel()
        rollback = asyncio.create_task(raw.rollback())
        await asyncio.sleep(0.05)
        release.set()
        await rollback
        assert not raw._conn.in_transaction
    async with db.transaction() as session:  # the write lock is free
        await session.execute(insert(things), {"name": "next"})
    async with db.engine.connect() as connection:
        names = (await connection.execute(select(things.c.name))).scalars().all()
    assert names == ["next"]
