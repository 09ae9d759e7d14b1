"""The forwarding rules on their own: keyframe gating, bounded queues, coalesced keyframe requests."""

from __future__ import annotations

import asyncio
import fractions
import itertools

import av
import numpy as np
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media_server import MediaStats, TrackForwarder
from media_server.aiortc_adapter import (
    CodecInfo,
    EncodedFrame,
    HeaderExtensionBlock,
    SendResult,
    is_keyframe,
    rtp_header_with_extension,
    segment_spans,
)
from media_server.packetizer import H264_FU_A, H264_STAP_A, PACKET_MAX, Packetizer, h264_nal_units

VP8 = CodecInfo("video", "VP8", 90000, None, {})
KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A])  # frame tag bit 0 = 0: a key frame
DELTA = bytes([0x31, 0x02, 0x00])


def frame(data: bytes, n: int) -> EncodedFrame:
    return EncodedFrame(data, n * 3000, is_keyframe("VP8", data))


class CountingRequests:
    def __init__(self) -> None:
        self.sent = 0

    def __call__(self) -> bool:
        self.sent += 1
        return True


def test_keyframes_are_recognised():
    assert is_keyframe("VP8", KEY) and not is_keyframe("VP8", DELTA)
    assert is_keyframe("H264", b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65\x88")  # SPS then IDR
    assert not is_keyframe("H264", b"\x00\x00\x00\x01\x41\x9a")  # a non-IDR slice
    assert is_keyframe("opus", b"\x78")


class RecordingSink:
    """Stands in for a subscriber's forwarding sender (the socket side is tested with real peers)."""

    def __init__(self) -> None:
        self.frames: list = []
        self.result = SendResult.SENT

    def __call__(self, frame):
        if self.result is SendResult.SENT:
            self.frames.append(frame)
        return self.result


async def test_a_new_subscriber_waits_for_a_keyframe_and_asks_for_one():
    requests = CountingRequests()
    forwarder = TrackForwarder("video", requests, MediaStats(), keyframe_interval=0.05)
    forwarder.push(VP8, frame(KEY, 0))
    track = forwarder.subscribe()
    forwarder.push(VP8, frame(KEY, 1))  # not connected yet: frames pass it by, no request
    assert requests.sent == 0
    sink = RecordingSink()
    track.attach_sink(sink)  # connected
    assert requests.sent == 1
    forwarder.push(VP8, frame(DELTA, 2))  # useless without the keyframe before it: not sent
    forwarder.push(VP8, frame(KEY, 3))
    forwarder.push(VP8, frame(DELTA, 4))
    first, second = sink.frames
    assert (first.timestamp, first.keyframe, second.timestamp) == (9000, True, 12000)
    # Packetised once for every subscriber: a VP8 payload descriptor, then the frame.
    assert first.payloads[0].endswith(KEY) and second.payloads[0].endswith(DELTA)


async def test_requests_from_many_subscribers_become_one():
    requests = CountingRequests()
    forwarder = TrackForwarder("video", requests, MediaStats(), keyframe_interval=0.2)
    for _ in range(8):
        forwarder.subscribe().attach_sink(RecordingSink())  # each joiner asks for a keyframe
        forwarder.keyframes.request()  # and each sends a PLI too
    assert requests.sent == 1
    await asyncio.sleep(0.3)
    assert requests.sent == 2  # one more after the quiet interval, so no request is lost
    await asyncio.sleep(0.3)
    assert requests.sent == 2
    assert forwarder.keyframes.requests_received == 16


async def test_a_backed_up_subscriber_skips_to_the_next_keyframe_and_the_others_do_not_wait():
    stats = MediaStats()
    requests = CountingRequests()
    forwarder = TrackForwarder("video", requests, stats, keyframe_interval=0.05)
    slow, fast = RecordingSink(), RecordingSink()
    forwarder.subscribe().attach_sink(slow)
    forwarder.subscribe().attach_sink(fast)
    forwarder.push(VP8, frame(KEY, 0))
    slow.result = SendResult.CONGESTED  # its socket's send buffer is full
    for n in range(1, 6):
        forwarder.push(VP8, frame(DELTA, n))
    assert stats.dropped_frames == 1  # then it waits for a keyframe instead of queueing
    slow.result = SendResult.SENT  # drained
    forwarder.push(VP8, frame(DELTA, 6))
    forwarder.push(VP8, frame(KEY, 7))
    forwarder.push(VP8, frame(DELTA, 8))
    assert [f.timestamp // 3000 for f in slow.frames] == [0, 7, 8]  # resumed cleanly at the keyframe
    assert [f.timestamp // 3000 for f in fast.frames] == list(range(9))


async def test_audio_is_never_gated_and_the_end_reaches_subscribers():
    forwarder = TrackForwarder("audio", CountingRequests(), MediaStats())
    opus = CodecInfo("audio", "opus", 48000, 2, {})
    track = forwarder.subscribe()
    sink = RecordingSink()
    track.attach_sink(sink)
    forwarder.push(opus, EncodedFrame(b"\x78\x01", 960, True))
    assert sink.frames[0].payloads == [b"\x78\x01"]
    forwarder.end()
    await asyncio.wait_for(track.wait_ended(), 1)
    assert track.readyState == "ended" and forwarder.tracks == set()


def test_the_video_buffer_releases_at_the_marker_and_knows_the_media_ssrc():
    # RTX packets reach the buffer unwrapped (original SSRC), so this is the SSRC a PLI must name;
    # the receiver's own list of sources also holds the RTX SSRC, which Chrome ignores.
    from aiortc.rtp import RtpPacket

    from media_server.aiortc_adapter import MarkerJitterBuffer

    buffer = MarkerJitterBuffer(capacity=16, is_video=True)
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=3000, ssrc=1234)
    packet.marker = 1
    packet._data = KEY  # as aiortc's depayloader leaves it
    assert buffer.add(packet)[1].data == KEY  # released at the marker bit, not one frame later
    assert buffer.media_ssrc == 1234


def test_a_received_frame_goes_out_in_the_publishers_own_payloads():
    # As an SFU should: the publisher's payload descriptors (picture id, partitions, layers) reach
    # every subscriber unchanged, and the frame is not cut up again. Padding-only packets (bandwidth
    # probes) are left out; payloads larger than ours would be are cut again to fit the path.
    from aiortc.codecs.vpx import VpxPayloadDescriptor
    from aiortc.rtp import RtpPacket

    from media_server.aiortc_adapter import MarkerJitterBuffer

    def received(payloads: list[bytes], first_sequence: int, timestamp: int) -> EncodedFrame:
        buffer = MarkerJitterBuffer(capacity=64, is_video=True)
        out = None
        for n, payload in enumerate(payloads):
            packet = RtpPacket(payload_type=96, sequence_number=first_sequence + n, timestamp=timestamp, ssrc=7)
            packet.payload, packet.marker = payload, int(n == len(payloads) - 1)
            packet._data = VpxPayloadDescriptor.parse(payload)[1] if payload else b""  # as aiortc's depayloader
            out = buffer.add(packet)[1]
        assert out is not None
        return EncodedFrame(out.data, timestamp, is_keyframe("VP8", out.data), False, out.payloads)

    def descriptor(picture_id: int, start: bool) -> bytes:
        return bytes((0x90 if start else 0x80, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF))

    body = bytes(range(256)) * 8
    publisher = [descriptor(4321, True) + KEY + body[:1000], descriptor(4321, False) + body[1000:1700], b""]
    forwarder = TrackForwarder("video", CountingRequests(), MediaStats())
    sink = RecordingSink()
    forwarder.subscribe().attach_sink(sink)
    key = received(publisher, 100, 3000)
    forwarder.push(VP8, key)
    assert sink.frames[0].payloads == publisher[:2]  # byte for byte, the padding packet left out
    assert sink.frames[0].size == len(key.data) and sink.frames[0].payload_size == sum(map(len, publisher))

    large = [descriptor(4322, True) + DELTA + body[: PACKET_MAX + 100]]  # from a sender with a larger MTU
    forwarder.push(VP8, received(large, 103, 6000))
    cut = sink.frames[1].payloads
    assert len(cut) == 2 and max(map(len, cut)) <= PACKET_MAX
    assert b"".join(VpxPayloadDescriptor.parse(p)[1] for p in cut) == DELTA + body[: PACKET_MAX + 100]

    forwarder.push(VP8, received([b""], 104, 9000))  # a padding-only "frame": nothing to send
    assert len(sink.frames) == 2


def test_vp8_is_packetised_as_aiortc_reads_it():
    from aiortc.codecs.vpx import VpxPayloadDescriptor

    packetizer = Packetizer(VP8)
    for size in (1, 1296, 1297, 7777):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        payloads = packetizer.payloads(EncodedFrame(data, 0, True))
        parsed = [VpxPayloadDescriptor.parse(p) for p in payloads]
        assert [d.partition_start for d, _ in parsed] == [1] + [0] * (len(payloads) - 1)
        assert len({d.picture_id for d, _ in parsed}) == 1  # one picture, one id
        assert b"".join(rest for _, rest in parsed) == data
        assert max(len(p) for p in payloads) <= PACKET_MAX
        assert len({len(p) for p in payloads[:-1]}) <= 1  # full packets but the last: one UDP GSO run
    ids = [
        VpxPayloadDescriptor.parse(packetizer.payloads(EncodedFrame(b"x", 0, True))[0])[0].picture_id for _ in range(3)
    ]
    assert ids[1] == (ids[0] + 1) % 32768 and ids[2] == (ids[1] + 1) % 32768


def _x264_access_units(count: int) -> list[bytes]:
    """Real H.264: a keyframe (SPS, PPS, SEI, IDR slices) and P frames of a moving noisy picture."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 360, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 25)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "slices": "2"}
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (540, 640), dtype=np.uint8)
    units = []
    for n in range(count):
        frame = av.VideoFrame.from_ndarray(np.roll(picture, 4 * n, axis=1), format="yuv420p")
        frame.pts = n
        units += [bytes(packet) for packet in encoder.encode(frame)]
    units += [bytes(packet) for packet in encoder.encode(None)]
    return units


def test_h264_is_packetised_as_aiortc_and_ffmpeg_read_it():
    from aiortc.codecs.h264 import H264PayloadDescriptor

    packetizer = Packetizer(CodecInfo("video", "H264", 90000, None, {"packetization-mode": "1"}))
    decoder = av.CodecContext.create("h264", "r")
    decoded = fragmented = 0
    access_units = _x264_access_units(6)
    for access_unit in access_units:
        payloads = packetizer.payloads(EncodedFrame(access_unit, 0, is_keyframe("H264", access_unit)))
        assert max(len(p) for p in payloads) <= PACKET_MAX
        depacketised = b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads)
        assert h264_nal_units(depacketised) == h264_nal_units(access_unit)  # every NAL unit, whole, in order
        fragments: dict[int, list[int]] = {}  # FU-A fragment sizes per NAL unit, in order
        for p in payloads:
            if p[0] & 0x1F == H264_FU_A:
                fragments.setdefault(len(fragments) - (not p[1] & 0x80), []).append(len(p))
        fragmented += len(fragments)
        for sizes in fragments.values():
            assert sizes[:-1] == [PACKET_MAX] * (len(sizes) - 1) and sizes[-1] <= PACKET_MAX
        if is_keyframe("H264", access_unit):  # SPS, PPS and SEI are small: they share one STAP-A packet
            assert payloads[0][0] & 0x1F == H264_STAP_A
        decoded += len(decoder.decode(av.Packet(depacketised)))
    decoded += len(decoder.decode(None))
    assert decoded == len(access_units)
    assert fragmented >= 2 * len(access_units)  # two slices a frame, each larger than a packet


def test_a_frames_packets_are_grouped_into_runs_one_udp_segmentation_send_can_carry():
    def sizes(lengths: list[int]) -> list[list[int]]:
        ends = list(itertools.accumulate(lengths))
        return [[min(size, end - at) for at in range(start, end, size)] for start, end, size in segment_spans(ends)]

    assert sizes([1310, 1310, 1310, 800]) == [[1310, 1310, 1310, 800]]  # equal, then one shorter
    assert sizes([60, 1310, 1310, 900, 1310, 500]) == [[60], [1310, 1310, 900], [1310, 500]]  # STAP-A, two NALs
    assert sizes([500, 900]) == [[500], [900]]  # a longer packet never follows a shorter one in a run
    assert sizes([800, 800, 800]) == [[800, 800, 800]]
    many = sizes([1000] * 150)
    assert [len(run) for run in many] == [60, 60, 30]  # under 64 segments and 60,000 bytes a send
    assert sizes([]) == []


def test_a_sender_header_with_abs_send_time_reads_back_as_aiortc_lays_it_out():
    """Subscribers no longer negotiate abs-send-time, but a forwarding sender still lays it out
    right when one does: one pack per packet gives the header and the block, with the time in it."""
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
            ]
        )
    )
    block = HeaderExtensionBlock(extensions, "1")
    assert block.fixed is None and HeaderExtensionBlock(None, None).fixed == b""
    header = rtp_header_with_extension(block.size)
    for abs_send_time in (0, 0x123456, 0xFFFFFF):
        packet = bytearray(header.size) + b"payload"
        header.pack_into(packet, 0, 0x90, 0x80 | 96, 65535, 90000, 0xDEADBEEF, block.build(abs_send_time))
        parsed = RtpPacket.parse(bytes(packet), extensions)
        assert (parsed.marker, parsed.payload_type, parsed.sequence_number) == (1, 96, 65535)
        assert (parsed.timestamp, parsed.ssrc, parsed.payload) == (90000, 0xDEADBEEF, b"payload")
        assert (parsed.extensions.mid, parsed.extensions.abs_send_time) == ("1", abs_send_time)
