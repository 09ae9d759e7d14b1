"""The scheduler's tests run on SQLite and on a real PostgreSQL server alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from web_ui.db import Database


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgres":
        from postgres_tools import fresh_database

        url = await fresh_database(request.getfixturevalue("postgres"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'hall.db'}"
    database = Database(url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.dispose()
