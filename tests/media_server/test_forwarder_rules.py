"""The forwarding rules on their own: keyframe gating, bounded queues, coalesced keyframe requests."""

from __future__ import annotations

import asyncio

from media_server import MediaStats, TrackForwarder
from media_server.aiortc_adapter import CodecInfo, EncodedFrame, SendResult, is_keyframe

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


def test_vp8_is_packetised_as_aiortc_reads_it():
    from aiortc.codecs.vpx import VpxPayloadDescriptor

    from media_server.aiortc_adapter import VP8_PACKET_MAX, Packetizer

    packetizer = Packetizer(VP8)
    for size in (1, 1296, 1297, 7777):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        payloads = packetizer.payloads(EncodedFrame(data, 0, True), None)
        parsed = [VpxPayloadDescriptor.parse(p) for p in payloads]
        assert [d.partition_start for d, _ in parsed] == [1] + [0] * (len(payloads) - 1)
        assert len({d.picture_id for d, _ in parsed}) == 1  # one picture, one id
        assert b"".join(rest for _, rest in parsed) == data
        assert max(len(p) for p in payloads) <= VP8_PACKET_MAX
    ids = [
        VpxPayloadDescriptor.parse(packetizer.payloads(EncodedFrame(b"x", 0, True), None)[0])[0].picture_id
        for _ in range(3)
    ]
    assert ids[1] == (ids[0] + 1) % 32768 and ids[2] == (ids[1] + 1) % 32768
