"""Selective forwarding with real aiortc peers over loopback and real VP8/H.264/Opus codecs."""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
import threading

import pytest
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtcpRrPacket
from media_tools import Subscriber, luma, psnr
from media_tools import node_publish as publish
from media_tools import node_subscribe as subscribe

from media_server import MediaNode, MediaSettings


def video_senders(node):
    """The forwarding senders of every subscriber's video."""
    return [
        transceiver.sender._run_rtp.__self__  # install_forwarding_sender's stand-in for aiortc's send loop
        for session in node.sessions.values()
        if session.purpose == "subscribe"
        for transceiver in session.pc.getTransceivers()
        if transceiver.kind == "video" and transceiver.sender.track is not None
    ]


def assert_in_order_and_the_publishers(subscriber, publisher):
    """The counters arrived in order, and the latest picture is the publisher's, within codec loss."""
    assert subscriber.counters == sorted(subscriber.counters)
    counter = subscriber.counters[len(subscriber.frames) - 1]
    assert psnr(luma(subscriber.frames[-1]), publisher.video.reference(counter)) > 30


@pytest.fixture
async def node():
    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"]))
    yield node
    await node.close()


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_every_subscriber_decodes_the_publishers_frames(node, codec):
    publisher, source = await publish(node, codec=codec)
    subscribers = [await subscribe(node, source) for _ in range(3)]
    for s in subscribers:
        s.keep_frames = 40
    try:
        for s in subscribers:
            await s.wait_frames(45)
        for s in subscribers:
            # Counters arrive in order, with no more than a frame or two missing at the join.
            assert s.counters == sorted(s.counters)
            assert s.counters[-1] - s.counters[0] <= len(s.counters) + 2
            # The picture is the publisher's, within codec loss.
            frame = s.frames[-1]
            counter = s.counters[len(s.frames) - 1]
            assert psnr(luma(frame), publisher.video.reference(counter)) > 30
            assert s.audio_frames > 20 and s.audio_peak > 2000  # the tone arrived, not silence
        publication = node.participant("r1", source).publications["video"]
        assert publication.forwarder.codec.name == codec.split("/")[1]
        # Nothing was decoded on the server: its receivers never started a decoder thread.
        for session in node.sessions.values():
            for tap in session.taps:
                assert not tap.decoder_running
        decoders = [t for t in threading.enumerate() if t.name.endswith("-decoder") and t.is_alive()]
        assert len(decoders) == 2 * len(subscribers)  # only the subscribers' own audio and video
        if sys.platform == "linux":  # a frame of several packets left in one system call (UDP segmentation)
            senders = video_senders(node)
            assert len(senders) == len(subscribers) and all(s.gso_sends > 0 for s in senders)
    finally:
        for s in subscribers:
            await s.close()
        await publisher.close()


async def test_frames_still_arrive_where_the_kernel_refuses_udp_segmentation(node, monkeypatch):
    refusals = []

    def refuse(sock, *args):  # as a network card without checksum offload does (or a kernel before 4.18)
        refusals.append(args)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(socket.socket, "sendmsg", refuse)
    publisher, source = await publish(node)
    subscriber = await subscribe(node, source, kinds=("video",))
    try:
        await subscriber.wait_frames(45)
        gaps = [b - a for a, b in zip(subscriber.counters, subscriber.counters[1:], strict=False)]
        assert max(gaps) <= 2, gaps  # the refused frame was sent packet by packet, and every frame after it
        assert len(refusals) == (sys.platform == "linux")  # tried once, then packet by packet for good
        assert [s.gso_sends for s in video_senders(node)] == [0]
    finally:
        await subscriber.close()
        await publisher.close()


async def test_a_frame_larger_than_the_shared_frame_buffer_grows_it_and_arrives_whole(node, monkeypatch):
    from media_server.aiortc_adapter import FrameBuffer

    small = FrameBuffer(2048)  # the senders of this thread lay out every frame here: smaller than a keyframe
    monkeypatch.setattr(FrameBuffer._local, "buffer", small, raising=False)
    publisher, source = await publish(node)
    subscriber = await subscribe(node, source, kinds=("video",))
    subscriber.keep_frames = 5
    try:
        await subscriber.wait_frames(30)
        assert_in_order_and_the_publishers(subscriber, publisher)
        assert small.size >= 65536 and small.size % 65536 == 0  # grown, in whole 64 KiB steps
    finally:
        await subscriber.close()
        await publisher.close()


async def test_a_publisher_that_splits_frames_about_equally_is_forwarded_in_its_own_packets(node, monkeypatch):
    # Browsers (libwebrtc) cut a frame into packets whose sizes differ by a byte; the server forwards
    # them as they are, with a byte or two of RTP padding so that each frame still leaves in one
    # UDP segmentation send, and the subscriber's decoder never sees the padding.
    from aiortc.codecs import vpx

    from media_server.aiortc_adapter import ForwardingSender, SendResult

    def split_about_equally(buffer: bytes, picture_id: int) -> list[bytes]:
        count = -(-len(buffer) // (vpx.PACKET_MAX - 4))
        base, larger = divmod(len(buffer), count)
        sizes = [base] * (count - larger) + [base + 1] * larger  # the shorter first, as a worst case
        payloads, position = [], 0
        for n, size in enumerate(sizes):
            descriptor = vpx.VpxPayloadDescriptor(partition_start=int(n == 0), partition_id=0, picture_id=picture_id)
            payloads.append(bytes(descriptor) + buffer[position : position + size])
            position += size
        return payloads

    monkeypatch.setattr(vpx.Vp8Encoder, "_packetize", staticmethod(split_about_equally))
    sent = []
    send_frame = ForwardingSender.send_frame

    def recording_send_frame(self, frame):
        result = send_frame(self, frame)
        if result is SendResult.SENT:
            sent.append(frame)
        return result

    monkeypatch.setattr(ForwardingSender, "send_frame", recording_send_frame)
    publisher, source = await publish(node)
    subscriber = await subscribe(node, source, kinds=("video",))
    subscriber.keep_frames = 5
    try:
        await subscriber.wait_frames(45)
        assert_in_order_and_the_publishers(subscriber, publisher)
        padded = [f for f in sent if f.pads]
        assert len(padded) >= 10 and all(f.segment == max(map(len, f.payloads)) for f in padded)
        if sys.platform == "linux":  # each frame of several packets in one system call
            assert video_senders(node)[0].gso_sends == len([f for f in sent if len(f.payloads) > 1])
    finally:
        await subscriber.close()
        await publisher.close()


async def test_late_subscriber_gets_a_picture_within_a_second(node):
    publisher, source = await publish(node)
    early = await subscribe(node, source)
    await early.wait_frames(10)
    await asyncio.sleep(1.5)  # well past the first keyframe
    loop = asyncio.get_running_loop()
    started = loop.time()
    late = await subscribe(node, source)
    try:
        await late.wait_frames(1, timeout=5)
        assert late.first_frame_at - started < 1.0
        forwarder = node.participant("r1", source).publications["video"].forwarder
        assert forwarder.keyframes.requests_sent >= 1
    finally:
        await late.close()
        await early.close()
        await publisher.close()


async def test_subscribers_are_not_asked_for_bandwidth_estimates_that_nothing_reads(node):
    """A forwarded stream's rate is the publisher's, so a subscriber's answer leaves out abs-send-time
    and goog-remb, and the subscriber sends no REMB; the publisher's answer keeps them, since the
    relay's own estimate is what steers the publisher."""
    publisher, source = await publish(node)
    subscriber = Subscriber()
    subscriber.keep_frames = 60
    offer = await subscriber.offer()
    assert "abs-send-time" in offer and "goog-remb" in offer  # aiortc offers both
    participant = node.join("r1", name="观众", role="observer", may_open=False, transient=True)
    session = await node.subscribe(participant, source, offer)
    (video,) = [t for t in session.pc.getTransceivers() if t.kind == "video"]
    received = []
    handle_rtcp = video.sender._handle_rtcp_packet

    async def record(packet):
        received.append(packet)
        await handle_rtcp(packet)

    video.sender._handle_rtcp_packet = record
    await subscriber.accept(session.answer_sdp)
    try:
        assert "abs-send-time" not in session.answer_sdp and "goog-remb" not in session.answer_sdp
        (published,) = [s for s in node.sessions.values() if s.purpose == "publish"]
        assert "abs-send-time" in published.answer_sdp and "goog-remb" in published.answer_sdp
        await subscriber.wait_frames(60)  # two seconds of video
        assert any(isinstance(p, RtcpRrPacket) for p in received)  # the subscriber reports, as it should
        assert not [p for p in received if isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_APP]  # no REMB
        assert_in_order_and_the_publishers(subscriber, publisher)
    finally:
        await subscriber.close()
        await publisher.close()
