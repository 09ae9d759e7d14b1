"""Selective forwarding: one publisher's encoded frames to every subscriber, never decoded.

A `TrackForwarder` exists per published track. It hands each encoded frame's RTP payloads, as one
`ForwardedFrame`, to every `ForwardedTrack`; each subscriber's sender only adds its RTP header and
encryption (aiortc_adapter.install_forwarding_sender). A frame received over RTP keeps the payloads
the publisher made, descriptors and all, as SFUs do; a frame made here (a camera's, the program's)
is split into payloads once, whatever the number of subscribers. New and overflowed
subscribers wait for a keyframe, and their keyframe requests, with every subscriber's PLI/FIR,
become one throttled request to the publisher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media_server.aiortc_adapter import PAD_MAX, CodecInfo, EncodedFrame, SendResult
from media_server.packetizer import PACKET_MAX, Packetizer
from media_server.stats import MediaStats

logger = logging.getLogger(__name__)


class ForwardedFrame:
    """One frame as every subscriber sends it: RTP payloads and the RTP timestamp, with what every
    subscriber's sender needs worked out once (a plain class: made 30 times a second per track)."""

    __slots__ = ("keyframe", "largest", "pads", "payload_size", "payloads", "segment", "size", "timestamp")

    def __init__(self, payloads: list[bytes], timestamp: int, size: int, keyframe: bool) -> None:
        sizes = list(map(len, payloads))
        largest = max(sizes)
        self.payloads = payloads
        self.timestamp = timestamp
        self.size = size  # of the encoded frame
        self.keyframe = keyframe
        self.payload_size = sum(sizes)  # of the payloads together (the frame and its payload descriptors)
        self.largest = largest
        # The size every payload but the last is, or is padded to, so that the frame leaves in one UDP
        # segmentation send; 0 when the payloads are too uneven for that.
        self.segment = largest
        self.pads: list[int] | None = None  # the RTP padding each payload gets (None: none)
        shortest = min(sizes[:-1]) if len(sizes) > 1 else largest
        if shortest < largest:  # a publisher that splits frames about equally, as libwebrtc does
            if largest - shortest <= PAD_MAX:
                self.pads = [largest - s for s in sizes[:-1]] + [0]
            else:
                self.segment = 0


class KeyframeRequester:
    """Coalesces keyframe requests: at most one per `interval`, none lost.

    A request inside the quiet interval is remembered and sent when the interval ends, so a
    subscriber that asks during another's cool-down still gets its keyframe.
    """

    def __init__(self, send: Callable[[], bool], interval: float, stats: MediaStats) -> None:
        self._send = send
        self._interval = interval
        self._stats = stats
        self._last_sent = -float("inf")
        self._pending: asyncio.TimerHandle | None = None
        self.requests_received = 0
        self.requests_sent = 0

    def request(self) -> None:
        self.requests_received += 1
        if self._pending is not None:
            return
        wait = self._last_sent + self._interval - time.monotonic()
        if wait <= 0:
            self._fire()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self._fire)

    def _fire(self) -> None:
        self._pending = None
        if self._send():
            self._last_sent = time.monotonic()
            self.requests_sent += 1
            self._stats.keyframe_requests += 1

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


FrameSink = Callable[[ForwardedFrame], SendResult]
FrameListener = Callable[[CodecInfo, EncodedFrame], None]


class ForwardedTrack(MediaStreamTrack):
    """A subscriber's copy of a published track.

    Frames go out as they arrive, through the subscriber's forwarding sender (its `sink`), with no
    queue and no task per subscriber: UDP never blocks, so the only backlog is the socket's send
    buffer, and a subscriber whose buffer is backed up skips to the next keyframe instead of growing
    memory and delay. Until the subscriber is connected, frames pass it by.
    """

    def __init__(self, forwarder: TrackForwarder, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._forwarder = forwarder
        self._sink: FrameSink | None = None
        self._ended: asyncio.Future[None] | None = None
        self.waiting_for_keyframe = kind == "video"
        self.frames_sent = 0
        self.frames_dropped = 0

    def attach_sink(self, sink: FrameSink) -> None:
        """The subscriber is connected: send from now on, starting at a fresh keyframe."""
        if self.readyState != "live":
            return
        self._sink = sink
        if self.kind == "video":
            self.waiting_for_keyframe = True
            self._forwarder.keyframes.request()

    def offer(self, frame: ForwardedFrame) -> bool:
        """Send a frame; returns False when this subscriber needs a keyframe first."""
        sink = self._sink  # None until connected, and once stopped
        if sink is None:
            return True
        if self.waiting_for_keyframe and not frame.keyframe:
            return False
        result = sink(frame)
        if result is SendResult.SENT:
            self.waiting_for_keyframe = False
            self.frames_sent += 1
            stats = self._forwarder.stats
            stats.forwarded_frames += 1
            stats.forwarded_bytes += frame.size
            return True
        if result is SendResult.CONGESTED:
            self.frames_dropped += 1
            self._forwarder.stats.dropped_frames += 1
        if self.kind != "video":
            return True
        self.waiting_for_keyframe = True
        return result is SendResult.NOT_READY  # a congested subscriber wants a keyframe when it drains

    async def wait_ended(self) -> None:
        if self.readyState != "live":
            return
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._ended)

    async def recv(self) -> ForwardedFrame:  # type: ignore[override]
        # Frames are pushed to the sink, never pulled: recv only tells a reader when the track ends.
        await self.wait_ended()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._sink = None
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)
        self._forwarder.unsubscribe(self)


class TrackForwarder:
    """Fans one published track out to its subscribers as encoded frames."""

    def __init__(
        self,
        kind: str,
        request_keyframe: Callable[[], bool],
        stats: MediaStats,
        *,
        keyframe_interval: float = 0.5,
        on_subscribers_changed: Callable[[], None] | None = None,
    ) -> None:
        self.kind = kind
        self.stats = stats
        self.codec: CodecInfo | None = None
        self.tracks: set[ForwardedTrack] = set()
        # In-process consumers of the encoded frames (the program's decoders), called before any send.
        self.listeners: list[FrameListener] = []
        self._on_subscribers_changed = on_subscribers_changed
        self.keyframes = KeyframeRequester(request_keyframe, keyframe_interval, stats)
        self._packetizer: Packetizer | None = None
        self.frames_in = 0
        self.keyframes_in = 0
        self.bytes_in = 0
        self.last_frame_at: float | None = None
        self.ended = False

    def push(self, codec: CodecInfo, frame: EncodedFrame) -> None:
        if self._packetizer is None or self.codec is None or self.codec.name != codec.name:
            self.set_codec(codec)
        self.frames_in += 1
        self.bytes_in += len(frame.data)
        self.keyframes_in += frame.keyframe
        self.last_frame_at = time.monotonic()
        for listener in self.listeners:
            listener(codec, frame)
        if not self.tracks or not frame.data:  # nobody to send to, or only padding arrived
            return
        if frame.after_gap and not frame.keyframe:
            # The publisher's hop lost frames for good: what follows does not decode without a keyframe.
            for track in self.tracks:
                track.waiting_for_keyframe = True
        size, payloads = len(frame.data), frame.payloads  # the publisher's own payloads, when it came over RTP
        forwarded = None if payloads is None else ForwardedFrame(payloads, frame.timestamp, size, frame.keyframe)
        if forwarded is None or forwarded.largest > PACKET_MAX:  # made here, or too large to forward as it came
            assert self._packetizer is not None  # set with the codec
            forwarded = ForwardedFrame(self._packetizer.payloads(frame), frame.timestamp, size, frame.keyframe)
        needs_keyframe = False
        for track in list(self.tracks):  # a send may end a track
            if not track.offer(forwarded):
                needs_keyframe = True
        if needs_keyframe:
            self.keyframes.request()

    def set_codec(self, codec: CodecInfo) -> None:
        self.codec = codec
        self._packetizer = Packetizer(codec)

    def subscribe(self) -> ForwardedTrack:
        if self.ended:
            raise RuntimeError("track already ended")
        track = ForwardedTrack(self, self.kind)
        self.tracks.add(track)
        self.stats.subscriptions += 1
        if self._on_subscribers_changed is not None:
            self._on_subscribers_changed()
        return track

    def unsubscribe(self, track: ForwardedTrack) -> None:
        if track in self.tracks:
            self.tracks.discard(track)
            self.stats.subscriptions -= 1
            if self._on_subscribers_changed is not None:
                self._on_subscribers_changed()

    def end(self) -> None:
        """The publisher's track ended: end every subscriber's copy."""
        if self.ended:
            return
        self.ended = True
        self.keyframes.close()
        for track in list(self.tracks):
            track.stop()
