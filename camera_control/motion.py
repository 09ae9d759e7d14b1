"""Motion events: from the camera's own ONVIF events, or from the frame core's detector on its sub-stream.

Either source reports "motion now / no motion now"; `MotionTracker` turns that into events with a
start and an end (an event ends `hold` seconds after the last motion, so a person pausing mid-hall
is one event, not five), and the service stores and publishes them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

import av

from media_server import CodecInfo, EncodedFrame, Feed
from media_server.codecs import VideoDecoder
from media_server.frames import MotionDetector, MotionResult

logger = logging.getLogger(__name__)

Box = list[float]  # x, y, width, height as fractions of the picture


@dataclasses.dataclass(frozen=True, slots=True)
class MotionSample:
    """What one look at the camera found."""

    active: bool
    score: float = 0.0
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    topic: str = ""


@dataclasses.dataclass(slots=True)
class OpenEvent:
    started_at: dt.datetime
    source: str
    topic: str
    score: float
    boxes: list[Box]
    last_motion: float  # monotonic
    event_id: int | None = None
    saved: asyncio.Future[None] | None = None  # the store's write of its start


class MotionTracker:
    """Motion samples in, events out: `on_start(event)` when motion begins, `on_end(event)` when it has ended."""

    def __init__(
        self,
        source: str,
        hold: float,
        on_start: Callable[[OpenEvent], object],
        on_end: Callable[[OpenEvent, dt.datetime], object],
    ) -> None:
        self.source = source
        self._hold = hold
        self._on_start = on_start
        self._on_end = on_end
        self.current: OpenEvent | None = None
        self._end_timer: asyncio.TimerHandle | None = None

    def update(self, sample: MotionSample, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        event = self.current
        if sample.active:
            self._cancel_timer()
            boxes = [list(b) for b in sample.boxes]
            if event is None:
                self.current = OpenEvent(sample.at, self.source, sample.topic, sample.score, boxes, now)
                self._on_start(self.current)
                return
            event.last_motion = now
            if sample.score >= event.score:
                event.score = sample.score
                event.boxes = boxes or event.boxes
            return
        if event is None:
            return
        remaining = self._hold - (now - event.last_motion)
        if remaining <= 0:
            self._cancel_timer()
            self.current = None
            self._on_end(event, sample.at)
        elif self._end_timer is None:
            # A camera says "no motion" once, often within the hold, then nothing: end it when the hold is up.
            self._end_timer = asyncio.get_running_loop().call_later(remaining, self._expire)

    def _expire(self) -> None:
        self._end_timer = None
        self.update(MotionSample(False))

    def _cancel_timer(self) -> None:
        if self._end_timer is not None:
            self._end_timer.cancel()
            self._end_timer = None

    def close(self) -> None:
        """End an open event (the camera is going away)."""
        self._cancel_timer()
        if self.current is not None:
            event, self.current = self.current, None
            self._on_end(event, dt.datetime.now(dt.UTC))


class DetectorWatch:
    """The frame core's MotionDetector on a camera's sub-stream: decoded once, looked at `fps` times a second.

    The decoder runs in its own thread and keeps only the newest picture; detection runs in a worker
    thread, so the event loop only hands frames over.
    """

    def __init__(
        self,
        name: str,
        feed: Feed,
        fps: float,
        report: Callable[[MotionSample], None],
        *,
        masks: Sequence[Sequence[Sequence[float]]] = (),
    ) -> None:
        self.name = name
        self._masks = masks  # polygons in fractions of the picture: an OSD clock, a window onto the street
        self._feed = feed
        self._interval = 1.0 / fps
        self._report = report
        self._decoder = VideoDecoder(name, _no_keyframe_request)
        self._detector: MotionDetector | None = None
        self._task: asyncio.Task[None] | None = None
        self.looked = 0
        feed.forwarder.listeners.append(self._listen)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"motion-{self.name}")

    def recalibrate(self) -> None:
        """The camera moved: what looks like motion now is the new view."""
        if self._detector is not None:
            self._detector.recalibrate()

    async def stop(self) -> None:
        if self._listen in self._feed.forwarder.listeners:
            self._feed.forwarder.listeners.remove(self._listen)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._decoder.close()
        await asyncio.to_thread(self._decoder.join)

    def _listen(self, codec: CodecInfo, frame: EncodedFrame) -> None:
        self._decoder.feed(codec, frame)

    async def _run(self) -> None:
        seen: av.VideoFrame | None = None
        while True:
            await asyncio.sleep(self._interval)
            picture = self._decoder.latest
            if picture is None or picture is seen:
                continue
            seen = picture
            try:
                result = await asyncio.to_thread(self._detect, picture)
            except ValueError as exc:  # a picture the detector cannot take: say so once in a while
                logger.warning("%s: motion detection skipped a picture: %s", self.name, exc)
                continue
            self.looked += 1
            self._report(_sample(result, picture.width, picture.height))

    def _detect(self, picture: av.VideoFrame) -> MotionResult:
        detector = self._detector
        if detector is None or (detector.width, detector.height) != (picture.width, picture.height):
            scale = (picture.width, picture.height)
            masks = [[(x * scale[0], y * scale[1]) for x, y in polygon] for polygon in self._masks]
            detector = self._detector = MotionDetector(picture.width, picture.height, masks=masks)
        return detector.detect_frame(picture)


def _sample(result: MotionResult, width: int, height: int) -> MotionSample:
    boxes = tuple(
        (round(b.x / width, 4), round(b.y / height, 4), round(b.width / width, 4), round(b.height / height, 4))
        for b in result.boxes
    )
    active = bool(boxes) and not result.calibrating
    return MotionSample(active, round(result.score, 4), boxes if active else (), topic="detector")


def _no_keyframe_request() -> None:
    # The sub-stream comes from a camera: no way back to ask; the decoder waits for the next keyframe.
    return None
