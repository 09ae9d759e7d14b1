"""A hall with simulated cameras: add them over the API, watch them over WHEP with aiortc, read the sim's clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import cv2
import httpx
import numpy as np
import websockets
from media_tools import Subscriber, luma

from camera_control.sim.camera import SimulatedCamera
from camera_control.sim.scene import read_clock_stamp, stamp_time

SIM_USER, SIM_PASSWORD = "admin", "sim-pass-1"


@contextlib.asynccontextmanager
async def simulated_camera(**options: Any) -> AsyncIterator[SimulatedCamera]:
    options.setdefault("main_size", (640, 360))
    options.setdefault("figure_every", None)
    camera = SimulatedCamera("127.0.0.1", 0, 0, SIM_USER, SIM_PASSWORD, **options)
    async with camera:
        yield camera


def camera_body(camera: SimulatedCamera, name: str = "大厅东南角", **changes: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "location": "接待大厅",
        "host": "127.0.0.1",
        "port": camera.onvif_port,
        "username": SIM_USER,
        "password": SIM_PASSWORD,
    }
    body.update(changes)
    return body


class CameraViewer(Subscriber):
    """An aiortc WHEP viewer of one camera: keeps the decoded pictures and when each arrived."""

    def __init__(self, video_codec: str = "video/H264") -> None:
        super().__init__(kinds=("video",), video_codec=video_codec)
        self.pictures: list[tuple[float, np.ndarray]] = []  # (host time decoded, luma)
        self._picture_task: asyncio.Task | None = None

    async def _consume(self, track) -> None:  # type: ignore[override]
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.pictures.append((time.time(), luma(frame).copy()))
            self.counters.append(len(self.pictures))
            if len(self.pictures) > 300:
                del self.pictures[:100]

    def latest(self) -> np.ndarray:
        return self.pictures[-1][1]

    def clock_stamps(self) -> list[float]:
        """The simulator's capture time of each decoded picture (host seconds)."""
        return [stamp_time(read_clock_stamp(picture), at) for at, picture in self.pictures]

    async def next_pictures(self, count: int, timeout: float = 15.0) -> list[np.ndarray]:
        start = len(self.counters)
        await self.wait_frames(start + count, timeout)
        return [picture for _, picture in self.pictures[-count:]]


async def watch(
    hall, camera_id: int, headers: dict[str, str], stream: str = "main", video_codec: str = "video/H264"
) -> tuple[CameraViewer, str]:
    viewer = CameraViewer(video_codec)
    response = await hall.client.post(
        f"/whep/cameras/{camera_id}",
        params={"stream": stream},
        content=await viewer.offer(),
        headers={"Content-Type": "application/sdp", **headers},
    )
    assert response.status_code == 201, response.text
    await viewer.accept(response.text)
    return viewer, response.headers["location"]


def shift_between(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """How far the picture content moved (x, y in pixels), by phase correlation on the upper part (no stamp)."""
    height = before.shape[0] * 8 // 10
    a = np.float32(before[:height])
    b = np.float32(after[:height])
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
    return dx, dy


class WallSocket:
    """The camera wall's live socket, as a signed-in browser opens it (cookie, same origin)."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.messages: list[dict[str, Any]] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, hall, session_token: str) -> AsyncIterator[WallSocket]:
        url = hall.base_url.replace("http", "ws") + "/ws/cameras"
        async with websockets.connect(
            url, additional_headers={"Cookie": f"hall_session={session_token}"}, origin=hall.base_url
        ) as connection:
            socket = cls(connection)
            reader = asyncio.ensure_future(socket._read())
            try:
                yield socket
            finally:
                reader.cancel()

    async def _read(self) -> None:
        async for raw in self.connection:
            self.messages.append(json.loads(raw))

    async def wait_for(self, predicate, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                types = [m.get("type") for m in self.messages]
                raise AssertionError(f"no such message on the wall's socket; got {types}")
            await asyncio.sleep(0.05)


async def session_token(hall, username: str, role: str) -> str:
    await hall.add_user(username, role)
    async with httpx.AsyncClient(base_url=hall.base_url) as client:
        response = await client.post("/api/auth/login", json={"username": username, "password": "correct-horse-9"})
        response.raise_for_status()
        return response.json()["token"]
