"""Real media for the tests: stamped synthetic video, a tone, and aiortc publisher/subscriber peers."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Awaitable, Callable

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
BITS, BLOCK, ORIGIN = 16, 32, 16


def stamp(y_plane: np.ndarray, counter: int) -> None:
    """Write `counter` as a row of black/white 32x32 luma blocks: survives lossy coding."""
    for bit in range(BITS):
        x0 = ORIGIN + bit * BLOCK
        y_plane[ORIGIN : ORIGIN + BLOCK, x0 : x0 + BLOCK] = 235 if (counter >> bit) & 1 else 16


def read_stamp(y_plane: np.ndarray) -> int:
    return read_scaled_stamp(y_plane, 0, 0, 1.0)


def read_scaled_stamp(y_plane: np.ndarray, x: int, y: int, scale: float) -> int:
    """Read a stamp from a picture drawn at (x, y) of a larger one, scaled by `scale`."""
    counter = 0
    block = BLOCK * scale
    margin = max(1, int(block / 4))
    top = round(y + ORIGIN * scale)
    for bit in range(BITS):
        left = round(x + (ORIGIN + bit * BLOCK) * scale)
        cell = y_plane[top + margin : top + int(block) - margin, left + margin : left + int(block) - margin]
        if cell.mean() > 128:
            counter |= 1 << bit
    return counter


def read_tile_stamp(y_plane: np.ndarray, layout: str, index: int, size: tuple[int, int]) -> int:
    """Read the stamp of a WIDTH x HEIGHT source shown in tile `index` of a composed picture."""
    from media_server.frames import tile_rects
    from media_server.frames.layouts import fit

    picture = fit(WIDTH, HEIGHT, tile_rects(layout, *size)[index])
    return read_scaled_stamp(y_plane, picture.x, picture.y, picture.width / WIDTH)


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]


def scene(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A deterministic moving picture (yuv420p as one array), the same for publisher and checker."""
    y = np.indices((height, width)).sum(axis=0).astype(np.int32)
    y = ((y * 2 + index * 6) % 200 + 28).astype(np.uint8)
    u = np.full((height // 2, width), 110, np.uint8)
    v = np.full((height // 2, width), 150, np.uint8)
    out = np.concatenate([y, u[: height // 4], v[: height // 4]])
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float32) - b.astype(np.float32)) ** 2).mean())
    return 10 * math.log10(255**2 / max(mse, 1e-6))


class StampedVideoTrack(MediaStreamTrack):
    """Synthetic camera: frame n carries n in its pixels."""

    kind = "video"

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, fps: int = FPS, start: int = 0) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.start = start  # the first counter: tells publishers apart in a composed picture
        self.count = 0
        self._start: float | None = None
        self._bank = [scene(i, width, height) for i in range(30)]

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.count / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        picture = self._bank[self.count % len(self._bank)].copy()
        stamp(picture[: self.height], self.start + self.count)
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = int(self.count * 90000 / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.count += 1
        return frame

    def reference(self, counter: int) -> np.ndarray:
        picture = self._bank[(counter - self.start) % len(self._bank)].copy()
        stamp(picture[: self.height], counter)
        return picture[: self.height]


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self.count * 0.02 - time.monotonic()))
        t = (np.arange(960) + self.count * 960) / 48000
        samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.count * 960
        frame.time_base = fractions.Fraction(1, 48000)
        self.count += 1
        return frame


def prefer(transceiver, mime: str) -> None:
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == mime.lower()]
    transceiver.setCodecPreferences(chosen + [c for c in caps if c.mimeType.lower() == "video/rtx"])


Exchange = Callable[[str], Awaitable[str]]


class Publisher:
    def __init__(
        self, video_codec: str = "video/VP8", audio: bool = True, video: bool = True, start: int = 0, fps: int = FPS
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.video = StampedVideoTrack(fps=fps, start=start) if video else None
        self.audio = ToneTrack() if audio else None
        if self.audio:
            self.pc.addTransceiver(self.audio, direction="sendonly")
        if self.video:
            prefer(self.pc.addTransceiver(self.video, direction="sendonly"), video_codec)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def close(self) -> None:
        await self.pc.close()


class Subscriber:
    """Receives and decodes; records the counters it reads back."""

    def __init__(self, kinds: tuple[str, ...] = ("audio", "video"), video_codec: str | None = None) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for kind in kinds:
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            if kind == "video" and video_codec:
                prefer(transceiver, video_codec)
        self.counters: list[int] = []
        self.frames: list[av.VideoFrame] = []
        self.audio_frames = 0
        self.audio_peak = 0
        self.first_frame_at: float | None = None
        self.keep_frames = 0
        self._tasks: list[asyncio.Task] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "video":
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                self.counters.append(read_stamp(luma(frame)))
                if len(self.frames) < self.keep_frames:
                    self.frames.append(frame)
            else:
                self.audio_frames += 1
                self.audio_peak = max(self.audio_peak, int(np.abs(frame.to_ndarray()).max()))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.counters) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.counters)} of {count} frames decoded in {timeout}s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# ------------------------------------------------------------------ straight to a MediaNode, no HTTP


async def node_publish(node, room: str = "r1", codec: str = "video/VP8") -> tuple[Publisher, str]:
    publisher = Publisher(video_codec=codec)
    participant = node.join(room, name="发布者", role="staff", may_open=True)
    session = await node.publish(participant, await publisher.offer())
    await publisher.accept(session.answer_sdp)
    return publisher, participant.id


async def node_subscribe(node, source_id: str, room: str = "r1", **kwargs) -> Subscriber:
    subscriber = Subscriber(**kwargs)
    participant = node.join(room, name="观众", role="observer", may_open=False, transient=True)
    session = await node.subscribe(participant, source_id, await subscriber.offer())
    await subscriber.accept(session.answer_sdp)
    return subscriber
