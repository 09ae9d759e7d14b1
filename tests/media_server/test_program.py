"""The program feed on a MediaNode: decoded only while watched, encoded once per codec, led by the speaker."""

from __future__ import annotations

import asyncio
import re
import threading

from media_tools import Publisher, Subscriber, eventually, luma, read_tile_stamp

from media_server import MediaNode, MediaSettings

SIZE = (640, 360)


def node_with_program(**settings: object) -> MediaNode:
    program = {"width": SIZE[0], "height": SIZE[1], "clock": False, "idle_timeout": 0.2, **settings}
    return MediaNode(MediaSettings(interfaces=["127.0.0.1"], program=program))


async def publish(node: MediaNode, name: str, start: int, audio: bool = True) -> tuple[Publisher, str]:
    publisher = Publisher(start=start, fps=15, audio=audio)
    participant = node.join("r1", name=name, role="staff", may_open=True)
    session = await node.publish(participant, await publisher.offer())
    await publisher.accept(session.answer_sdp)
    return publisher, participant.id


async def watch(node: MediaNode, video_codec: str | None = None) -> Subscriber:
    viewer = Subscriber(video_codec=video_codec)
    viewer.keep_frames = 100_000
    participant = node.join("r1", name="大屏", role="observer", may_open=False, transient=True)
    session = await node.subscribe_program(participant, await viewer.offer())
    await viewer.accept(session.answer_sdp)
    return viewer


def program_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(("decode-", "program-")))


def whole_picture_counter(viewer: Subscriber) -> int:
    return read_tile_stamp(luma(viewer.frames[-1]), "speaker", 0, SIZE)


def answered_video_codecs(viewer: Subscriber) -> set[str]:
    """The video codecs the node's answer gave this viewer (RTX aside)."""
    video = viewer.pc.remoteDescription.sdp.split("m=video", 1)[1].split("\r\nm=", 1)[0]
    return set(re.findall(r"^a=rtpmap:\d+ ([\w-]+)/", video, re.MULTILINE)) - {"rtx"}


async def test_a_viewer_taking_both_codecs_gets_h264_unless_the_settings_say_vp8():
    for setting in ("H264", "VP8"):
        node = node_with_program(video_codec=setting)
        publisher, _ = await publish(node, "县局", 3000, audio=False)
        viewer = None
        try:
            viewer = await watch(node)  # offers VP8 first, then H.264, as browsers do
            assert answered_video_codecs(viewer) == {setting}
            await eventually(
                lambda v=viewer: bool(v.frames) and whole_picture_counter(v) // 1000 == 3,
                what=f"the publisher's picture in {setting}",
            )
            assert sorted(node.programs["r1"]._encoders) == [setting]
        finally:
            if viewer is not None:
                await viewer.close()
            await publisher.close()
            await node.close()


async def test_the_program_decodes_only_while_watched_and_encodes_once_per_codec():
    node = node_with_program()
    publishers = [await publish(node, "县局", 1000), await publish(node, "乡镇", 2000)]
    viewers: list[Subscriber] = []
    try:
        await asyncio.sleep(0.5)
        assert program_threads() == [], "nobody watches: nothing is decoded"
        viewers = [await watch(node, "video/VP8") for _ in range(3)] + [await watch(node, "video/H264")]
        for viewer in viewers:
            await viewer.wait_frames(10)
        program = node.programs["r1"]
        # Four viewers, two codecs: two encoders. Two publishers: two decoders, one each.
        assert sorted(program._encoders) == ["H264", "VP8"]
        assert len([name for name in program_threads() if name.startswith("decode-")]) == 2
        for viewer in viewers:
            await eventually(
                lambda v=viewer: read_tile_stamp(luma(v.frames[-1]), "side_by_side", 1, SIZE) // 1000 == 2,
                what="the second publisher in the right half",
            )
        for viewer in viewers:
            await viewer.close()
        # The last viewer gone, the program stops after its idle timeout: no thread is left.
        await eventually(lambda: program_threads() == [], what="the program's threads to end")
        assert not program.running
        # A viewer coming back starts it again, from a fresh keyframe.
        viewers = [await watch(node)]
        await viewers[0].wait_frames(10)
        assert program.running and len([n for n in program_threads() if n.startswith("decode-")]) == 2
    finally:
        for viewer in viewers:
            await viewer.close()
        for publisher, _ in publishers:
            await publisher.close()
        await node.close()
    assert program_threads() == []


async def test_the_active_speaker_takes_the_picture_and_muted_video_shows_the_name():
    node = node_with_program()
    silent, silent_id = await publish(node, "旁听", 1000, audio=False)  # joined first, says nothing
    speaker, speaker_id = await publish(node, "王局长", 2000)  # speaks (a steady tone)
    viewer = None
    try:
        node.direct_program("r1", layout="speaker")
        viewer = await watch(node)
        await eventually(lambda: bool(viewer.frames) and whole_picture_counter(viewer) // 1000 == 2, what="the speaker")
        assert node.program_info("r1")["active_speaker"] == speaker_id
        # Pinning someone overrides the speaker.
        node.direct_program("r1", shown=[silent_id])
        await eventually(lambda: whole_picture_counter(viewer) // 1000 == 1, what="the pinned participant")
        # Their camera off: no decoder for them, a placeholder with their name instead of a frozen picture.
        node.set_muted(node.participant("r1", silent_id), audio=None, video=True)
        program = node.programs["r1"]
        await eventually(lambda: silent_id not in program._video_decoders, what="the decoder to stop")
        await eventually(lambda: float(luma(viewer.frames[-1])[:40].std()) < 4, what="a calm placeholder")
    finally:
        if viewer is not None:
            await viewer.close()
        await silent.close()
        await speaker.close()
        await node.close()
    assert program_threads() == []


async def test_a_participant_who_publishes_again_is_decoded_from_the_new_stream():
    node = node_with_program()
    participant = node.join("r1", name="县局", role="staff", may_open=True)
    first = Publisher(start=1000, fps=15)
    session = await node.publish(participant, await first.offer())
    await first.accept(session.answer_sdp)
    viewer = await watch(node)
    second = None
    try:
        await eventually(lambda: bool(viewer.frames) and whole_picture_counter(viewer) // 1000 == 1, what="first")
        await node.end_session(session.id)  # the camera was switched: a new publication, a new forwarder
        await first.close()
        second = Publisher(start=5000, fps=15)
        again = await node.publish(participant, await second.offer())
        await second.accept(again.answer_sdp)
        await eventually(lambda: whole_picture_counter(viewer) // 1000 == 5, what="the new stream")
        program = node.programs["r1"]
        forwarder = participant.publications["video"].forwarder
        assert program._listeners[("video", participant.id)][0] is forwarder
    finally:
        await viewer.close()
        await first.close()
        if second is not None:
            await second.close()
        await node.close()
    assert program_threads() == []
