"""Decoders and encoders for the program feed, over PyAV (FFmpeg, libvpx, libx264, libopus).

Forwarding never touches these. The program decodes a published track once, wherever pixels or
samples are needed, and encodes its output once per codec in use. Library objects stay in here: the
rest of the program sees `EncodedFrame`s in and out and `av` frames only inside the frame core.
"""

from __future__ import annotations

import fractions
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import cast

import av
from av.audio.codeccontext import AudioCodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from media_server.aiortc_adapter import CodecInfo, EncodedFrame

logger = logging.getLogger(__name__)

# RTP names (as negotiated) -> FFmpeg decoder names. FFmpeg's own VP8 decoder is faster than libvpx's.
VIDEO_DECODERS = {"VP8": "vp8", "H264": "h264"}
AUDIO_DECODERS = {"OPUS": "libopus", "PCMU": "pcm_mulaw", "PCMA": "pcm_alaw", "G722": "g722"}
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000

# What the program offers its viewers: codec -> RTP fmtp parameters.
PROGRAM_VIDEO_CODECS: dict[str, dict[str, str | int]] = {
    "VP8": {},
    # Constrained Baseline 3.1, as every browser and WHEP client decodes.
    "H264": {"packetization-mode": "1", "level-asymmetry-allowed": "1", "profile-level-id": "42e01f"},
}


class VideoDecoder:
    """Decodes one published video track in its own thread, keeping only the newest picture.

    `feed` runs on the event loop and never blocks: the queue is short, and a decoder that falls
    behind (or meets a broken frame) drops what it has and waits for the next keyframe, which it asks
    for through `request_keyframe` (called from the decoder thread; it must be thread-safe).
    `on_picture`, if given, is called in the decoder thread with every picture and the frame it came from.
    """

    def __init__(
        self,
        name: str,
        request_keyframe: Callable[[], None],
        queue_size: int = 8,
        on_picture: Callable[[av.VideoFrame, EncodedFrame], None] | None = None,
    ) -> None:
        self.name = name
        self._request_keyframe = request_keyframe
        self._on_picture = on_picture
        self._queue: queue.Queue[tuple[CodecInfo, EncodedFrame] | object | None] = queue.Queue(queue_size + 1)
        self._queue_size = queue_size
        self.latest: av.VideoFrame | None = None
        self.frames_decoded = 0
        self.frames_skipped = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"decode-{name}", daemon=True)
        self._thread.start()
        request_keyframe()

    def feed(self, codec: CodecInfo, frame: EncodedFrame) -> None:
        if self._queue.qsize() < self._queue_size:
            self._queue.put_nowait((codec, frame))
            return
        # Behind: drop the backlog and tell the thread (through the queue, so the order holds) to
        # wait for a keyframe; the slot kept free above leaves room for the marker.
        self._drain()
        self.frames_skipped += 1
        self._queue.put_nowait(_RESYNC)
        self._request_keyframe()

    def _drain(self) -> None:
        try:
            while True:
                item = self._queue.get_nowait()
                if item is None:  # keep the stop signal
                    self._queue.put_nowait(None)
                    return
        except queue.Empty:
            return

    def close(self) -> None:
        self._drain()
        self._queue.put_nowait(None)

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        context: VideoCodecContext | None = None
        codec_name = ""
        waiting_for_keyframe = True
        while (item := self._queue.get()) is not None:
            if item is _RESYNC:
                waiting_for_keyframe = True
                continue
            codec, frame = cast(tuple[CodecInfo, EncodedFrame], item)
            if codec.name.upper() != codec_name:
                codec_name = codec.name.upper()
                context = _decoder(VIDEO_DECODERS.get(codec_name))
                waiting_for_keyframe = True
            if context is None:
                continue
            if waiting_for_keyframe and not frame.keyframe:
                self.frames_skipped += 1
                continue
            if frame.after_gap and not frame.keyframe:
                waiting_for_keyframe = True
                self._request_keyframe()
                continue
            try:
                pictures = context.decode(av.Packet(frame.data))
            except av.FFmpegError as exc:
                self.errors += 1
                if self.errors == 1 or self.errors % 100 == 0:  # a broken publisher must not flood the log
                    logger.info("%s: video decode error %d, waiting for a keyframe: %s", self.name, self.errors, exc)
                waiting_for_keyframe = True
                self._request_keyframe()
                continue
            waiting_for_keyframe = False
            for picture in pictures:
                self.latest = picture
                self.frames_decoded += 1
                if self._on_picture is not None:
                    self._on_picture(picture, frame)


_RESYNC = object()  # queued by `feed` after it dropped frames: wait for a keyframe


class AudioDecoder:
    """Decodes one published audio track, pulled 20 ms at a time by the program's mixer thread.

    `feed` (event loop) appends encoded packets; `pull` (mixer thread) decodes the oldest. Packets
    beyond `max_delay` of backlog are dropped so a burst after a network stall cannot add lasting delay.
    """

    def __init__(self, name: str, max_delay_packets: int = 4) -> None:
        self.name = name
        self._packets: deque[tuple[CodecInfo, EncodedFrame]] = deque(maxlen=64)
        self._max_backlog = max_delay_packets
        self._context: AudioCodecContext | None = None
        self._codec_name = ""
        self.packets_dropped = 0
        self.errors = 0

    def feed(self, codec: CodecInfo, frame: EncodedFrame) -> None:
        self._packets.append((codec, frame))

    def pull(self) -> av.AudioFrame | None:
        while len(self._packets) > self._max_backlog:
            self._packets.popleft()
            self.packets_dropped += 1
        try:
            codec, frame = self._packets.popleft()
        except IndexError:
            return None
        if codec.name.upper() != self._codec_name:
            self._codec_name = codec.name.upper()
            self._context = _audio_decoder(codec)
        if self._context is None:
            return None
        try:
            frames = self._context.decode(av.Packet(frame.data))
        except av.FFmpegError as exc:
            self.errors += 1
            logger.debug("%s: audio decode error: %s", self.name, exc)
            return None
        return frames[0] if frames else None


def _decoder(name: str | None) -> VideoCodecContext | None:
    if name is None:
        return None
    context = cast(VideoCodecContext, av.CodecContext.create(name, "r"))
    context.thread_count = 1  # one thread per source; sources decode in parallel
    return context


def _audio_decoder(codec: CodecInfo) -> AudioCodecContext | None:
    name = AUDIO_DECODERS.get(codec.name.upper())
    if name is None:
        return None
    context = cast(AudioCodecContext, av.CodecContext.create(name, "r"))
    if name == "libopus":
        context.format = "s16"
        context.layout = "stereo"
        context.sample_rate = AUDIO_RATE
    else:
        context.layout = "mono"
        context.sample_rate = 16000 if name == "g722" else 8000
    return context


# H.264's levels (Recommendation H.264, Table A-1): the level, its macroblocks per second and per frame.
_H264_LEVELS = (
    ("31", 108_000, 3_600),  # the floor: what "42e01f" in our SDP promises, 720p30
    ("32", 216_000, 5_120),
    ("40", 245_760, 8_192),
    ("42", 522_240, 8_704),
    ("50", 589_824, 22_080),
    ("51", 983_040, 36_864),
    ("52", 2_073_600, 36_864),
)


def h264_level(width: int, height: int, fps: int) -> str:
    """The lowest level, 3.1 at least, whose limits hold this picture size and rate: the level written in the
    SPS is what a hardware decoder sizes its buffers by, so a 1080p picture must not claim 3.1."""
    frame = -(-width // 16) * -(-height // 16)
    for level, per_second, per_frame in _H264_LEVELS:
        if frame <= per_frame and frame * fps <= per_second:
            return level
    return _H264_LEVELS[-1][0]


class VideoEncoder:
    """Encodes the program picture for one codec; realtime settings as aiortc's own encoders use."""

    def __init__(self, codec_name: str, width: int, height: int, fps: int, bitrate: int, threads: int = 1) -> None:
        self.codec_name = codec_name.upper()
        self.keyframe_requested = True
        time_base = fractions.Fraction(1, fps)
        if self.codec_name == "VP8":
            context = cast(VideoCodecContext, av.CodecContext.create("libvpx", "w"))
            context.bit_rate = bitrate
            context.qmin, context.qmax = 2, 56
            context.options = {
                "deadline": "realtime",
                "cpu-used": "8",  # libvpx's fastest realtime setting: the program shares two cores
                "lag-in-frames": "0",
                "error-resilient": "1",
                "bufsize": str(bitrate),
                "minrate": str(bitrate),
                "maxrate": str(bitrate),
                "undershoot-pct": "100",
                "overshoot-pct": "15",
                "static-thresh": "1",
            }
            context.gop_size = fps * 10  # a keyframe every 10 s at least; viewers ask for more
        elif self.codec_name == "H264":
            context = cast(VideoCodecContext, av.CodecContext.create("libx264", "w"))
            context.bit_rate = bitrate
            # superfast with veryfast's motion search (hexagon, subpixel refinement 2): half of libvpx's time
            # at cpu-used 8, for 0.1-0.7 dB less PSNR at the same rate (docs/benchmarks.md, the program).
            # The rate is capped over one second, as a WebRTC path needs, rather than averaged.
            context.options = {
                "preset": "superfast",
                "tune": "zerolatency",
                "level": h264_level(width, height, fps),
                "x264-params": "me=hex:subme=2",
                "maxrate": str(bitrate),
                "bufsize": str(bitrate),
            }
            context.profile = "Baseline"
            context.gop_size = fps * 10
        else:
            raise ValueError(f"the program does not encode {codec_name}")
        context.width, context.height = width, height
        context.pix_fmt = "yuv420p"
        context.time_base = time_base
        context.framerate = fractions.Fraction(fps, 1)
        context.thread_count = threads
        self._context = context
        self._index = 0

    def encode(self, picture: av.VideoFrame) -> tuple[bytes, bool]:
        """The encoded frame (empty if the encoder produced none) and whether it is a keyframe."""
        keyframe = self.keyframe_requested
        self.keyframe_requested = False
        picture.pict_type = PictureType.I if keyframe else PictureType.NONE
        picture.pts = self._index
        picture.time_base = self._context.time_base
        self._index += 1
        packets = self._context.encode(picture)
        data = b"".join(bytes(packet) for packet in packets)
        return data, any(packet.is_keyframe for packet in packets)


class PictureEncoder:
    """Encodes pictures of whatever size comes (a camera's, a decoder's) for one codec: cut to even
    dimensions, converted to yuv420p where needed, and a new encoder, starting on a keyframe, whenever
    the size changes. The bitrate follows the size: `bits_per_pixel` per pixel per frame at `fps`."""

    def __init__(self, codec_name: str, fps: int, bits_per_pixel: float, threads: int = 2) -> None:
        self.codec_name = codec_name
        self._fps = fps
        self._bits_per_pixel = bits_per_pixel
        self._threads = threads  # two: a 1080p encode does not keep up at 25 fps on one core of this class
        self._encoder: VideoEncoder | None = None
        self._size: tuple[int, int] | None = None

    def encode(self, picture: av.VideoFrame, keyframe: bool = False) -> tuple[bytes, bool]:
        """The encoded frame (empty if the encoder produced none) and whether it is a keyframe."""
        size = (picture.width & ~1, picture.height & ~1)
        if self._encoder is None or size != self._size:
            bitrate = int(size[0] * size[1] * self._fps * self._bits_per_pixel)
            self._encoder = VideoEncoder(self.codec_name, size[0], size[1], self._fps, bitrate, self._threads)
            self._size = size
        if picture.format.name != "yuv420p" or (picture.width, picture.height) != size:
            picture = picture.reformat(width=size[0], height=size[1], format="yuv420p")
        if keyframe:
            self._encoder.keyframe_requested = True
        return self._encoder.encode(picture)


class AudioEncoder:
    """Encodes the program's mixed sound as Opus, one packet per 20 ms."""

    def __init__(self, bitrate: int) -> None:
        context = cast(AudioCodecContext, av.CodecContext.create("libopus", "w"))
        context.bit_rate = bitrate
        context.sample_rate = AUDIO_RATE
        context.format = "s16"
        context.layout = "stereo"
        context.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._context = context

    def encode(self, frame: av.AudioFrame) -> list[bytes]:
        return [bytes(packet) for packet in self._context.encode(frame)]
