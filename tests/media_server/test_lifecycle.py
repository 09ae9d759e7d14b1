"""Sessions that never connect, subscriptions that end early, resubscribing, gaps, and decoding on demand."""

from __future__ import annotations

import asyncio

from aiortc.rtp import RtpPacket
from media_tools import Publisher, Subscriber, luma, node_publish, node_subscribe, read_stamp

from media_server import MediaNode, MediaSettings
from media_server.aiortc_adapter import MarkerJitterBuffer


async def test_a_peer_that_never_connects_does_not_keep_its_place():
    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"], connect_timeout=1.0))
    try:
        publisher = Publisher()
        participant = node.join("r1", name="走了的人", role="petitioner", may_open=True, transient=True)
        await node.publish(participant, await publisher.offer())
        await publisher.close()  # gone after its POST, before ICE: the answer is never applied
        for _ in range(40):
            if not node.sessions:
                break
            await asyncio.sleep(0.1)
        assert node.sessions == {} and node.rooms["r1"].participants == {}
        assert node.stats.peer_connections == 0
    finally:
        await node.close()


async def test_a_subscription_ended_before_it_connected_leaves_no_copy_behind():
    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"]))
    try:
        publisher, source = await node_publish(node)
        viewer = node.join("r1", name="观众", role="observer", may_open=False, transient=True)
        subscriber = Subscriber()
        session = await node.subscribe(viewer, source, await subscriber.offer())
        forwarder = node.participant("r1", source).publications["video"].forwarder
        assert len(forwarder.tracks) == 1
        await node.end_session(session.id)  # before the subscriber even applied the answer
        assert forwarder.tracks == set()
        assert node.stats.subscriptions == 0
        await subscriber.close()
        await publisher.close()
    finally:
        await node.close()


async def test_subscribing_again_replaces_the_earlier_subscription():
    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"]))
    try:
        publisher, source = await node_publish(node)
        viewer = node.join("r1", name="观众", role="observer", may_open=False)
        first, second = Subscriber(), Subscriber()
        await node.subscribe(viewer, source, await first.offer())
        session = await node.subscribe(viewer, source, await second.offer())
        await second.accept(session.answer_sdp)
        await second.wait_frames(5)
        subscriptions = [s for s in node.sessions.values() if s.participant is viewer]
        assert subscriptions == [session]
        assert len(node.participant("r1", source).publications["video"].forwarder.tracks) == 1
        for peer in (first, second, publisher):
            await peer.close()
    finally:
        await node.close()


async def test_mute_is_announced_only_when_it_changes():
    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"]))
    try:
        participant = node.join("r1", name="甲", role="staff", may_open=True)
        events = []
        participant.room.add_listener(events.append)
        for _ in range(50):
            node.set_muted(participant, audio=True, video=None)
        assert [e.type for e in events] == ["participant_updated"]
    finally:
        await node.close()


def test_a_frame_after_lost_frames_is_marked():
    buffer = MarkerJitterBuffer(capacity=16, is_video=True)

    def packet(sequence: int, timestamp: int) -> RtpPacket:
        p = RtpPacket(payload_type=96, sequence_number=sequence, timestamp=timestamp, ssrc=1)
        p.marker = 1
        p._data = b"\x31\x00"
        return p

    assert buffer.add(packet(1, 3000))[1] is not None and not buffer.frames_lost
    buffer.add(packet(3, 9000))  # 2 is missing: waits for it (NACK repairs it in real life)
    buffer.add(packet(40, 120000))  # far beyond the buffer: the incomplete frames are dropped
    assert buffer.frames_lost


async def test_decoding_starts_only_when_asked_and_then_gives_pictures():
    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"]))
    try:
        publisher, source = await node_publish(node)
        session = next(iter(node.sessions.values()))
        tap = next(t for t in session.taps if t._receiver.track.kind == "video")
        await node_subscribe(node, source)
        await asyncio.sleep(0.5)
        assert not tap.decoder_running  # forwarding alone never decodes
        tap.start_decoding()  # what the program feed will do
        assert tap.decoder_running
        frame = await asyncio.wait_for(tap._receiver.track.recv(), 5)
        assert frame.width == 640 and 0 < read_stamp(luma(frame)) <= publisher.video.count
        await publisher.close()
    finally:
        await node.close()
