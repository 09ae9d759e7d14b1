"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hall_tools import free_port


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[int, Path]]:
    """Start a cluster on 127.0.0.1 (trust authentication, user `hall`); yields (port, socket dir)."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql when run as root")
    base = Path(tempfile.mkdtemp(prefix="hall-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()
    run = lambda *args: subprocess.run([*as_postgres, *args], check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "hall", "--no-sync", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
        try:
            yield port, base
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def fresh_database(port: int) -> str:
    import asyncpg

    name = "hall_" + secrets.token_hex(6)
    connection = await asyncpg.connect(host="127.0.0.1", port=port, user="hall", database="postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql+asyncpg://hall@127.0.0.1:{port}/{name}"
