"""A real hall server (uvicorn on 127.0.0.1, a random port) in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from media_server import aiortc_adapter
from scheduler import Clock
from web_ui import create_app, load_settings
from web_ui.identity.roles import Role
from web_ui.services import Services

# Every peer in the tests, the server's and the clients', gathers on loopback only.
aiortc_adapter.configure_ice(
    interfaces=["127.0.0.1"], port_range=None, advertised_addresses=[], consent_interval=5.0, consent_failures=6
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class Hall:
    base_url: str
    services: Services
    client: httpx.AsyncClient
    data_dir: Path

    def token(self, room: str, role: Role | str = Role.STAFF, name: str = "测试员", ttl: int = 600) -> str:
        return self.services.tokens.issue_join(room, role, name, ttl)

    async def add_user(self, username: str, role: Role | str, password: str = "correct-horse-9") -> None:
        await self.services.users.add(username, password, role, f"{username}-名")

    async def login(self, username: str, password: str = "correct-horse-9") -> dict[str, Any]:
        response = await self.client.post("/api/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        return response.json()

    async def bearer(self, username: str, role: Role | str, *, new_account: bool = True) -> dict[str, str]:
        """Headers for an API client of a new account, or another sign-in of an existing one (no cookies kept)."""
        if new_account:
            await self.add_user(username, role)
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.post("/api/auth/login", json={"username": username, "password": "correct-horse-9"})
            response.raise_for_status()
        return {"Authorization": "Bearer " + response.json()["token"]}


@contextlib.asynccontextmanager
async def running_hall(tmp_path: Path, *, clock: Clock | None = None, **overrides: Any) -> AsyncIterator[Hall]:
    """A hall on a free port; `clock` drives its scheduler (a test clock), the system clock when unset."""
    port = free_port()
    media = {"interfaces": ["127.0.0.1"], **overrides.pop("media", {})}
    settings = load_settings(
        server={"data_dir": tmp_path / "data", "port": port, **overrides.pop("server", {})}, media=media, **overrides
    )
    app = create_app(settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as client:
        try:
            yield Hall(base_url, app.state.services, client, tmp_path / "data")
        finally:
            server.should_exit = True
            await task
