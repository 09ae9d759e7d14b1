"""Loss on the publisher's hop, many keyframe requests, the network policy, and the start-up self-check."""

from __future__ import annotations

import itertools
import logging
import random
import re

import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from media_tools import node_publish as publish
from media_tools import node_subscribe as subscribe

from media_server import AiortcInternalsMoved, MediaNode, MediaSettings, check_internals


@pytest.fixture
async def node():
    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"]))
    yield node
    await node.close()


async def test_loss_on_the_publishers_hop_is_repaired(node, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    publisher, source = await publish(node)
    server_transports = {t.receiver.transport for s in node.sessions.values() for t in s.pc.getTransceivers()}
    dropped = {"count": 0}
    original = RTCDtlsTransport._handle_rtp_data
    rng = random.Random(7)

    async def lossy(self, data, arrival_time_ms):
        # 10 % of RTP packets from the publisher never reach the server (RTCP, types 192-223, still does).
        if self in server_transports and not 192 <= data[1] <= 223 and rng.random() < 0.10:
            dropped["count"] += 1
            return
        await original(self, data, arrival_time_ms)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", lossy)
    subscriber = await subscribe(node, source)
    try:
        await subscriber.wait_frames(90, timeout=20)
        assert dropped["count"] > 30
        counters = subscriber.counters
        gaps = [b - a for a, b in itertools.pairwise(counters)]
        assert min(gaps) >= 1 and max(gaps) <= 3, gaps  # in order, nothing lost for good
        assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
    finally:
        await subscriber.close()
        await publisher.close()


async def test_many_keyframe_requests_reach_the_publisher_as_few(node):
    publisher, source = await publish(node)
    subscribers = [await subscribe(node, source, kinds=("video",)) for _ in range(4)]
    try:
        for s in subscribers:
            await s.wait_frames(5)
        forwarder = node.participant("r1", source).publications["video"].forwarder
        before_received, before_sent = forwarder.keyframes.requests_received, forwarder.keyframes.requests_sent
        for s in subscribers:  # every viewer reports picture loss at once
            receiver: RTCRtpReceiver = s.pc.getTransceivers()[0].receiver
            await receiver._send_rtcp_pli(receiver.getSynchronizationSources()[0].source)
        keyframes_before = forwarder.keyframes_in
        for _ in range(40):
            if (
                forwarder.keyframes.requests_received >= before_received + 4
                and forwarder.keyframes_in > keyframes_before
            ):
                break
            await __import__("asyncio").sleep(0.05)
        assert forwarder.keyframes.requests_received >= before_received + 4
        assert forwarder.keyframes.requests_sent - before_sent <= 2
        assert forwarder.keyframes_in > keyframes_before  # and the publisher did send a keyframe
    finally:
        for s in subscribers:
            await s.close()
        await publisher.close()


async def test_port_range_and_advertised_address():
    settings = MediaSettings(
        interfaces=["127.0.0.1"], udp_port_min=41000, udp_port_max=41050, advertised_addresses=["203.0.113.7"]
    )
    node = MediaNode(settings)
    try:
        publisher, source = await publish(node)
        answer = next(iter(node.sessions.values())).answer_sdp
        candidates = re.findall(r"a=candidate:\S+ \d (?:udp|UDP) \d+ (\S+) (\d+) typ host", answer)
        hosts = {host for host, _ in candidates}
        assert hosts == {"127.0.0.1", "203.0.113.7"}
        assert all(41000 <= int(port) <= 41050 for _, port in candidates)
        subscriber = await subscribe(node, source)
        await subscriber.wait_frames(10)  # media still flows over the real address
        await subscriber.close()
        await publisher.close()
    finally:
        await node.close()
        MediaNode(MediaSettings(interfaces=["127.0.0.1"]))  # restore the loopback policy for later tests


def test_the_self_check_names_what_an_upgrade_moved(monkeypatch):
    check_internals()
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    with pytest.raises(AiortcInternalsMoved, match="_send_rtcp_pli"):
        check_internals()


def test_serve_stops_with_a_clear_message_when_internals_moved(monkeypatch, tmp_path, capsys):
    from web_ui import cli

    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    assert cli.main(["serve", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    error = capsys.readouterr().err
    assert "moved internals" in error and "aiortc==1.16.0" in error


async def test_loss_on_a_subscribers_hop_is_repaired_from_the_forwarders_history(node, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    publisher, source = await publish(node)
    subscriber = await subscribe(node, source, kinds=("video",))
    subscriber_transports = {t.receiver.transport for t in subscriber.pc.getTransceivers()}
    original = RTCDtlsTransport._handle_rtp_data
    rng = random.Random(11)
    dropped = {"count": 0}

    async def lossy(self, data, arrival_time_ms):
        # 10 % of the forwarded RTP never reaches this subscriber: it must NACK, and the server resend.
        if self in subscriber_transports and not 192 <= data[1] <= 223 and rng.random() < 0.10:
            dropped["count"] += 1
            return
        await original(self, data, arrival_time_ms)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", lossy)
    try:
        await subscriber.wait_frames(90, timeout=20)
        assert dropped["count"] > 20
        gaps = [b - a for a, b in itertools.pairwise(subscriber.counters)]
        assert min(gaps) >= 1 and max(gaps) <= 3, gaps
        assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
    finally:
        await subscriber.close()
        await publisher.close()
