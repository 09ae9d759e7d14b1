"""One stream path's encoder: renders the hall and encodes it while anyone watches, once for all of them.

The encoder runs in its own thread, paced by the wall clock at the stream's frame rate, and only while
at least one client plays the path: the first watcher starts it, the last one's leaving stops it. Each
encoded picture is packetised once and handed to the event loop, which gives it to every watcher.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Literal

import av
import numpy as np

from camera_control.sim import rtp
from camera_control.sim.scene import HallScene
from camera_control.sim.state import CameraState

logger = logging.getLogger(__name__)

Watcher = Callable[[rtp.AccessUnit | None], None]  # None: the stream ended (the encoder failed or stopped)
TIME_BASE = Fraction(1, rtp.CLOCK_RATE)
RESYNC_AFTER_FRAMES = 3  # this far behind the wall clock, skip ahead rather than race to catch up


@dataclasses.dataclass(frozen=True, slots=True)
class StreamSpec:
    """One RTSP path of the camera, as a camera's "main stream" or "sub stream"."""

    path: str
    width: int
    height: int
    fps: int = 25
    codec: Literal["h264", "h265"] = "h264"
    gop: int = 25
    bitrate_kbps: int = 2048

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.endswith("/") or len(self.path) < 2:
            raise ValueError(f"a stream path starts with '/' and names something, not {self.path!r}")
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(f"a stream needs a positive even size, not {self.width}x{self.height}")
        if not 1 <= self.fps <= 60 or self.gop < 1 or self.bitrate_kbps < 16:
            raise ValueError(f"fps 1..60, gop >= 1 and bitrate >= 16 kbit/s, not {self}")
        if self.codec not in ("h264", "h265"):
            raise ValueError(f"codec is h264 or h265, not {self.codec!r}")


def open_encoder(spec: StreamSpec) -> av.video.codeccontext.VideoCodecContext:
    """A low-latency encoder as an IP camera's: no B-frames, parameter sets before every IDR, forced IDRs obeyed."""
    rate_control = f"vbv-maxrate={spec.bitrate_kbps}:vbv-bufsize={spec.bitrate_kbps}"
    gop = f"keyint={spec.gop}:min-keyint={spec.gop}:scenecut=0"
    if spec.codec == "h264":
        context = av.CodecContext.create("libx264", "w")
        # without the global-header flag libx264 repeats SPS/PPS in-band before each IDR (repeat-headers)
        options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "forced-idr": "1",
            "x264-params": f"{gop}:{rate_control}",
        }
    else:
        context = av.CodecContext.create("libx265", "w")
        options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x265-params": f"{gop}:{rate_control}:bframes=0:repeat-headers=1:log-level=error",
        }
    assert isinstance(context, av.video.codeccontext.VideoCodecContext)
    context.width, context.height, context.pix_fmt = spec.width, spec.height, "yuv420p"
    context.time_base = TIME_BASE
    context.framerate = Fraction(spec.fps)
    context.gop_size = spec.gop
    context.max_b_frames = 0
    context.bit_rate = spec.bitrate_kbps * 1000
    context.options = options
    return context


def probe_parameter_sets(spec: StreamSpec) -> dict[str, bytes]:
    """The stream's parameter sets, from one grey picture through an encoder set up like the stream's
    (DESCRIBE needs them before anyone plays). Blocking: call it from a thread."""
    context = open_encoder(spec)
    frame = av.VideoFrame.from_ndarray(np.full((spec.height * 3 // 2, spec.width), 128, np.uint8), format="yuv420p")
    frame.pts = 0
    nals = [
        nal for packet in (*context.encode(frame), *context.encode(None)) for nal in rtp.split_annexb(bytes(packet))
    ]
    sets = rtp.parameter_sets(spec.codec, nals)
    if not ({"sps", "pps", "vps"} if spec.codec == "h265" else {"sps", "pps"}) <= sets.keys():
        raise RuntimeError(f"the {spec.codec} encoder gave no parameter sets")
    return sets


class StreamEncoder:
    """The encoder of one stream path, shared by every client that plays it. Use from the event loop."""

    def __init__(self, spec: StreamSpec, state: CameraState, scene: HallScene) -> None:
        self.spec = spec
        self._state = state
        self._scene = scene
        self._lock = threading.Lock()
        self._watchers: list[Watcher] = []  # touched only in the event loop
        self._watching = 0  # the count, read by the thread under the lock
        self._run: threading.Event | None = None  # the current thread's stop signal
        self._threads: list[threading.Thread] = []
        self._keyframe_wanted = threading.Event()
        self._closed = False
        self.frames_encoded = 0
        self.runs = 0  # how many times the encoder thread was started
        self._parameter_sets: dict[str, bytes] | None = None
        self._probe_lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    async def parameter_sets(self) -> dict[str, bytes]:
        async with self._probe_lock:
            if self._parameter_sets is None:
                self._parameter_sets = await asyncio.to_thread(probe_parameter_sets, self.spec)
            return self._parameter_sets

    def watch(self, watcher: Watcher) -> None:
        """Start receiving access units, from a keyframe forced for the newcomer."""
        if self._closed:
            watcher(None)
            return
        self._watchers.append(watcher)
        self._keyframe_wanted.set()
        loop = asyncio.get_running_loop()
        with self._lock:
            self._watching = len(self._watchers)
            if self._run is not None and not self._run.is_set():
                return  # running, and not on its way out
            self._run = threading.Event()  # a thread told to stop finishes on its own; this one replaces it
            thread = threading.Thread(
                target=self._encode, args=(self._run, loop), name=f"camera-sim-encoder{self.spec.path}", daemon=True
            )
            self.runs += 1
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def unwatch(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)
        with self._lock:
            self._watching = len(self._watchers)
            if self._watching == 0 and self._run is not None:
                self._run.set()  # wake it: it sees nobody is watching and ends

    def request_keyframe(self) -> None:
        self._keyframe_wanted.set()

    async def close(self) -> None:
        """Stop the thread and wait for it; watchers are told the stream ended."""
        self._closed = True
        with self._lock:
            if self._run is not None:
                self._run.set()
        for thread in self._threads:
            await asyncio.to_thread(thread.join)
        self._threads.clear()
        self._ended()

    # ------------------------------------------------------------------ the thread

    def _encode(self, stop: threading.Event, loop: asyncio.AbstractEventLoop) -> None:
        failed = False
        try:
            self._encode_until_stopped(stop, loop)
        except RuntimeError:
            if not loop.is_closed():
                failed = True
                logger.exception("%s: the encoder failed", self.spec.path)
        except Exception:  # the thread's boundary: log it and end the stream rather than leave watchers hanging
            failed = True
            logger.exception("%s: the encoder failed", self.spec.path)
        finally:
            with self._lock:
                if self._run is stop:
                    self._run = None
        if failed and not loop.is_closed():
            loop.call_soon_threadsafe(self._ended)

    def _encode_until_stopped(self, stop: threading.Event, loop: asyncio.AbstractEventLoop) -> None:
        spec = self.spec
        context = open_encoder(spec)
        origin = start = time.time()
        last_pts = -1
        index = 0
        captured: dict[int, float] = {}  # pts -> capture time, for the packets an encoder might hold back
        while not stop.wait(max(0.0, start + index / spec.fps - time.time())):
            now = time.time()
            if now - (start + index / spec.fps) > RESYNC_AFTER_FRAMES / spec.fps:
                start, index = now, 0  # the machine was busy: drop the missed frames, keep the pace
            with self._lock:
                if self._watching == 0 or self._closed:
                    if self._run is stop:
                        self._run = None  # in the same breath as the check, so a newcomer starts a new thread
                    return
            frame = self._scene.render(self._state, spec.width, spec.height, now)
            last_pts = frame.pts = max(last_pts + 1, round((now - origin) * rtp.CLOCK_RATE))
            captured[last_pts] = now
            if self._keyframe_wanted.is_set():
                self._keyframe_wanted.clear()
                frame.pict_type = av.video.frame.PictureType.I
            for packet in context.encode(frame):
                capture = captured.pop(packet.pts, now) if packet.pts is not None else now
                nals = rtp.split_annexb(bytes(packet))
                unit = rtp.AccessUnit(tuple(rtp.payloads(spec.codec, nals)), capture, packet.is_keyframe)
                loop.call_soon_threadsafe(self._deliver, unit)
            for stale in [pts for pts in captured if pts < last_pts - spec.fps * rtp.CLOCK_RATE]:
                del captured[stale]  # never came out (not expected with zerolatency): keep the map small
            self.frames_encoded += 1
            index += 1

    def _deliver(self, unit: rtp.AccessUnit) -> None:
        for watcher in list(self._watchers):
            watcher(unit)

    def _ended(self) -> None:
        watchers, self._watchers = self._watchers, []
        with self._lock:
            self._watching = 0
        for watcher in watchers:
            watcher(None)
