"""Every private aiortc, aioice and pylibsrtp internal this project touches, in one place.

aiortc and pylibsrtp are pinned (pyproject.toml); `check_internals()` runs at start-up and stops the server with a
clear message if an upgrade moved any of the names used here. The hook points were found in the
relay lab (../shared/research/relay-lab/REPORT.md):

- `RTCRtpReceiver._handle_rtp_packet` depayloads, feeds the jitter buffer, and puts complete encoded
  frames `(codec, JitterFrame)` on `__decoder_queue`. We wrap that queue's `put` to take the frames
  before any decoding.
- `RTCRtpReceiver.receive` starts the decoder thread. We defer it: the thread starts only when some
  consumer asks for decoded pictures (`EncodedFrameTap.start_decoding`).
- The stock video `JitterBuffer` releases frame n only when frame n+1 begins (+1 frame interval); the
  audio one prefetches 4 packets (+60-80 ms). We swap in buffers that release at the RTP marker bit
  and at once.
- `RTCRtpSender._run_rtp` (one task per subscriber, a frame at a time through four coroutine layers)
  is replaced for forwarded tracks by `ForwardingSender`: frames are sent from the publisher's
  receive path straight through the DTLS transport's SRTP context to the nominated ICE pair's
  socket, a frame's packets in one `sendmsg` where Linux segments UDP (GSO); `_retransmit` answers
  NACKs from its history. The packets are protected in place in one buffer by libsrtp, called through
  pylibsrtp's binding on the DTLS transport's own SRTP session. `RTCRtpSender._send_keyframe` is what a
  subscriber's PLI/FIR calls; we route it to the publisher.
- aioice gathers host candidates on every non-loopback address with OS-chosen ports; we choose the
  addresses and the port range, and announce 1:1 NAT addresses.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import inspect
import ipaddress
import logging
import queue
import random
import socket
import struct
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import aioice.ice
import aiortc
import aiortc.rtcdtlstransport
import aiortc.rtcicetransport
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import HeaderExtensions, RtpPacket
from aiortc.utils import random32, uint16_add, uint16_gt
from pylibsrtp import Error as SrtpError
from pylibsrtp import _binding as srtp_binding

logger = logging.getLogger(__name__)

PINNED_AIORTC = "1.16.0"


class AiortcInternalsMoved(RuntimeError):
    """An aiortc/aioice upgrade moved an internal this server hooks into."""


# --------------------------------------------------------------------------- encoded frames


@dataclasses.dataclass(frozen=True, slots=True)
class CodecInfo:
    """The negotiated codec of a received track, as the rest of the code sees it."""

    kind: str  # "audio" | "video"
    name: str  # "VP8", "H264", "opus", "PCMU", ...
    clock_rate: int
    channels: int | None
    parameters: dict[str, Any]

    @property
    def mime_type(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One complete encoded frame (VP8, Annex-B H.264, or one audio packet)."""

    data: bytes
    timestamp: int  # RTP clock units, rebased to start near 0
    keyframe: bool
    after_gap: bool = False  # frames were lost for good before this one: decoders need a keyframe
    # The RTP payloads a received video frame arrived in, payload descriptors included: forwarded as
    # they are, so a subscribed frame is not packetised again. None for frames made here.
    payloads: list[bytes] | None = None


def is_keyframe(codec_name: str, data: bytes) -> bool:
    if not data:
        return False
    name = codec_name.upper()
    if name == "VP8":  # RFC 6386 section 9.1: frame tag bit 0 is 0 for a key frame
        return (data[0] & 0x01) == 0
    if name == "H264":  # Annex-B from aiortc's depayloader: an IDR slice or an SPS starts a keyframe
        return h264_has_nal(data, (5, 7))
    return True  # audio frames decode on their own


def h264_has_nal(data: bytes, nal_types: tuple[int, ...]) -> bool:
    """Whether an Annex-B access unit holds a NAL unit of one of these types (5 IDR slice, 7 SPS, 8 PPS)."""
    start = 0
    while True:
        start = data.find(b"\x00\x00\x01", start)
        if start < 0 or start + 3 >= len(data):
            return False
        if data[start + 3] & 0x1F in nal_types:
            return True
        start += 3


class ReceivedFrame(JitterFrame):
    """A complete frame from the jitter buffer, with the RTP payloads it came in (padding-only packets left out)."""

    def __init__(self, packets: list[RtpPacket], timestamp: int) -> None:
        super().__init__(b"".join(p._data for p in packets), timestamp)  # type: ignore[attr-defined]
        self.payloads = [p.payload for p in packets if p.payload]


class MarkerJitterBuffer(JitterBuffer):
    """Releases a video frame as soon as its packets up to the RTP marker bit are all present.

    The stock buffer waits for the next frame's first packet, which adds one frame interval
    (33 ms at 30 fps, measured in the relay lab). A frame whose marker was lost falls back to the
    stock rule (released when the next timestamp begins).

    It also remembers the media SSRC (after RTX unwrapping): a keyframe request must name it, and the
    receiver's list of active sources mixes in the retransmission SSRC, which Chrome ignores a PLI for.
    """

    media_ssrc: int | None = None
    frames_lost = False  # set when the buffer had to drop incomplete frames; the tap clears it

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc
        picture_lost, frame = super().add(packet)
        if picture_lost:
            self.frames_lost = True
        return picture_lost, frame

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[RtpPacket] = []
        timestamp: int | None = None
        assert self._origin is not None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                self.remove(count)
                return ReceivedFrame(packets, timestamp)
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                return ReceivedFrame(packets, timestamp)
        return None


class ImmediateAudioBuffer(JitterBuffer):
    """Releases each audio packet at once (one packet is one frame); late packets are dropped.

    The stock audio buffer prefetches 4 packets, 60-80 ms of added delay on a forwarded voice.
    """

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._last_sequence: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._last_sequence is not None and not uint16_gt(packet.sequence_number, self._last_sequence):
            return False, None
        self._last_sequence = packet.sequence_number
        return False, JitterFrame(packet._data, packet.timestamp)  # type: ignore[attr-defined]


class _DeferredDecoderThread(threading.Thread):
    """Stands in for the receiver's decoder thread: it starts only when pictures are wanted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.daemon = True

    def start(self) -> None:  # called by RTCRtpReceiver.receive(): not yet
        pass

    def start_now(self) -> None:
        if not self.is_alive() and self.ident is None:
            super().start()

    def join(self, timeout: float | None = None) -> None:
        if self.ident is not None:
            super().join(timeout)


_deferred_threading = types.SimpleNamespace(Thread=_DeferredDecoderThread)


class EncodedFrameTap:
    """Takes complete encoded frames from a remote track's receiver before they are decoded.

    Install it from the peer connection's "track" event, before RTP flows. `on_frame` runs on the
    event loop for every frame; `on_end` once when the receiver stops.
    """

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        on_frame: Callable[[CodecInfo, EncodedFrame], None],
        on_end: Callable[[], None],
    ) -> None:
        self._receiver = receiver
        self._on_frame = on_frame
        self._on_end = on_end
        self._decoding = False
        self._ended = False
        self._codec: CodecInfo | None = None
        kind = receiver.track.kind
        self._jitter_buffer: JitterBuffer = (
            MarkerJitterBuffer(capacity=512, is_video=True) if kind == "video" else ImmediateAudioBuffer()
        )
        receiver._RTCRtpReceiver__jitter_buffer = self._jitter_buffer  # type: ignore[attr-defined]
        decoder_queue: queue.Queue[Any] = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
        self._decoder_put = decoder_queue.put
        decoder_queue.put = self._put  # type: ignore[method-assign,assignment]
        original_receive = receiver.receive

        async def receive_with_deferred_decoder(parameters: Any) -> None:
            # receive() has no await: the module swap is seen by this call only.
            aiortc.rtcrtpreceiver.threading = _deferred_threading  # type: ignore[attr-defined,assignment]
            try:
                await original_receive(parameters)
            finally:
                aiortc.rtcrtpreceiver.threading = threading  # type: ignore[attr-defined]
            if self._decoding:  # start_decoding() was called before the connection was up
                self.start_decoding()

        receiver.receive = receive_with_deferred_decoder  # type: ignore[method-assign]

    @property
    def decoder_running(self) -> bool:
        thread = self._receiver._RTCRtpReceiver__decoder_thread  # type: ignore[attr-defined]
        return thread is not None and thread.is_alive()

    def start_decoding(self) -> None:
        """Start the receiver's decoder: decoded frames then come from `receiver.track.recv()`."""
        thread = self._receiver._RTCRtpReceiver__decoder_thread  # type: ignore[attr-defined]
        if isinstance(thread, _DeferredDecoderThread):
            thread.start_now()
        self._decoding = True

    def request_keyframe(self) -> bool:
        """Send a PLI to the publisher; False when no media has arrived yet."""
        ssrc = self._jitter_buffer.media_ssrc if isinstance(self._jitter_buffer, MarkerJitterBuffer) else None
        if ssrc is None:
            return False
        task = asyncio.ensure_future(self._receiver._send_rtcp_pli(ssrc))
        task.add_done_callback(_log_task_error)
        return True

    def _put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver is stopping
            self._decoder_put(None)
            if not self._ended:
                self._ended = True
                self._on_end()
            return
        codec, jitter_frame = item
        if self._codec is None or self._codec.name != codec.name:
            self._codec = codec_info(codec)
        if self._decoding:
            self._decoder_put(item)
        data = jitter_frame.data
        after_gap = False
        if isinstance(self._jitter_buffer, MarkerJitterBuffer) and self._jitter_buffer.frames_lost:
            after_gap = True
            self._jitter_buffer.frames_lost = False
        self._on_frame(
            self._codec,
            EncodedFrame(
                data,
                jitter_frame.timestamp,
                is_keyframe(codec.name, data),
                after_gap,
                getattr(jitter_frame, "payloads", None),
            ),
        )


def codec_info(codec: Any) -> CodecInfo:
    kind, name = codec.mimeType.split("/", 1)
    return CodecInfo(kind, name, codec.clockRate, codec.channels, dict(codec.parameters))


# --------------------------------------------------------------------------- forwarding sender


# Linux's UDP generic segmentation offload (GSO): one sendmsg carries a run of equal-sized datagrams
# (the last may be shorter) and the kernel cuts them apart. Python names UDP_SEGMENT from 3.12.
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # <linux/udp.h>
GSO_MAX_SEGMENTS = 64  # the kernel's UDP_MAX_SEGMENTS before Linux 5.x raised it to 128
GSO_MAX_BYTES = 60_000  # a run is one IP packet inside the kernel: under 64 KiB with its headers
RTP_HEADER = struct.Struct("!BBHLL")


def rtp_header_with_extension(size: int) -> struct.Struct:
    """The fixed RTP header and a `size`-byte header extension block after it, packed in one call."""
    return struct.Struct(f"!BBHLL{size}s")


def segment_spans(ends: list[int]) -> list[tuple[int, int, int]]:
    """Group a frame's packets, laid end to end (`ends`: where each one ends), into spans one GSO send
    can carry: (start, end, segment size), equal sizes except that the last of a span may be shorter."""
    spans: list[tuple[int, int, int]] = []
    start = previous = size = count = 0
    extendable = False
    for end in ends:
        length = end - previous
        if extendable and length <= size and count < GSO_MAX_SEGMENTS and end - start <= GSO_MAX_BYTES:
            count += 1
            extendable = length == size
        else:
            if count:
                spans.append((start, previous, size))
            start, size, count, extendable = previous, length, 1, True
        previous = end
    if count:
        spans.append((start, previous, size))
    return spans


PAD_MAX = 32  # RTP padding a packet may get, so that a frame's packets are one size (one GSO send)
PADDING = [b""] + [bytes(pad - 1) + bytes((pad,)) for pad in range(1, PAD_MAX + 1)]  # RFC 3550 5.1
HISTORY_FRAMES = 64  # about 2 s of video kept for NACKs (aiortc keeps 128 packets)
SRTP_TRAILER_MAX = 16 + 128  # what libsrtp may append to a packet: tag and MKI (pylibsrtp.SRTP_MAX_TRAILER_LEN)
PINNED_PYLIBSRTP = "1.0.0"


class FrameBuffer:
    """Where a frame's packets are laid out end to end and protected in place, shared by the senders
    of one thread (each frame is sent, or copied, before the next is laid out). libsrtp is called
    through pylibsrtp's binding, as `Session.protect` does, but on this buffer: no bytes object per
    packet, and a GSO span is a slice of it."""

    _local = threading.local()

    def __init__(self, size: int = 64 * 1024) -> None:
        self.length = srtp_binding.ffi.new("int *")
        self.resize(size)

    def resize(self, size: int) -> None:
        self.data = srtp_binding.ffi.new("unsigned char[]", size)
        self.view = memoryview(srtp_binding.ffi.buffer(self.data))
        self.size = size

    @classmethod
    def of_this_thread(cls) -> FrameBuffer:
        buffer: FrameBuffer | None = getattr(cls._local, "buffer", None)
        if buffer is None:
            buffer = cls._local.buffer = cls()
        return buffer


NTP_EPOCH_NS = 2_208_988_800 * 1_000_000_000  # 1900-01-01 to 1970-01-01


class HeaderExtensionBlock:
    """A sender's RTP header extension block (RFC 8285): the mid and abs-send-time, as aiortc lays
    them out for the negotiated ids. It is the same on every packet but for abs-send-time's three
    bytes, so it is laid out once through aiortc's map and only those bytes are put in per frame."""

    def __init__(self, extensions_map: Any, mid: str | None) -> None:
        self._map, self._mid = extensions_map, mid
        # The block when it never changes (no abs-send-time negotiated), else None.
        self.fixed: bytes | None = b"" if extensions_map is None else None
        self._around: tuple[bytes, bytes] | None = None  # what comes before and after abs-send-time
        self.size = 0  # in bytes, the same for every frame: the ids and the mid do not change
        if extensions_map is None:
            return
        low, high = self._lay_out(0), self._lay_out(0xFFFFFF)
        self.size = len(low)
        changed = [i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b]
        if low == high:
            self.fixed = low
        elif len(low) == len(high) and changed == list(range(changed[0], changed[0] + 3)):
            self._around = low[: changed[0]], low[changed[0] + 3 :]
        # otherwise a layout this does not know: laid out again every frame

    def _lay_out(self, abs_send_time: int) -> bytes:
        values = HeaderExtensions()
        values.mid, values.abs_send_time = self._mid, abs_send_time
        profile, data = self._map.set(values)
        return struct.pack("!HH", profile, len(data) >> 2) + data if data else b""

    def build(self, abs_send_time: int) -> bytes:
        if self.fixed is not None:
            return self.fixed
        if self._around is not None:
            return self._around[0] + abs_send_time.to_bytes(3, "big") + self._around[1]
        return self._lay_out(abs_send_time)


class SendResult(enum.IntEnum):
    SENT = 0
    NOT_READY = 1  # not connected (yet, or any more)
    CONGESTED = 2  # the socket's send buffer is backed up: skip to the next keyframe


def install_forwarding_sender(sender: RTCRtpSender, write_buffer_limit: int = 64 * 1024) -> ForwardingSender:
    """Make `sender` forward pre-packetised frames, sent straight from the publisher's receive path.

    aiortc's sender runs one task per subscriber that awaits each frame and pushes every packet
    through four coroutine layers. Here the forwarder hands each frame to `send_frame()`, which adds
    the RTP header (extensions built once per frame), encrypts and writes to the nominated ICE pair's
    socket, a frame's packets in one system call where the kernel offers UDP segmentation: no task
    wakes per subscriber, nothing is encoded. NACKs are answered from a history of plain tuples. The
    sender's own task only marks start and stop, so RTCRtpSender.stop() still works.
    `write_buffer_limit`: bytes backed up in the socket's send buffer (the only queue a forwarded frame
    ever waits in) before frames are skipped.
    """
    forwarding = ForwardingSender(sender, write_buffer_limit)
    sender._run_rtp = forwarding.run  # type: ignore[method-assign]
    sender._retransmit = forwarding.retransmit  # type: ignore[method-assign]
    return forwarding


_PRIVATE = "_RTCRtpSender__"
_NTP_TIMESTAMP, _RTP_TIMESTAMP = _PRIVATE + "ntp_timestamp", _PRIVATE + "rtp_timestamp"
_OCTET_COUNT, _PACKET_COUNT = _PRIVATE + "octet_count", _PRIVATE + "packet_count"
_DTLS_TX_BYTES, _DTLS_TX_PACKETS = "_RTCDtlsTransport__tx_bytes", "_RTCDtlsTransport__tx_packets"


class ForwardingSender:
    __slots__ = (
        "_dtls",
        "_dtls_state",
        "_extension",
        "_failures",
        "_frame_buffer",
        "_gso_allowed",
        "_gso_socket",
        "_gso_transport",
        "_header_extension",
        "_history",
        "_ice",
        "_live",
        "_payload_type",
        "_rtp_header",
        "_sender",
        "_sender_state",
        "_sequence_number",
        "_srtp_context",
        "_timestamp_origin",
        "_write_buffer_limit",
        "gso_sends",
    )

    def __init__(self, sender: RTCRtpSender, write_buffer_limit: int) -> None:
        self._sender = sender
        self._sender_state = vars(sender)
        self._write_buffer_limit = write_buffer_limit
        # The frames last sent, for NACKs: (first sequence number, timestamp, header extension, payloads).
        self._history: collections.deque[tuple[int, int, bytes, list[bytes]]] = collections.deque(maxlen=HISTORY_FRAMES)
        self._frame_buffer = FrameBuffer.of_this_thread()  # send_frame() runs on this thread's event loop
        self._srtp_context: Any = None
        self._payload_type = 0
        self._live = False  # running, and DTLS connected
        self._header_extension = HeaderExtensionBlock(None, None)
        self._extension: bytes | None = b""  # the header extension block, when it is the same every frame
        self._rtp_header = rtp_header_with_extension(0)
        self._ice: Any = None
        self._dtls: Any = None
        self._dtls_state: dict[str, Any] = {}
        self._sequence_number = aiortc.rtcrtpsender.random_sequence_number()  # below 2^15: SRTP rollover
        self._timestamp_origin = random32()
        self._failures = 0
        # The nominated pair's socket, duplicated for sendmsg (asyncio's transport has no sendmsg);
        # None where it cannot segment (a TURN relay, another OS, a kernel or card that refused).
        self._gso_allowed = sys.platform == "linux"
        self._gso_transport: Any = None
        self._gso_socket: socket.socket | None = None
        self.gso_sends = 0  # system calls that carried a run of packets

    async def run(self, codec: Any) -> None:
        """Stands in for RTCRtpSender._run_rtp, which aiortc starts once DTLS is connected."""
        sender = self._sender
        track = getattr(sender, _PRIVATE + "track")
        self._payload_type = codec.payloadType
        self._header_extension = block = HeaderExtensionBlock(
            getattr(sender, _PRIVATE + "rtp_header_extensions_map"), getattr(sender, _PRIVATE + "mid")
        )
        self._extension = block.fixed
        self._rtp_header = rtp_header_with_extension(block.size)
        dtls = self._dtls = sender.transport
        self._dtls_state = vars(dtls)
        self._srtp_context = dtls._tx_srtp._srtp[0]  # pylibsrtp's srtp_t, for protecting in place
        self._ice = dtls.transport._connection

        def on_dtls_state() -> None:
            self._live = dtls.state == "connected"

        on_dtls_state()
        dtls.on("statechange", on_dtls_state)
        getattr(sender, _PRIVATE + "rtp_started").set()
        try:
            if track is not None:
                track.attach_sink(self.send_frame)
                await track.wait_ended()
        except asyncio.CancelledError:
            pass
        finally:
            dtls.remove_listener("statechange", on_dtls_state)
            self._live = False
            self._close_gso_socket()
            if track is not None:
                track.stop()
            getattr(sender, _PRIVATE + "rtp_exited").set()

    def send_frame(self, frame: Any) -> SendResult:
        """Send one frame's payloads now; called on the event loop from the publisher's receive path.

        `frame` is a forwarding.ForwardedFrame: its payloads, and `pads`, the RTP padding that makes
        every packet but the last `segment` bytes long (one UDP segmentation send), when it is near.
        """
        if not self._live or not self._sender._enabled:
            return SendResult.NOT_READY
        pair = self._ice._nominated.get(1)
        if pair is None:
            return SendResult.NOT_READY
        transport = pair.protocol.transport
        backlog = transport.get_write_buffer_size()
        if backlog > self._write_buffer_limit:
            return SendResult.CONGESTED
        ntp_time = ((time.time_ns() + NTP_EPOCH_NS) << 32) // 1_000_000_000  # as aiortc.clock, cheaper
        timestamp = (self._timestamp_origin + frame.timestamp) & 0xFFFFFFFF
        header_extension = self._extension
        if header_extension is None:  # it carries abs-send-time
            header_extension = self._header_extension.build((ntp_time >> 14) & 0xFFFFFF)
        head = 12 + len(header_extension)
        first_byte = 0x90 if header_extension else 0x80
        payload_type, ssrc = self._payload_type, self._sender._ssrc
        first_sequence_number = sequence_number = self._sequence_number
        payloads, pads = frame.payloads, frame.pads
        last = len(payloads) - 1
        buffer = self._frame_buffer
        needed = frame.payload_size + len(payloads) * (head + PAD_MAX + SRTP_TRAILER_MAX)
        if buffer.size < needed:  # a keyframe larger than any before: grow once, in 64 KiB steps
            buffer.resize(-(-needed // 65536) * 65536)
        view, data, length = buffer.view, buffer.data, buffer.length
        pack_into, protect, context = self._rtp_header.pack_into, srtp_binding.lib.srtp_protect, self._srtp_context
        ends = []
        offset = 0
        try:
            for index, payload in enumerate(payloads):
                end = offset + head + len(payload)
                view[offset + head : end] = payload
                if pads is not None and pads[index]:  # RTP padding (zeros, then their count); never the last packet
                    pad = pads[index]
                    view[end : end + pad] = PADDING[pad]
                    end += pad
                    pack_into(
                        view,
                        offset,
                        first_byte | 0x20,
                        payload_type,
                        sequence_number,
                        timestamp,
                        ssrc,
                        header_extension,
                    )
                else:
                    pack_into(
                        view,
                        offset,
                        first_byte,
                        (0x80 if index == last else 0) | payload_type,
                        sequence_number,
                        timestamp,
                        ssrc,
                        header_extension,
                    )
                length[0] = end - offset
                status = protect(context, data + offset, length)
                if status:
                    raise SrtpError(f"srtp_protect failed ({status})")
                offset += length[0]
                ends.append(offset)
                sequence_number = (sequence_number + 1) & 0xFFFF
            self._history.append((first_sequence_number, timestamp, header_extension, payloads))
            if not last:
                transport.sendto(view[:offset].tobytes(), pair.remote_addr)
            elif backlog or not self._gso_allowed:
                start = 0
                for end in ends:
                    transport.sendto(view[start:end].tobytes(), pair.remote_addr)
                    start = end
            elif frame.segment and last < GSO_MAX_SEGMENTS and offset <= GSO_MAX_BYTES:
                self._send_segmented(pair, transport, view, [(0, offset, ends[0])])
            else:
                self._send_segmented(pair, transport, view, segment_spans(ends))
        except Exception as exc:  # one subscriber's broken connection must not reach the publisher's receiver
            self._failures += 1
            if self._failures in (1, 10, 100) or self._failures % 1000 == 0:
                logger.warning("forwarding sender %s: send failed (%d times): %r", ssrc, self._failures, exc)
            return SendResult.NOT_READY
        finally:
            self._sequence_number = sequence_number
        # What aiortc's RTCP sender reports and the transport's statistics are built from.
        state = self._sender_state
        state[_NTP_TIMESTAMP] = ntp_time
        state[_RTP_TIMESTAMP] = timestamp
        state[_OCTET_COUNT] += frame.payload_size
        state[_PACKET_COUNT] += last + 1
        dtls_state = self._dtls_state
        dtls_state[_DTLS_TX_BYTES] += offset
        dtls_state[_DTLS_TX_PACKETS] += last + 1
        return SendResult.SENT

    def _send_segmented(self, pair: Any, transport: Any, view: memoryview, spans: list[tuple[int, int, int]]) -> None:
        """Send with UDP GSO, a span of packets per system call; anything the socket cannot take now
        goes through asyncio's transport, which copies and queues it in order."""
        address = pair.remote_addr
        sock = self._gso_socket if transport is self._gso_transport else self._open_gso_socket(transport)
        for start, end, size in spans:
            if sock is not None and end - start > size:
                try:
                    sock.sendmsg(
                        [view[start:end]], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))], 0, address
                    )
                    self.gso_sends += 1
                    continue
                except (BlockingIOError, InterruptedError):
                    sock = None  # the send buffer is full: the rest waits in the transport's queue
                except OSError as exc:  # EIO from a card without checksum offload, EINVAL, an old kernel
                    logger.info("forwarding sender: UDP segmentation refused (%r); sending packet by packet", exc)
                    self._gso_allowed = False
                    self._close_gso_socket()
                    sock = None
            for packet_start in range(start, end, size):
                transport.sendto(view[packet_start : min(packet_start + size, end)].tobytes(), address)

    def _open_gso_socket(self, transport: Any) -> socket.socket | None:
        self._close_gso_socket()
        self._gso_transport = transport
        raw = transport.get_extra_info("socket")  # None for a TURN relay's transport
        if raw is not None and raw.type == socket.SOCK_DGRAM:
            self._gso_socket = raw.dup()
        return self._gso_socket

    def _close_gso_socket(self) -> None:
        if self._gso_socket is not None:
            self._gso_socket.close()
        self._gso_socket = None
        self._gso_transport = None

    async def retransmit(self, sequence_number: int) -> None:
        """Answer a NACK from the kept packet, over RTX when negotiated (RFC 4588, as aiortc's sender)."""
        kept = next((f for f in reversed(self._history) if (sequence_number - f[0]) & 0xFFFF < len(f[3])), None)
        if kept is None:
            return
        first, timestamp, header_extension, payloads = kept
        index = (sequence_number - first) & 0xFFFF
        payload, marker = payloads[index], 0x80 if index == len(payloads) - 1 else 0
        sender = self._sender
        first_byte = 0x90 if header_extension else 0x80
        rtx_payload_type = getattr(sender, _PRIVATE + "rtx_payload_type")
        if rtx_payload_type is None:
            header = RTP_HEADER.pack(first_byte, marker | self._payload_type, sequence_number, timestamp, sender._ssrc)
        else:  # the original sequence number leads the payload, on the RTX stream's own numbering
            rtx_sequence_number = getattr(sender, _PRIVATE + "rtx_sequence_number")
            setattr(sender, _PRIVATE + "rtx_sequence_number", uint16_add(rtx_sequence_number, 1))
            header = RTP_HEADER.pack(
                first_byte, marker | rtx_payload_type, rtx_sequence_number, timestamp, sender._rtx_ssrc
            )
            payload = struct.pack("!H", sequence_number) + payload
        await sender.transport._send_rtp(header + header_extension + payload)


def route_keyframe_requests(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """Send a subscriber's PLI/FIR to `request` (the publisher's throttled keyframe request)."""
    sender._send_keyframe = request  # type: ignore[method-assign]


def _log_task_error(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("keyframe request failed: %s", task.exception())


# --------------------------------------------------------------------------- ICE networking


@dataclasses.dataclass(frozen=True)
class IcePolicy:
    interfaces: tuple[str, ...] = ()
    port_range: tuple[int, int] | None = None
    advertised_addresses: tuple[str, ...] = ()


_policy = IcePolicy()


class HallIceConnection(aioice.ice.Connection):
    """aioice's Connection with chosen interfaces, a UDP port range and 1:1 NAT addresses."""

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5
    ) -> list[aioice.ice.Candidate]:
        policy = _policy
        if policy.interfaces:
            addresses = list(policy.interfaces)
        if policy.port_range is None:
            candidates = await super().get_component_candidates(component, addresses, timeout)
        else:
            candidates = await self._candidates_in_range(component, addresses, policy.port_range, timeout)
        for public in policy.advertised_addresses:
            version = ipaddress.ip_address(public).version
            for local in [c for c in candidates if c.type == "host"]:
                if ipaddress.ip_address(local.host).version == version and local.host != public:
                    candidates.append(
                        aioice.ice.Candidate(
                            foundation=aioice.ice.candidate_foundation("host", "udp", public),
                            component=component,
                            transport="udp",
                            priority=local.priority + 1,
                            host=public,
                            port=local.port,
                            type="host",
                        )
                    )
        return candidates

    async def _candidates_in_range(
        self, component: int, addresses: list[str], port_range: tuple[int, int], timeout: int
    ) -> list[aioice.ice.Candidate]:
        loop = asyncio.get_running_loop()
        candidates: list[aioice.ice.Candidate] = []
        protocols: list[aioice.ice.StunProtocol] = []
        for address in addresses:
            bound = await _bind_in_range(loop, lambda: aioice.ice.StunProtocol(self), address, port_range)
            if bound is None:
                logger.error("%s: no free UDP port in %d-%d", address, *port_range)
                continue
            protocol, port = bound
            protocol.local_candidate = aioice.ice.Candidate(
                foundation=aioice.ice.candidate_foundation("host", "udp", address),
                component=component,
                transport="udp",
                priority=aioice.ice.candidate_priority(component, "host"),
                host=address,
                port=port,
                type="host",
            )
            candidates.append(protocol.local_candidate)
            protocols.append(protocol)
        self._protocols += protocols
        tasks: list[asyncio.Task[list[aioice.ice.Candidate]]] = []
        if self.stun_server:
            for protocol in protocols:
                if ipaddress.ip_address(protocol.local_candidate.host).version == 4:
                    tasks.append(asyncio.create_task(self._reflexive(protocol)))
        if self.turn_server:  # relayed candidates use their own socket: let aioice gather them
            tasks.append(asyncio.create_task(self._relayed_only(component, timeout)))
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in done:
                if task.exception() is None:
                    candidates.extend(task.result())
            for task in pending:
                task.cancel()
        return candidates

    async def _reflexive(self, protocol: aioice.ice.StunProtocol) -> list[aioice.ice.Candidate]:
        assert self.stun_server is not None
        candidate, _ = await aioice.ice.server_reflexive_candidate(protocol, self.stun_server)
        return [candidate]

    async def _relayed_only(self, component: int, timeout: int) -> list[aioice.ice.Candidate]:
        stun_server, self.stun_server = self.stun_server, None
        try:
            return await super().get_component_candidates(component, [], timeout)
        finally:
            self.stun_server = stun_server


async def _bind_in_range(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], aioice.ice.StunProtocol],
    address: str,
    port_range: tuple[int, int],
) -> tuple[aioice.ice.StunProtocol, int] | None:
    low, high = port_range
    ports = list(range(low, high + 1))
    random.shuffle(ports)  # spread sessions over the range, as Janus and LiveKit do
    for port in ports:
        try:
            transport, protocol = await loop.create_datagram_endpoint(factory, local_addr=(address, port))
        except OSError:
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
        return protocol, port
    return None


def configure_ice(
    *,
    interfaces: list[str],
    port_range: tuple[int, int] | None,
    advertised_addresses: list[str],
    consent_interval: float,
    consent_failures: int,
) -> None:
    """Apply the node's ICE networking to every peer connection this process creates."""
    global _policy
    _policy = IcePolicy(tuple(interfaces), port_range, tuple(advertised_addresses))
    aiortc.rtcicetransport.Connection = HallIceConnection  # type: ignore[attr-defined,misc]
    # RFC 7675 consent freshness: how long a vanished peer keeps its session.
    aioice.ice.CONSENT_INTERVAL = consent_interval  # type: ignore[assignment]
    aioice.ice.CONSENT_FAILURES = consent_failures


# --------------------------------------------------------------------------- start-up self-check


def check_internals() -> None:
    """Raise AiortcInternalsMoved, naming what moved, if this aiortc no longer has our hook points."""
    problems: list[str] = []

    def need(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    need(hasattr(RTCRtpReceiver, "_send_rtcp_pli"), "RTCRtpReceiver._send_rtcp_pli")
    need(hasattr(RTCRtpSender, "_send_keyframe"), "RTCRtpSender._send_keyframe")
    need(hasattr(aiortc.rtcrtpreceiver, "threading"), "aiortc.rtcrtpreceiver.threading")
    need(hasattr(RTCRtpSender, "_run_rtp"), "RTCRtpSender._run_rtp")
    need(hasattr(RTCRtpSender, "_retransmit"), "RTCRtpSender._retransmit")
    need(hasattr(aiortc.rtcrtpsender, "random_sequence_number"), "aiortc.rtcrtpsender.random_sequence_number")
    need(hasattr(aiortc.rtcicetransport, "Connection"), "aiortc.rtcicetransport.Connection")
    for name in ("_remove_frame", "_packets", "_origin", "remove", "capacity"):
        need(hasattr(JitterBuffer(capacity=16), name), f"JitterBuffer.{name}")
    for name in (
        "CONSENT_INTERVAL",
        "CONSENT_FAILURES",
        "StunProtocol",
        "Candidate",
        "candidate_foundation",
        "candidate_priority",
        "server_reflexive_candidate",
    ):
        need(hasattr(aioice.ice, name), f"aioice.ice.{name}")
    need(hasattr(aioice.ice.Connection, "get_component_candidates"), "aioice Connection.get_component_candidates")
    try:
        receive_source = inspect.getsource(RTCRtpReceiver.receive)
        handle_source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
        gather_source = inspect.getsource(aioice.ice.Connection.get_component_candidates)
        send_loop_source = inspect.getsource(RTCRtpSender._run_rtp)
        sender_init_source = inspect.getsource(RTCRtpSender.__init__)
        start_source = inspect.getsource(RTCRtpSender.send)
    except (OSError, TypeError, AttributeError) as exc:
        problems.append(f"source of the hooked methods ({exc})")
    else:
        need(
            "threading.Thread(" in receive_source and "await" not in receive_source,
            "RTCRtpReceiver.receive starting the decoder thread without awaiting",
        )
        need(
            "self.__decoder_queue.put((codec, encoded_frame))" in handle_source,
            "RTCRtpReceiver._handle_rtp_packet putting (codec, frame) on __decoder_queue",
        )
        need("self.__jitter_buffer.add(packet)" in handle_source, "RTCRtpReceiver.__jitter_buffer")
        need("self._protocols" in gather_source, "aioice Connection._protocols")
        need("self._run_rtp(" in start_source, "RTCRtpSender.send starting self._run_rtp")
        dtls_source = inspect.getsource(aiortc.rtcdtlstransport.RTCDtlsTransport)
        for name in ("self._tx_srtp", "self.__tx_bytes", "self.__tx_packets"):
            need(name in dtls_source, f"RTCDtlsTransport {name}")
        need("self._connection = " in inspect.getsource(aiortc.rtcicetransport), "RTCIceTransport._connection")
        ice_source = inspect.getsource(aioice.ice)
        need(
            "self._nominated[" in ice_source and "self.transport.sendto(data, addr)" in ice_source,
            "aioice Connection._nominated and StunProtocol.transport",
        )
        need(
            "await self._retransmit(" in inspect.getsource(RTCRtpSender._handle_rtcp_packet),
            "RTCRtpSender._handle_rtcp_packet answering NACKs with self._retransmit",
        )
        for name in (
            "track",
            "rtp_history",
            "rtp_header_extensions_map",
            "mid",
            "rtp_started",
            "rtp_exited",
            "ntp_timestamp",
            "rtp_timestamp",
            "octet_count",
            "packet_count",
        ):
            need(f"self.__{name}" in send_loop_source + sender_init_source, f"RTCRtpSender.__{name}")
    try:
        session = pylibsrtp.Session()
        need(hasattr(session, "_srtp") and session._srtp[0] is not None, "pylibsrtp Session._srtp")
        need(hasattr(srtp_binding.lib, "srtp_protect"), "pylibsrtp's binding of srtp_protect")
    except Exception as exc:  # the binding or the session changed shape
        problems.append(f"pylibsrtp's session ({exc!r})")
    try:
        probe = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))  # type: ignore[arg-type]
        for name in ("__decoder_queue", "__jitter_buffer", "__decoder_thread"):
            need(hasattr(probe, "_RTCRtpReceiver" + name), f"RTCRtpReceiver.{name}")
    except Exception as exc:  # any failure here means the constructor changed shape
        problems.append(f"RTCRtpReceiver construction ({exc!r})")
    if problems:
        raise AiortcInternalsMoved(
            f"aiortc {aiortc.__version__} (pinned {PINNED_AIORTC}) moved internals the forwarder hooks into: "
            + ", ".join(problems)
            + ". Reinstall aiortc=="
            + PINNED_AIORTC
            + " or update media_server/aiortc_adapter.py."
        )
    if pylibsrtp.__version__ != PINNED_PYLIBSRTP:
        logger.warning(
            "pylibsrtp %s is not the pinned %s; its binding checked and present",
            pylibsrtp.__version__,
            PINNED_PYLIBSRTP,
        )
    if aiortc.__version__ != PINNED_AIORTC:
        logger.warning(
            "aiortc %s is not the pinned %s; hook points checked and present", aiortc.__version__, PINNED_AIORTC
        )
