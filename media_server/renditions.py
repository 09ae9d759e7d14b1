"""A feed re-encoded for viewers that cannot take its codec: decoded and encoded once, however many watch.

A camera's H.264 goes to viewers as it comes. A browser without H.264 (some Chromium builds, Firefox
before it has fetched OpenH264) offers only VP8; for it the feed is decoded and encoded to VP8 once,
in one thread, and that rendition is forwarded to every such viewer like any other stream. It runs
only while it has viewers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import av

from media_server.aiortc_adapter import CodecInfo, EncodedFrame
from media_server.codecs import VIDEO_CLOCK, PictureEncoder, VideoDecoder
from media_server.forwarding import TrackForwarder
from media_server.stats import MediaStats

logger = logging.getLogger(__name__)

RENDITION_VP8 = CodecInfo("video", "VP8", VIDEO_CLOCK, None, {})
RENDITION_FPS = 25  # cameras in the hall's region run at 25 fps; it sets the encoder's rate control
RENDITION_BITS_PER_PIXEL = 0.08  # per frame: about 4 Mbit/s for 1080p25, 0.5 Mbit/s for 640x360


class Rendition:
    """One feed's video in another codec, for the viewers that need it."""

    def __init__(
        self,
        name: str,
        source: TrackForwarder,
        codec: CodecInfo,
        stats: MediaStats,
        loop: asyncio.AbstractEventLoop,
        *,
        request_source_keyframe: Callable[[], None],
        on_viewers_changed: Callable[[], None],
    ) -> None:
        self.name = name
        self.codec = codec
        self._source = source
        self._loop = loop
        self._request_source_keyframe = request_source_keyframe
        self._on_viewers_changed = on_viewers_changed
        self.forwarder = TrackForwarder("video", self._want_keyframe, stats, on_subscribers_changed=self._changed)
        self.forwarder.set_codec(codec)
        self._encoder = PictureEncoder(codec.name, RENDITION_FPS, RENDITION_BITS_PER_PIXEL)
        self._keyframe_wanted = threading.Event()
        self._decoder: VideoDecoder | None = None
        self._stopped: VideoDecoder | None = None
        self.frames_encoded = 0
        self.errors = 0

    @property
    def viewers(self) -> int:
        return len(self.forwarder.tracks)

    @property
    def running(self) -> bool:
        return self._decoder is not None

    def start(self) -> None:
        if self._decoder is not None:
            return
        self._keyframe_wanted.set()
        self._decoder = VideoDecoder(f"rendition-{self.name}", self._ask_source_for_keyframe, on_picture=self._encode)
        self._source.listeners.append(self._decoder.feed)
        logger.info("%s: encoding to %s once for the viewers that cannot take the source", self.name, self.codec.name)

    def stop(self) -> None:
        """Stop decoding and encoding; the thread ends by itself at once (`join` waits for it)."""
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return
        if decoder.feed in self._source.listeners:
            self._source.listeners.remove(decoder.feed)
        decoder.close()
        self._stopped = decoder
        logger.info("%s: %s rendition stopped after %d frames", self.name, self.codec.name, self.frames_encoded)

    def join(self, timeout: float = 5.0) -> None:
        if self._stopped is not None:
            self._stopped.join(timeout)

    def end(self) -> None:
        self.stop()
        self.forwarder.end()

    # ------------------------------------------------------------------ event loop side

    def _changed(self) -> None:
        if self.viewers and not self.forwarder.ended:
            self.start()
        elif not self.viewers:
            self.stop()
        self._on_viewers_changed()

    def _want_keyframe(self) -> bool:
        self._keyframe_wanted.set()  # the next picture is encoded as a keyframe: no wait for the camera's
        return True

    # ------------------------------------------------------------------ decoder thread side

    def _ask_source_for_keyframe(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._request_source_keyframe)
        except RuntimeError:  # the loop has closed: the hall is stopping
            pass

    def _encode(self, picture: av.VideoFrame, source: EncodedFrame) -> None:
        try:
            self._encode_one(picture, source)
        except (av.FFmpegError, ValueError) as exc:  # one bad picture must not end the rendition's thread
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                logger.warning("%s: %s encode failed (%d times): %s", self.name, self.codec.name, self.errors, exc)
            self._keyframe_wanted.set()

    def _encode_one(self, picture: av.VideoFrame, source: EncodedFrame) -> None:
        wanted = self._keyframe_wanted.is_set()
        if wanted:
            self._keyframe_wanted.clear()
        data, keyframe = self._encoder.encode(picture, keyframe=wanted)
        if not data:
            return
        self.frames_encoded += 1
        frame = EncodedFrame(data, source.timestamp, keyframe)
        try:
            self._loop.call_soon_threadsafe(self._push, frame)
        except RuntimeError:
            pass

    def _push(self, frame: EncodedFrame) -> None:
        if not self.forwarder.ended:
            self.forwarder.push(self.codec, frame)
