"""RTSP ingest: one camera stream pulled over TCP with PyAV and pushed into a media feed.

H.264 goes through as it comes: the demuxer's access units (Annex B) are handed to the feed, which
packetises them once for every viewer. Nothing is decoded. Anything a browser cannot take (H.265,
MJPEG, MPEG-4) is decoded and encoded to H.264 once, here, however many watch.

The ingest runs in its own thread (demuxing blocks) and reconnects with backoff when the camera
drops or cannot be reached, keeping the RTP timestamps running so viewers' players carry on.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import av.error

from media_server import EncodedFrame, Feed, h264_has_nal
from media_server.codecs import VIDEO_CLOCK, PictureEncoder

logger = logging.getLogger(__name__)

START_CODE = b"\x00\x00\x00\x01"
AUTH_REFUSED = "the camera refused the user name or password"
AUTH_BACKOFF = 120.0  # seconds: cameras lock an account out after repeated failed logins (Hikvision, Dahua)
TRANSCODE_BITS_PER_PIXEL = 0.1  # per frame: 1080p25 -> about 5 Mbit/s, 640x360 at 10 fps -> 230 kbit/s


class IngestState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    OFFLINE = "offline"  # the last attempt failed; retrying with backoff
    STOPPED = "stopped"


StateListener = Callable[["IngestState", "str | None"], None]


class RtspIngest:
    """Pulls one RTSP stream into `feed` until stopped. `uri` carries the credentials: never log it."""

    def __init__(
        self,
        name: str,
        uri: str,
        feed: Feed,
        loop: asyncio.AbstractEventLoop,
        *,
        on_state: StateListener | None = None,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self.name = name
        self._uri = uri
        self._feed = feed
        self._loop = loop
        self._on_state = on_state
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._backoff = backoff
        self._stop = threading.Event()
        self._keyframe_wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = IngestState.IDLE
        self.error: str | None = None
        self.codec: str | None = None  # FFmpeg's name of what the camera sends
        self.transcoding = False
        self.frames_in = 0
        self.bytes_in = 0
        self.frames_transcoded = 0
        self.connects = 0
        self._next_timestamp = 0  # where the RTP clock goes on after a reconnect
        self._last_timestamp: int | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"ingest-{self.name}", daemon=True)
        self._thread.start()

    async def stop(self, wait: float | None = None) -> None:
        """Stop pulling; returns when the thread has let go of the camera, or after `wait` seconds (by default
        as long as a blocked open or read can take: FFmpeg is interrupted at its timeouts)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            limit = self._read_timeout + self._open_timeout + 1 if wait is None else wait
            await asyncio.to_thread(thread.join, limit)
        self._set_state(IngestState.STOPPED, None)

    def request_keyframe(self) -> bool:
        """Only a transcoded stream can make a keyframe on demand; a camera's own comes on its schedule."""
        if not self.transcoding:
            return False
        self._keyframe_wanted.set()
        return True

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            if self.state is IngestState.IDLE:  # a retry stays offline until it is live again: no flapping
                self._set_state(IngestState.CONNECTING, None)
            started = time.monotonic()
            try:
                self._pull()
                error = "the stream ended"
            except av.error.FFmpegError as exc:
                error = _describe(exc)
            except (OSError, ValueError) as exc:
                error = str(exc) or type(exc).__name__
            if self._stop.is_set():
                break
            if time.monotonic() - started > 10 * self._backoff[0] and self.state is IngestState.LIVE:
                delay = self._backoff[0]  # it ran for a while: the next failure starts the backoff afresh
            if error == AUTH_REFUSED:
                delay = max(delay, AUTH_BACKOFF)
            logger.info("%s: stream lost (%s); retrying in %.1f s", self.name, error, delay)
            self._set_state(IngestState.OFFLINE, error)
            self._stop.wait(delay)
            delay = min(delay * 2, max(self._backoff[1], delay))

    def _pull(self) -> None:
        options = {"rtsp_transport": "tcp", "timeout": str(int(self._read_timeout * 1e6))}
        container = av.open(self._uri, options=options, timeout=(self._open_timeout, self._read_timeout))
        try:
            stream = next((s for s in container.streams if s.type == "video"), None)
            if stream is None:
                raise ValueError("the stream has no video")
            self.connects += 1
            self.codec = stream.codec_context.name
            self.transcoding = self.codec != "h264"
            if self.transcoding:
                logger.info("%s: camera sends %s; transcoding to H.264 once", self.name, self.codec)
            handler = _Transcoder(self, stream) if self.transcoding else _Passthrough(self, stream)
            base: int | None = None
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if packet.size == 0:
                    continue
                if base is None:
                    base = self._rebase(packet)
                handler.handle(packet, base)
        finally:
            container.close()

    def _rebase(self, packet: Any) -> int:
        """The offset that carries the RTP clock on from the previous connection."""
        first = _to_clock(packet) or 0
        return self._next_timestamp - first

    def emit(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        if self._last_timestamp is not None and timestamp <= self._last_timestamp:
            timestamp = self._last_timestamp + 1  # a camera's pts can repeat; RTP time must not go back
        self._last_timestamp = timestamp
        self._next_timestamp = timestamp + VIDEO_CLOCK // 25
        self.frames_in += 1
        self.bytes_in += len(data)
        if self.state is not IngestState.LIVE:
            self._set_state(IngestState.LIVE, None)
        frame = EncodedFrame(data, timestamp & 0xFFFFFFFF, keyframe)
        try:
            self._loop.call_soon_threadsafe(self._feed.push, frame)
        except RuntimeError:  # the loop is closed: the server is going down
            self._stop.set()

    def keyframe_wanted(self) -> bool:
        if self._keyframe_wanted.is_set():
            self._keyframe_wanted.clear()
            return True
        return False

    def _set_state(self, state: IngestState, error: str | None) -> None:
        if state is self.state and error == self.error:
            return
        self.state, self.error = state, error
        if self._on_state is not None:
            try:
                self._loop.call_soon_threadsafe(self._on_state, state, error)
            except RuntimeError:
                pass


class _Passthrough:
    """H.264 as it comes, in Annex B, with the parameter sets in front of every keyframe."""

    def __init__(self, ingest: RtspIngest, stream: Any) -> None:
        self._ingest = ingest
        extradata = bytes(stream.codec_context.extradata or b"")
        self._filter = None
        if extradata[:1] == b"\x01":  # avcC (MP4, RTMP): lengths instead of start codes
            self._filter = av.BitStreamFilterContext("h264_mp4toannexb", stream)
            extradata = b""
        self._parameter_sets = extradata

    def handle(self, packet: Any, base: int) -> None:
        packets = self._filter.filter(packet) if self._filter is not None else [packet]
        for each in packets:
            data = bytes(each)
            keyframe = bool(each.is_keyframe) or h264_has_nal(data, (5,))
            if keyframe and self._parameter_sets and not h264_has_nal(data, (7,)):
                # Some cameras (and FFmpeg's RTSP demuxer when the camera sends them only in the SDP's
                # sprop-parameter-sets) put SPS and PPS in extradata alone: a viewer joining at this
                # keyframe needs them in the stream.
                data = self._parameter_sets + data
            timestamp = _to_clock(each)
            self._ingest.emit(data, base + (timestamp if timestamp is not None else 0), keyframe)


class _Transcoder:
    """Decode what a browser cannot take and encode it to H.264, once."""

    def __init__(self, ingest: RtspIngest, stream: Any) -> None:
        self._ingest = ingest
        self._decoder = stream.codec_context
        self._decoder.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or 25
        self._fps = max(1, min(60, round(float(rate))))
        self._encoder = PictureEncoder("H264", self._fps, TRANSCODE_BITS_PER_PIXEL)
        self.broken = 0

    def handle(self, packet: Any, base: int) -> None:
        try:
            pictures = self._decoder.decode(packet)
        except av.error.InvalidDataError:  # one broken packet: skip it, the next keyframe mends the picture
            self.broken += 1
            return
        for picture in pictures:
            timestamp = _to_clock(picture)
            data, keyframe = self._encoder.encode(picture, keyframe=self._ingest.keyframe_wanted())
            if data:
                self._ingest.frames_transcoded += 1
                self._ingest.emit(data, base + (timestamp if timestamp is not None else 0), keyframe)


def _to_clock(item: Any) -> int | None:
    """An av packet's or frame's pts on the 90 kHz RTP video clock."""
    if item.pts is None or item.time_base is None:
        return None
    return int(item.pts * item.time_base * VIDEO_CLOCK)


def _describe(exc: av.error.FFmpegError) -> str:
    """FFmpeg's reason without the URL it was given (which carries the credentials)."""
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    if isinstance(exc, av.error.HTTPUnauthorizedError) or "401" in str(reason):
        return AUTH_REFUSED
    return str(reason)
