"""The hall's cameras end to end: a simulated ONVIF camera added over the API, watched over WHEP with aiortc,
moved, sent to presets, and raising motion events, with bad input refused and nothing half-saved."""

from __future__ import annotations

import asyncio
import logging
import re
import threading

import cv2
import numpy as np
import pytest
from camera_tools import (
    SIM_PASSWORD,
    WallSocket,
    camera_body,
    session_token,
    shift_between,
    simulated_camera,
    watch,
)
from hall_tools import running_hall
from media_tools import eventually
from sqlalchemy import text

from camera_control.sim.scene import OSD_MASKS

pytestmark = pytest.mark.slow

FAST = {"cameras": {"idle_stop": 0.5, "health_interval": 0.5, "motion_hold": 0.5, "reconnect_max": 1.0}}


async def test_add_watch_move_preset_and_motion(tmp_path):
    async with simulated_camera() as camera, running_hall(tmp_path, **FAST) as hall:
        headers = await hall.bearer("guard", "security")
        response = await hall.client.post("/api/cameras", json=camera_body(camera), headers=headers)
        assert response.status_code == 201, response.text
        added = response.json()
        camera_id = added["id"]
        assert added["device"]["model"] == "SIM-PTZ-2MP"
        assert {p["token"] for p in added["profiles"]} == {"Profile_1", "Profile_2"}
        assert added["main_profile"] == "Profile_1" and added["sub_profile"] == "Profile_2"
        assert added["ptz"]["continuous"] and added["onvif_events"]
        assert SIM_PASSWORD not in response.text
        async with hall.services.db.engine.connect() as connection:
            stored = (await connection.execute(text("SELECT secret, main_uri FROM cameras"))).one()
        assert SIM_PASSWORD.encode() not in stored.secret and "@" not in stored.main_uri

        # Live view: H.264 as the camera sends it, nothing decoded or encoded on the way.
        viewer, location = await watch(hall, camera_id, headers)
        try:
            await viewer.wait_frames(20)
            ingest = hall.services.cameras.live.ingest(camera_id, "main")
            assert ingest is not None and ingest.codec == "h264"
            assert not ingest.transcoding and ingest.frames_transcoded == 0
            stamps = viewer.clock_stamps()[-10:]
            assert stamps == sorted(stamps) and stamps[-1] > stamps[0]

            # Pan right: the hall moves left in the picture.
            before = (await viewer.next_pictures(1))[0]
            response = await hall.client.post(
                f"/api/cameras/{camera_id}/ptz/move", json={"pan": 1.0, "timeout": 0.4}, headers=headers
            )
            assert response.status_code == 204, response.text
            await eventually(lambda: not camera.state.moving(), 5, "the move to end")
            await asyncio.sleep(0.5)
            after = (await viewer.next_pictures(1))[0]
            dx, _ = shift_between(before, after)
            assert dx < -10, f"the picture moved {dx:.1f} px, not left"
            assert camera.state.position().pan > 0.1

            # A preset tied to a desk, then back to it from elsewhere (as the scheduler will).
            response = await hall.client.post(
                f"/api/cameras/{camera_id}/presets", json={"name": "1号台", "desk": "接待室1号台"}, headers=headers
            )
            assert response.status_code == 201, response.text
            token = response.json()["token"]
            saved = camera.state.position()
            taken = {"name": "别的", "desk": "接待室1号台"}
            response = await hall.client.post(f"/api/cameras/{camera_id}/presets", json=taken, headers=headers)
            assert response.status_code == 409 and response.json()["error"] == "desk_taken"
            assert len(camera.state.presets()) == 1  # refused before the camera stored anything
            await hall.client.post(f"/api/cameras/{camera_id}/ptz/home", headers=headers)
            assert camera.state.position() != saved
            camera_of_desk, preset = await hall.services.cameras.point_at_desk("接待室1号台")
            assert camera_of_desk == camera_id and preset.token == token and preset.name == "1号台"
            assert camera.state.position() == saved
            presets = (await hall.client.get(f"/api/cameras/{camera_id}", headers=headers)).json()["presets"]
            assert {"token": token, "name": "1号台", "desk": "接待室1号台"} in presets
            response = await hall.client.post(f"/api/cameras/{camera_id}/presets/nope/goto", headers=headers)
            assert response.status_code == 404 and response.json()["error"] == "preset_not_found"

            # The camera's own motion events reach the wall live and are stored.
            wall_token = await session_token(hall, "night-guard", "security")
            async with WallSocket.open(hall, wall_token) as wall:
                hello = await wall.wait_for(lambda m: m["type"] == "hello")
                assert hello["cameras"][0]["id"] == camera_id
                camera.state.absolute_move(type(saved)(0.0, 0.0, 0.0))
                camera.state.trigger_figure(duration=1.5)
                started = await wall.wait_for(lambda m: m["type"] == "motion_started")
                assert started["camera_id"] == camera_id and started["source"] == "camera"
                await wall.wait_for(lambda m: m["type"] == "motion_ended", timeout=10)
            events = (await hall.client.get("/api/cameras/events", headers=headers)).json()
            assert events[0]["camera_id"] == camera_id and events[0]["ended_at"] is not None
        finally:
            await hall.client.delete(location, headers=headers)
            await viewer.close()

        wanted = ("camera_added", "camera_watched", "ptz_move", "preset_set", "ptz_home", "camera_watch_ended")
        for _ in range(100):  # the end of watching is written as the session closes
            done = {(a["action"], a["actor"]) for a in await hall.services.audit.recent(200)}
            if all((action, "guard") in done for action in wanted):
                break
            await asyncio.sleep(0.05)
        for action in wanted:
            assert (action, "guard") in done, action


async def test_one_ingest_for_many_viewers_stopping_when_nobody_watches(tmp_path):
    async with simulated_camera(events=False) as camera, running_hall(tmp_path, **FAST) as hall:
        headers = await hall.bearer("guard", "security")
        body = camera_body(camera, motion_detection=False)
        camera_id = (await hall.client.post("/api/cameras", json=body, headers=headers)).json()["id"]
        viewers = [await watch(hall, camera_id, headers) for _ in range(3)]
        try:
            for viewer, _ in viewers:
                await viewer.wait_frames(10)
            live = hall.services.cameras.live
            assert len(live.streams) == 1
            assert camera.rtsp is not None and camera.rtsp.encoder("/main").runs == 1
        finally:
            for viewer, location in viewers:
                await hall.client.delete(location, headers=headers)
                await viewer.close()
        await eventually(lambda: not live.streams, 10, "the ingest to stop")
        await eventually(lambda: camera.rtsp is not None and not camera.rtsp.clients, 10, "the camera to be let go")


async def test_detector_finds_the_figure_on_a_camera_without_events(tmp_path):
    async with simulated_camera(events=False) as camera, running_hall(tmp_path, **FAST) as hall:
        headers = await hall.bearer("guard", "security")
        masks = [[list(point) for point in polygon] for polygon in OSD_MASKS]  # the sim's clock and stamp
        body = camera_body(camera, motion_masks=masks)
        camera_id = (await hall.client.post("/api/cameras", json=body, headers=headers)).json()["id"]
        assert not (await hall.client.get(f"/api/cameras/{camera_id}", headers=headers)).json()["onvif_events"]
        service = hall.services.cameras
        await eventually(lambda: service.live.state(camera_id, "sub") is not None, 10, "the sub-stream")
        runtime = service._runtimes[camera_id]
        await eventually(lambda: runtime.detector is not None and runtime.detector.looked > 8, 20, "a settled detector")
        assert runtime.tracker is not None and runtime.tracker.current is None  # a still hall is no event
        camera.state.trigger_figure(duration=3)
        await eventually(lambda: runtime.tracker is not None and runtime.tracker.current is not None, 15, "motion")
        await eventually(lambda: runtime.tracker.current is None, 15, "the event to end")
        events = (await hall.client.get("/api/cameras/events", params={"camera_id": camera_id}, headers=headers)).json()
        assert events and events[0]["source"] == "detector"
        x, y, w, h = events[0]["boxes"][0]
        assert 0 <= x < 1 and 0 < w <= 1 and 0 < h <= 1 and 0 <= y < 1


async def test_bad_cameras_are_refused_and_nothing_is_saved(tmp_path):
    async with simulated_camera() as camera, running_hall(tmp_path, cameras={"onvif_timeout": 1.0}) as hall:
        headers = await hall.bearer("guard", "security")
        wrong = camera_body(camera, password="wrong-password")
        response = await hall.client.post("/api/cameras", json=wrong, headers=headers)
        assert response.status_code == 422 and response.json()["error"] == "camera_auth_failed", response.text

        from hall_tools import free_port

        nobody = camera_body(camera, port=free_port())
        response = await hall.client.post("/api/cameras", json=nobody, headers=headers)
        assert response.status_code == 422 and response.json()["error"] == "camera_unreachable", response.text

        camera.onvif.fault_mode = "broken_xml"
        response = await hall.client.post("/api/cameras", json=camera_body(camera), headers=headers)
        assert response.status_code == 422 and response.json()["error"] == "camera_protocol_error", response.text

        camera.onvif.fault_mode = "hang"
        response = await hall.client.post("/api/cameras", json=camera_body(camera), headers=headers)
        assert response.status_code == 422 and response.json()["error"] == "camera_timeout", response.text
        camera.onvif.fault_mode = None

        observer = await hall.bearer("watcher", "observer")
        response = await hall.client.post("/api/cameras", json=camera_body(camera), headers=observer)
        assert response.status_code == 403
        assert (await hall.client.get("/api/cameras", headers=observer)).status_code == 403
        staff = await hall.bearer("clerk", "staff")
        assert (await hall.client.post("/api/cameras", json=camera_body(camera), headers=staff)).status_code == 403

        assert (await hall.client.get("/api/cameras", headers=headers)).json() == []
        response = await hall.client.post("/api/cameras", json=camera_body(camera), headers=headers)
        assert response.status_code == 201, response.text
        camera_id = response.json()["id"]
        again = await hall.client.post("/api/cameras", json=camera_body(camera, name="又一个"), headers=headers)
        assert again.status_code == 409 and again.json()["error"] == "camera_exists"
        assert len((await hall.client.get("/api/cameras", headers=headers)).json()) == 1

        # A change of password is checked first: a wrong one is refused and the working one stays.
        url = f"/api/cameras/{camera_id}"
        response = await hall.client.patch(url, json={"password": "not-it", "name": "改名"}, headers=headers)
        assert response.status_code == 422 and response.json()["error"] == "camera_auth_failed"
        assert await hall.services.cameras.registry.password(camera_id) == SIM_PASSWORD
        assert (await hall.client.get(url, headers=headers)).json()["name"] == "大厅东南角"
        response = await hall.client.patch(url, json={"username": "someone"}, headers=headers)
        assert response.status_code == 422
        response = await hall.client.patch(url, json={"name": "大厅西北角", "location": "二楼"}, headers=headers)
        assert response.status_code == 200 and response.json()["name"] == "大厅西北角"
        assert SIM_PASSWORD not in response.text
        assert (await hall.client.get("/healthz")).status_code == 200


async def test_ptz_on_a_fixed_camera_is_refused(tmp_path):
    async with simulated_camera(ptz=False) as camera, running_hall(tmp_path) as hall:
        headers = await hall.bearer("guard", "security")
        added = (await hall.client.post("/api/cameras", json=camera_body(camera), headers=headers)).json()
        assert added["ptz"] is None
        response = await hall.client.post(f"/api/cameras/{added['id']}/ptz/move", json={"pan": 0.5}, headers=headers)
        assert response.status_code == 409 and response.json()["error"] == "ptz_not_supported"
        response = await hall.client.post(f"/api/cameras/{added['id']}/presets", json={"name": "x"}, headers=headers)
        assert response.status_code == 409


async def test_a_dropped_stream_shows_offline_then_live_again(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    async with simulated_camera(events=False) as camera, running_hall(tmp_path, **FAST) as hall:
        headers = await hall.bearer("guard", "security")
        body = camera_body(camera, motion_detection=False)
        camera_id = (await hall.client.post("/api/cameras", json=body, headers=headers)).json()["id"]
        wall_token = await session_token(hall, "night-guard", "security")
        viewer, location = await watch(hall, camera_id, headers)
        try:
            async with WallSocket.open(hall, wall_token) as wall:
                await viewer.wait_frames(10)
                assert camera.rtsp is not None
                camera.rtsp.set_available(False)
                offline = await wall.wait_for(lambda m: m["type"] == "camera_status" and m["status"] == "offline")
                assert offline["camera_id"] == camera_id
                status = (await hall.client.get(f"/api/cameras/{camera_id}", headers=headers)).json()
                assert status["status"] == "offline"
                seen = len(viewer.counters)
                camera.rtsp.set_available(True)
                await wall.wait_for(lambda m: m["type"] == "camera_status" and m["status"] == "online")
                await viewer.wait_frames(seen + 10, timeout=20)  # the same viewer, live again
        finally:
            await hall.client.delete(location, headers=headers)
            await viewer.close()
    assert "stream lost" in caplog.text  # the reconnects were logged ...
    assert SIM_PASSWORD not in caplog.text  # ... and the camera's password never was


async def test_h265_is_transcoded_once_for_every_viewer(tmp_path):
    h265 = simulated_camera(events=False, codec="h265", main_size=(960, 540))
    async with h265 as camera, running_hall(tmp_path, **FAST) as hall:
        headers = await hall.bearer("guard", "security")
        body = camera_body(camera, motion_detection=False)
        added = (await hall.client.post("/api/cameras", json=body, headers=headers)).json()
        # The sub-stream (H.264) feeds the wall as it comes; the main stream is H.265 and is transcoded to be seen.
        assert added["main_profile"] == "Profile_1" and added["sub_profile"] == "Profile_2"
        assert {p["token"]: p["encoding"] for p in added["profiles"]} == {"Profile_1": "H265", "Profile_2": "H264"}
        viewers = [await watch(hall, added["id"], headers, stream="main") for _ in range(2)]
        try:
            for viewer, _ in viewers:
                await viewer.wait_frames(10, timeout=20)
            main = hall.services.cameras.live.ingest(added["id"], "main")
            assert main is not None
            assert main.codec == "hevc" and main.transcoding and main.frames_transcoded > 0
            stamps = viewers[0][0].clock_stamps()[-5:]
            assert stamps == sorted(stamps)
        finally:
            for viewer, location in viewers:
                await hall.client.delete(location, headers=headers)
                await viewer.close()


async def test_a_browser_without_h264_gets_vp8_encoded_once_for_all_such_viewers(tmp_path):
    async with simulated_camera(events=False) as camera, running_hall(tmp_path, **FAST) as hall:
        headers = await hall.bearer("guard", "security")
        added = (
            await hall.client.post("/api/cameras", json=camera_body(camera, motion_detection=False), headers=headers)
        ).json()
        as_it_comes = await watch(hall, added["id"], headers, stream="sub")
        vp8_only = [await watch(hall, added["id"], headers, stream="sub", video_codec="video/VP8") for _ in range(2)]
        feed = hall.services.media.feed(f"camera-{added['id']}-sub")
        try:
            for viewer, _ in [as_it_comes, *vp8_only]:
                await viewer.wait_frames(15, timeout=20)
            for viewer, _ in vp8_only:  # the camera's own picture: its drawn clock reads back, in order
                stamps = viewer.clock_stamps()[-5:]
                assert stamps == sorted(stamps) and stamps[-1] > stamps[0]
            answered = [_answered_video_codecs(viewer) for viewer, _ in [as_it_comes, *vp8_only]]
            assert answered == [{"H264"}, {"VP8"}, {"VP8"}]
            # One rendition for both VP8 viewers, encoding each camera frame once; the camera's H.264 goes
            # to the other viewer as it comes.
            assert list(feed.renditions) == ["VP8"]
            rendition = feed.renditions["VP8"]
            assert rendition.running and 0 < rendition.frames_encoded <= feed.forwarder.frames_in
            ingest = hall.services.cameras.live.ingest(added["id"], "sub")
            assert ingest is not None and not ingest.transcoding and ingest.frames_transcoded == 0
        finally:
            for viewer, location in vp8_only:
                await hall.client.delete(location, headers=headers)
                await viewer.close()
        # The VP8 viewers gone, the rendition stops and its thread ends; the H.264 viewer watches on.
        await eventually(lambda: not rendition.running)
        rendition.join()
        assert not [t for t in threading.enumerate() if t.name.startswith("decode-rendition")]
        viewer, location = as_it_comes
        try:
            await viewer.next_pictures(5)
        finally:
            await hall.client.delete(location, headers=headers)
            await viewer.close()


def _answered_video_codecs(viewer) -> set[str]:
    """The codecs the hall's answer gave this viewer (RTX aside)."""
    names = re.findall(r"^a=rtpmap:\d+ ([\w-]+)/", viewer.pc.remoteDescription.sdp, re.MULTILINE)
    return set(names) - {"rtx"}


async def test_discovery_finds_the_camera_and_snapshots_are_pictures(tmp_path):
    from hall_tools import free_port

    discovery_port = free_port()  # a TCP port number that is free is as good a guess as any for UDP here
    async with simulated_camera(discovery_port=discovery_port) as camera, running_hall(tmp_path) as hall:
        headers = await hall.bearer("guard", "security")
        probe = {"address": "127.0.0.1", "port": discovery_port, "timeout": 1.0}
        found = (await hall.client.post("/api/cameras/discover", json=probe, headers=headers)).json()
        assert [(c["host"], c["port"], c["registered"]) for c in found] == [("127.0.0.1", camera.onvif_port, False)]
        camera_id = (await hall.client.post("/api/cameras", json=camera_body(camera), headers=headers)).json()["id"]
        found = (await hall.client.post("/api/cameras/discover", json=probe, headers=headers)).json()
        assert found[0]["registered"]

        response = await hall.client.get(f"/api/cameras/{camera_id}/snapshot", headers=headers)
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert picture is not None and picture.shape[1] >= 640
        audit = {(a["action"], a["actor"]) for a in await hall.services.audit.recent(50)}
        assert ("camera_snapshot", "guard") in audit and ("camera_discovery", "guard") in audit
