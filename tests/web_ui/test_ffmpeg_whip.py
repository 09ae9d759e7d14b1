"""An independent WHIP client: FFmpeg's own `whip` muxer (PyAV's bundled FFmpeg) publishes into a room,
and an aiortc WHEP subscriber decodes what the hall forwards."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from pathlib import Path

import pytest
from media_tools import Subscriber

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]


async def test_ffmpeg_whip_muxer_publishes_and_a_whep_subscriber_decodes(hall, tmp_path):
    hall.services.media.open_room("ff", opened_by="test")
    room = hall.services.media.rooms["ff"]
    log_path = tmp_path / "ffmpeg_whip_publisher.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    subscriber = Subscriber()
    with log_path.open("wb") as log:
        # The muxer blocks in C (HTTP, ICE, DTLS) holding the GIL: never in this process, which runs the server.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(TESTS / "ffmpeg_whip_publisher.py"),
            f"{hall.base_url}/whip/ff",
            hall.token("ff", "staff", "FFmpeg"),
            "20",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )

    def publisher_output() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    try:
        deadline = time.monotonic() + 20
        while True:
            publishers = [p for p in room.participants.values() if p.name == "FFmpeg" and len(p.publications) == 2]
            if publishers:
                break
            assert process.returncode is None, f"publisher exited {process.returncode}:\n{publisher_output()}"
            assert time.monotonic() < deadline, f"no publications from FFmpeg:\n{publisher_output()}"
            await asyncio.sleep(0.1)
        participant = publishers[0]
        codecs = {p["kind"]: p["codec"] for p in participant.info()["publications"]}
        assert codecs["video"].upper() == "H264", codecs
        assert codecs["audio"].lower() == "opus", codecs

        response = await hall.client.post(
            "/whep/ff",
            params={"participant": participant.id},
            content=await subscriber.offer(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {hall.token('ff', 'observer')}"},
        )
        assert response.status_code == 201, response.text
        await subscriber.accept(response.text)
        try:
            await subscriber.wait_frames(30, timeout=20)
        except AssertionError as error:
            raise AssertionError(f"{error}; publisher output:\n{publisher_output()}") from None
        counters = list(subscriber.counters)
        assert all(b > a for a, b in itertools.pairwise(counters)), counters
        for _ in range(100):
            if subscriber.audio_frames > 10:
                break
            await asyncio.sleep(0.05)
        assert subscriber.audio_frames > 10, f"{subscriber.audio_frames} audio frames:\n{publisher_output()}"
        assert subscriber.audio_peak > 2000, subscriber.audio_peak  # the publisher's 440 Hz tone, not silence
    finally:
        await subscriber.close()
        if process.returncode is None:
            process.kill()
        await process.wait()
