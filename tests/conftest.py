"""Shared fixtures."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hall_tools import Hall, running_hall


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[Hall]:
    async with running_hall(tmp_path) as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[int]:
    """A real PostgreSQL server for the session; yields its port."""
    from postgres_tools import postgres_server

    try:
        server = postgres_server()
        port, _ = server.__enter__()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        pytest.fail(f"could not start PostgreSQL: {exc} {detail}")
    try:
        yield port
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
async def postgres_url(postgres: int) -> str:
    from postgres_tools import fresh_database

    return await fresh_database(postgres)
