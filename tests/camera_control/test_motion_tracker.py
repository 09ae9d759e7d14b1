"""Motion samples become events: one event per crossing, ended after the hold, even when the camera says
"no motion" only once (as ONVIF cameras do) and then nothing more."""

from __future__ import annotations

import asyncio

from camera_control.motion import MotionSample, MotionTracker
from camera_control.onvif.uris import redact, storable, with_credentials


async def test_a_single_no_motion_ends_the_event_after_the_hold():
    started, ended = [], []
    tracker = MotionTracker("camera", 0.2, started.append, lambda event, at: ended.append(event))
    tracker.update(MotionSample(True, 1.0))
    tracker.update(MotionSample(True, 1.0))  # still the same event
    tracker.update(MotionSample(False))  # within the hold: not yet
    assert len(started) == 1 and ended == []
    await asyncio.sleep(0.4)
    assert ended == started and tracker.current is None


async def test_motion_within_the_hold_keeps_one_event():
    started, ended = [], []
    tracker = MotionTracker("detector", 0.3, started.append, lambda event, at: ended.append(event))
    tracker.update(MotionSample(True, 0.1, ((0.1, 0.1, 0.2, 0.2),)))
    tracker.update(MotionSample(False))
    await asyncio.sleep(0.1)
    tracker.update(MotionSample(True, 0.3, ((0.2, 0.1, 0.2, 0.3),)))  # the person paused, and walks on
    await asyncio.sleep(0.5)
    tracker.update(MotionSample(False))
    await asyncio.sleep(0.5)
    assert len(started) == 1 and len(ended) == 1
    assert ended[0].score == 0.3 and ended[0].boxes == [[0.2, 0.1, 0.2, 0.3]]


def test_stored_stream_uris_carry_no_credentials():
    # XiongMai puts the credentials into the RTSP path; others into the query or the userinfo.
    given = "rtsp://admin:S3cret%21@192.168.1.9:554/user=admin_password=S3cret!_channel=1_stream=0.sdp?token=abc"
    stored = storable(given)
    assert "S3cret" not in stored and "abc" not in stored and "admin" not in stored
    assert stored == "rtsp://192.168.1.9:554/user=_password=_channel=1_stream=0.sdp"
    ingest = with_credentials(stored, "admin", "N3w pass")
    assert ingest == "rtsp://admin:N3w%20pass@192.168.1.9:554/user=admin_password=N3w%20pass_channel=1_stream=0.sdp"
    assert "N3w" not in redact(ingest)
