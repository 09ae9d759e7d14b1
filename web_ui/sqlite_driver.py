"""aiosqlite with one trip to the connection's thread per statement.

SQLAlchemy's aiosqlite dialect makes four trips to the thread that owns the sqlite3 connection for every
statement (open a cursor, execute, fetch the rows, close the cursor). Each trip is a queue hand-off, a wake-up of
the thread and a wake-up of the event loop through its self-pipe, about 0.1 ms of CPU, which made a trivial
SELECT cost 0.43 ms. Here a statement is executed, its rows read and its cursor closed in one trip; the rows are
then handed out from memory. The connection is aiosqlite's own (its thread, its queue, commit, rollback, close);
only `cursor()` differs. SQLAlchemy reaches the cursor through its documented `async_creator` hook and uses
`description`, `rowcount`, `lastrowid`, `execute`, `executemany`, `fetch*` and `close`, as the DB-API has them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiosqlite


class OneTripCursor:
    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._rows = []

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneTripCursor:
        result = await self._connection.run(_statement, False, sql, parameters or ())
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneTripCursor:
        result = await self._connection.run(_statement, True, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._last_done = [True]  # set by the thread when the last statement queued has run

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(sqlite3_connection, *args)` on the connection's thread."""
        done = self._last_done = [False]

        def call() -> Any:
            try:
                return function(self._conn, *args)
            finally:
                done[0] = True

        return await self._execute(call)

    # sqlite3's commit and rollback do nothing outside a transaction (a read in autocommit, a connection going
    # back to the pool after one): then the trip is saved. Only when the thread has run the last statement,
    # though: one whose caller was cancelled may still be queued, and may yet begin a transaction.
    def _idle_outside_transaction(self) -> bool:
        return self._last_done[0] and not self._conn.in_transaction

    async def commit(self) -> None:
        if not self._idle_outside_transaction():
            await super().commit()

    async def rollback(self) -> None:
        if not self._idle_outside_transaction():
            await super().rollback()


def connector(path: str, **options: Any) -> Callable[[], Awaitable[OneTripConnection]]:
    """For `create_async_engine(url, async_creator=connector(path))`."""

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(lambda: sqlite3.connect(path, **options), iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy's dialect does: never hold the interpreter's exit
        await connection
        return connection

    return connect


def _statement(
    connection: sqlite3.Connection, many: bool, sql: str, parameters: Any
) -> tuple[Any, int, Any, list[Any]]:
    """Run one statement (`executemany` when `many`), read its rows, close its cursor: one trip."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()
