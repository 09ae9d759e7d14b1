"""The database: an async SQLAlchemy engine, migrated to the newest schema at start-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from web_ui import sqlite_driver

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._writer: asyncio.Lock | None = None
        address = make_url(url)
        if address.get_backend_name() == "sqlite" and address.database not in (None, "", ":memory:"):
            # A file beside the server cannot go away like a server's connection: no ping before each use.
            self.engine: AsyncEngine = create_async_engine(
                url, async_creator=sqlite_driver.connector(address.database, check_same_thread=False)
            )
        else:
            self.engine = create_async_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self._writer = asyncio.Lock()
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    def read(self) -> AsyncConnection:
        """A plain connection for reading (in autocommit on SQLite: no transaction, no lock)."""
        return self.engine.connect()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed at the end (rolled back on an error). On SQLite writers take
        turns here: SQLite has one writer at a time and its busy handler makes the others sleep and poll, which
        under load turns a queue of milliseconds into seconds; an asyncio lock hands the turn on at once."""
        async with self._writer or contextlib.nullcontext(), self._sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: the database cannot be corrupted, and a
    # power cut can lose only the last transactions (SQLite's own advice for WAL).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
