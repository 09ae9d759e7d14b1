"""Feeds: encoded video from outside WebRTC (a camera's RTSP stream), watched over WHEP like a publisher.

The feed's owner pushes complete encoded frames (Annex-B H.264 access units) on the event loop; one
`TrackForwarder` packetises each frame once and sends it to every viewer. Nothing here decodes:
in-process consumers that need pixels (motion detection) add themselves to `forwarder.listeners`.
A viewer that cannot take the feed's codec watches a `Rendition`, made once for all such viewers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from media_server.aiortc_adapter import CodecInfo, EncodedFrame
from media_server.codecs import VIDEO_CLOCK
from media_server.forwarding import TrackForwarder
from media_server.renditions import Rendition
from media_server.stats import MediaStats

logger = logging.getLogger(__name__)

# What a feed's H.264 is announced as. Cameras send Baseline, Main or High; browsers decode all three
# whatever the negotiated profile-level-id (their H.264 decoder is FFmpeg's), but only match offers
# on the profile, and not every WebRTC client offers High. Announcing Constrained Baseline with
# level-asymmetry-allowed lets every client take the stream as it comes, which is what go2rtc and
# other camera gateways do.
FEED_H264 = CodecInfo(
    "video",
    "H264",
    VIDEO_CLOCK,
    None,
    {"packetization-mode": "1", "level-asymmetry-allowed": "1", "profile-level-id": "42e01f"},
)


class Feed:
    """One video source from outside WebRTC, fanned out to its WHEP viewers as encoded frames."""

    def __init__(
        self,
        feed_id: str,
        stats: MediaStats,
        *,
        codec: CodecInfo = FEED_H264,
        request_keyframe: Callable[[], bool] | None = None,
        on_viewers_changed: Callable[[int], None] | None = None,
        keyframe_interval: float = 0.5,
    ) -> None:
        self.id = feed_id
        self.codec = codec
        self._stats = stats
        self._on_viewers_changed = on_viewers_changed
        self.renditions: dict[str, Rendition] = {}  # codec name -> the feed re-encoded for viewers that need it
        self.forwarder = TrackForwarder(
            "video",
            request_keyframe or _cannot_request,
            stats,
            keyframe_interval=keyframe_interval,
            on_subscribers_changed=self._viewers_changed,
        )
        self.forwarder.set_codec(codec)

    @property
    def viewers(self) -> int:
        return len(self.forwarder.tracks) + sum(r.viewers for r in self.renditions.values())

    @property
    def ended(self) -> bool:
        return self.forwarder.ended

    def rendition(self, codec: CodecInfo) -> Rendition:
        """The feed in `codec`, for viewers that cannot take its own: one per codec, running while watched."""
        rendition = self.renditions.get(codec.name.upper())
        if rendition is None:
            rendition = self.renditions[codec.name.upper()] = Rendition(
                self.id,
                self.forwarder,
                codec,
                self._stats,
                asyncio.get_running_loop(),
                request_source_keyframe=self.forwarder.keyframes.request,
                on_viewers_changed=self._viewers_changed,
            )
        return rendition

    def end(self) -> None:
        """No more frames: every viewer's copy ends, and every rendition stops."""
        for rendition in self.renditions.values():
            rendition.end()
        self.forwarder.end()

    def push(self, frame: EncodedFrame) -> None:
        """One complete encoded frame, on the event loop."""
        if not self.forwarder.ended:
            self.forwarder.push(self.codec, frame)

    def _viewers_changed(self) -> None:
        if self._on_viewers_changed is not None:
            self._on_viewers_changed(self.viewers)


def _cannot_request() -> bool:
    # An RTSP camera has no way back for a keyframe request: viewers wait for its next keyframe.
    return False
