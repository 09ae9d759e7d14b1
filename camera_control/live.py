"""Live view: one ingest per camera stream however many watch, running only while something needs it.

A stream is needed while it has WHEP viewers (counted by its feed) or holders (motion detection,
later recording). When the need ends, the ingest stops after a short grace, so a guard flicking
between cameras does not make the camera reconnect each time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Literal

from camera_control.ingest import IngestState, RtspIngest
from camera_control.onvif.uris import with_credentials
from camera_control.registry import CameraRecord
from camera_control.settings import CameraSettings
from media_server import Feed, MediaNode, PeerSession

logger = logging.getLogger(__name__)

Which = Literal["main", "sub"]
StatusListener = Callable[[int, str, IngestState, "str | None"], None]


@dataclasses.dataclass(eq=False)
class LiveStream:
    camera_id: int
    which: str
    feed: Feed
    ingest: RtspIngest
    holders: set[str] = dataclasses.field(default_factory=set)
    stop_timer: asyncio.TimerHandle | None = None

    @property
    def needed(self) -> bool:
        return self.feed.viewers > 0 or bool(self.holders)


def feed_id(camera_id: int, which: str) -> str:
    return f"camera-{camera_id}-{which}"


class LiveStreams:
    def __init__(self, media: MediaNode, settings: CameraSettings, *, on_status: StatusListener | None = None) -> None:
        self._media = media
        self._settings = settings
        self._on_status = on_status
        self.streams: dict[tuple[int, str], LiveStream] = {}

    async def watch(
        self, camera: CameraRecord, password: str, which: Which, offer_sdp: str, *, viewer: str
    ) -> PeerSession:
        """A viewer's WHEP offer answered with the camera's stream, forwarded as it comes."""
        stream = self._ensure(camera, password, which)
        try:
            return await self._media.watch_feed(stream.feed.id, offer_sdp, viewer=viewer)
        finally:
            self._review(stream)  # a failed negotiation leaves the stream unneeded

    def hold(self, camera: CameraRecord, password: str, which: Which, holder: str) -> Feed:
        """Keep the stream running for an in-process consumer (motion detection); returns its feed."""
        stream = self._ensure(camera, password, which)
        stream.holders.add(holder)
        self._review(stream)
        return stream.feed

    def release(self, camera_id: int, which: str, holder: str) -> None:
        stream = self.streams.get((camera_id, which))
        if stream is not None:
            stream.holders.discard(holder)
            self._review(stream)

    def state(self, camera_id: int, which: str) -> IngestState | None:
        stream = self.streams.get((camera_id, which))
        return stream.ingest.state if stream is not None else None

    def ingest(self, camera_id: int, which: str) -> RtspIngest | None:
        stream = self.streams.get((camera_id, which))
        return stream.ingest if stream is not None else None

    async def stop_camera(self, camera_id: int) -> None:
        for key in [k for k in self.streams if k[0] == camera_id]:
            await self._stop(self.streams[key])

    async def close(self) -> None:
        """At shutdown: every stream at once, without waiting long for a camera that does not answer."""
        await asyncio.gather(*(self._stop(stream, wait=1.0) for stream in list(self.streams.values())))

    # ------------------------------------------------------------------ internals

    def _ensure(self, camera: CameraRecord, password: str, which: Which) -> LiveStream:
        key = (camera.id, which)
        stream = self.streams.get(key)
        if stream is not None:
            return stream
        name = f"camera {camera.id} {which}"
        ingest_box: list[RtspIngest] = []

        def request_keyframe() -> bool:
            return ingest_box[0].request_keyframe() if ingest_box else False

        feed = self._media.add_feed(
            feed_id(camera.id, which),
            request_keyframe=request_keyframe,
            on_viewers_changed=lambda _count: self._review_key(key),
        )
        ingest = RtspIngest(
            name,
            with_credentials(camera.uri(which), camera.username, password),
            feed,
            asyncio.get_running_loop(),
            on_state=lambda state, error: self._status(camera.id, which, state, error),
            open_timeout=self._settings.rtsp_timeout,
            read_timeout=self._settings.rtsp_timeout,
            backoff=(self._settings.reconnect_min, self._settings.reconnect_max),
        )
        ingest_box.append(ingest)
        stream = LiveStream(camera.id, which, feed, ingest)
        self.streams[key] = stream
        ingest.start()
        logger.info("camera %d: %s stream started", camera.id, which)
        return stream

    def _review_key(self, key: tuple[int, str]) -> None:
        stream = self.streams.get(key)
        if stream is not None:
            self._review(stream)

    def _review(self, stream: LiveStream) -> None:
        if stream.needed:
            if stream.stop_timer is not None:
                stream.stop_timer.cancel()
                stream.stop_timer = None
            return
        if stream.stop_timer is None and self.streams.get((stream.camera_id, stream.which)) is stream:
            loop = asyncio.get_running_loop()
            stream.stop_timer = loop.call_later(self._settings.idle_stop, self._stop_if_unneeded, stream)

    def _stop_if_unneeded(self, stream: LiveStream) -> None:
        stream.stop_timer = None
        if not stream.needed:
            task = asyncio.ensure_future(self._stop_unneeded(stream))
            task.add_done_callback(_log_failure)

    async def _stop_unneeded(self, stream: LiveStream) -> None:
        if not stream.needed:  # a viewer may have come between the timer and now
            await self._stop(stream)

    async def _stop(self, stream: LiveStream, wait: float | None = None) -> None:
        key = (stream.camera_id, stream.which)
        if self.streams.get(key) is not stream:
            return
        del self.streams[key]
        if stream.stop_timer is not None:
            stream.stop_timer.cancel()
        await self._media.remove_feed(stream.feed.id)
        await stream.ingest.stop(wait)
        logger.info("camera %d: %s stream stopped", stream.camera_id, stream.which)

    def _status(self, camera_id: int, which: str, state: IngestState, error: str | None) -> None:
        if self._on_status is not None:
            self._on_status(camera_id, which, state, error)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("stopping a camera stream failed", exc_info=task.exception())
