"""The camera wall (视频监控墙) in Debian's Chromium: a simulated ONVIF camera added over the API, watched live
in a tile and enlarged, turned with the PTZ pad and the keyboard, sent to a saved preset, raising a motion
event, dropping off and coming back; and an account that may not see cameras is told so."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from camera_tools import camera_body, simulated_camera
from hall_tools import Hall, running_hall
from media_tools import eventually

from camera_control.sim.camera import SimulatedCamera
from camera_control.sim.scene import STAMP_BAND, STAMP_BITS, stamp_time
from camera_control.sim.state import PtzPosition

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FAST = {"cameras": {"idle_stop": 0.5, "health_interval": 0.5, "motion_hold": 0.5, "reconnect_max": 1.0}}
HALL_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
PASSWORD = "correct-horse-9"

# The simulator's clock stamp read back from a <video> through a canvas, sampled as read_clock_stamp does:
# the middle of each of the 32 blocks in the bottom band, green (the band is grey) above 128 for a 1.
READ_CLOCK_STAMP = f"""
(video) => {{
  const width = video.videoWidth, height = video.videoHeight;
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d", {{ willReadFrequently: true }});
  context.drawImage(video, 0, 0);
  const centreY = height * (1 - {STAMP_BAND} / 2);
  const halfH = Math.max(1, Math.floor(height * {STAMP_BAND} / 4));
  const halfW = Math.max(1, Math.floor(width / {STAMP_BITS} / 4));
  let stamp = 0;
  for (let k = 0; k < {STAMP_BITS}; k++) {{
    const centreX = (k + 0.5) * width / {STAMP_BITS};
    const left = Math.floor(centreX) - halfW, top = Math.floor(centreY) - halfH;
    const pixels = context.getImageData(left, top, 2 * halfW, 2 * halfH).data;
    let sum = 0;
    for (let i = 1; i < pixels.length; i += 4) sum += pixels[i];
    stamp = stamp * 2 + (sum / (pixels.length / 4) > 128 ? 1 : 0);  // not <<: the stamp is unsigned
  }}
  return stamp;
}}
"""
PLAYING = "(selector) => { const v = document.querySelector(selector); return v && v.videoWidth > 0; }"


async def clock_of(page, selector: str) -> float:
    """When the picture now on screen was taken by the camera (host seconds), read from its stamp."""
    stamp = await page.eval_on_selector(selector, READ_CLOCK_STAMP)
    return stamp_time(stamp, time.time())


async def picture_advances(page, selector: str, since: float | None = None) -> float:
    """Wait until the picture in `selector` is live: its stamp recent and moving on (past `since` if given)."""
    await page.wait_for_function(PLAYING, arg=selector, timeout=20_000)
    first = await clock_of(page, selector)
    # A stamp misread (or another picture) decodes to a random time, not to the last minute.
    assert abs(time.time() - first) < 60, "the stamp does not read as the camera's clock"
    deadline = time.monotonic() + 20
    while True:
        await asyncio.sleep(0.3)
        latest = await clock_of(page, selector)
        if latest > first and (since is None or latest > since):
            return latest
        assert time.monotonic() < deadline, f"the picture is stuck at {first} (since {since})"


async def text_of(page, selector: str) -> str:
    return (await page.inner_text(selector)).strip()


async def wait_text(page, selector: str, text: str, timeout: float = 20_000) -> None:
    await page.wait_for_function(
        "([selector, text]) => document.querySelector(selector)?.textContent.includes(text)",
        arg=[selector, text],
        timeout=timeout,
    )


@contextlib.asynccontextmanager
async def wall_with_camera(tmp_path: Path) -> AsyncIterator[tuple[Hall, SimulatedCamera, int]]:
    async with simulated_camera() as camera, running_hall(tmp_path, **FAST) as hall:
        keeper = await hall.bearer("keeper", "security")
        response = await hall.client.post("/api/cameras", json=camera_body(camera), headers=keeper)
        assert response.status_code == 201, response.text
        yield hall, camera, response.json()["id"]


async def signed_in_page(browser, hall: Hall, username: str, role: str):
    """A browser page signed in as a new account (its cookies set by the hall's own sign-in)."""
    await hall.add_user(username, role)
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 720})
    response = await context.request.post(
        f"{hall.base_url}/api/auth/login", data={"username": username, "password": PASSWORD}
    )
    assert response.ok, await response.text()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


async def watches_ended(hall: Hall) -> int:
    return sum(a["action"] == "camera_watch_ended" for a in await hall.services.audit.recent(500))


async def test_the_wall_shows_live_cameras_motion_and_outages(browser, tmp_path):
    async with wall_with_camera(tmp_path) as (hall, camera, camera_id):
        await hall.add_user("night-guard", "security")
        # A laptop set to another time zone still shows the hall's times.
        context = await browser.new_context(
            locale="zh-CN", timezone_id="America/Los_Angeles", viewport={"width": 1280, "height": 720}
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        sockets = []  # the wall's socket passes through here, so the test can cut it

        async def through(socket) -> None:
            sockets.append(socket)
            socket.connect_to_server()

        await page.route_web_socket("**/ws/cameras", through)
        try:
            # Signed in on the front page, a security officer finds the wall there.
            await page.goto(hall.base_url + "/")
            await page.fill("#username", "night-guard")
            await page.fill("#password", PASSWORD)
            await page.click("#login button[type=submit]")
            await page.click("#cameras-entry a")
            await page.wait_for_url("**/cameras")
            assert await page.title() == "视频监控墙 · 信访接待大厅"

            tile = f'.cam-tile[data-camera-id="{camera_id}"]'
            assert await text_of(page, f"{tile} .cam-name") == "大厅东南角"
            assert await text_of(page, f"{tile} .cam-location") == "接待大厅"
            await wait_text(page, f"{tile} .cam-status", "在线")
            # The tile plays the camera's sub-stream: the simulator's clock, live and moving on.
            seen = await picture_advances(page, f"{tile} video")
            assert (camera_id, "sub") in hall.services.cameras.live.streams

            # Somebody walks through the hall: the tile lights up and the event is listed with its time.
            camera.state.absolute_move(PtzPosition(0.0, 0.0, 0.0))
            camera.state.trigger_figure(duration=1.5)
            await page.wait_for_selector(f"{tile} .cam-motion:not([hidden])", timeout=10_000)
            await page.wait_for_selector("#events li", timeout=10_000)
            assert await text_of(page, "#events li .event-camera") == "大厅东南角"
            assert await text_of(page, "#events li .event-source") == "摄像机报警"
            auditor = await hall.bearer("auditor", "admin")
            stored = (await hall.client.get("/api/cameras/events", headers=auditor)).json()
            started = dt.datetime.fromisoformat(stored[0]["started_at"]).astimezone(HALL_ZONE)
            assert await text_of(page, "#events li .event-time") == started.strftime("%H:%M:%S")
            await page.wait_for_selector(f"{tile} .cam-motion[hidden]", state="attached", timeout=10_000)
            await page.wait_for_selector("#events li .event:not(.active)", timeout=10_000)

            # The wall's socket drops: the page says its statuses may be stale, and reconnects by itself.
            await sockets[-1].close(code=1012, reason="the hall restarts")
            await wait_text(page, "#banner", "连接已断开")
            await page.wait_for_selector("#banner", state="hidden", timeout=15_000)
            assert len(sockets) == 2

            # The camera drops off the network: the tile says so; when it is back, so is the picture.
            assert camera.rtsp is not None
            camera.rtsp.set_available(False)
            await wait_text(page, f"{tile} .cam-status", "离线")
            assert "离线" in await text_of(page, f"{tile} .cam-overlay")
            camera.rtsp.set_available(True)
            await wait_text(page, f"{tile} .cam-status", "在线")
            await picture_advances(page, f"{tile} video", since=seen)

            # The same wall in English.
            await page.click("#lang")
            await wait_text(page, f"{tile} .cam-status", "Online")
            assert await text_of(page, "header h1") == "Camera wall"
            assert await text_of(page, "#events-heading") == "Motion events"
            assert await text_of(page, "#events li .event-source") == "camera alarm"
            assert errors == []
        finally:
            await context.close()


async def test_an_enlarged_camera_turns_zooms_and_goes_to_presets(browser, tmp_path):
    async with wall_with_camera(tmp_path) as (hall, camera, camera_id):
        page, errors = await signed_in_page(browser, hall, "guard", "security")
        live = hall.services.cameras.live
        try:
            await page.goto(hall.base_url + "/cameras")
            tile = f'.cam-tile[data-camera-id="{camera_id}"]'
            await page.wait_for_function(PLAYING, arg=f"{tile} video", timeout=20_000)

            # Enter on a tile enlarges it onto the camera's main stream.
            await page.focus(f"{tile} .cam-open")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#focus:not([hidden])")
            assert await text_of(page, "#focus-name") == "大厅东南角"
            await picture_advances(page, "#focus-video")
            assert (camera_id, "main") in live.streams
            assert await page.eval_on_selector("#focus-video", "v => [v.videoWidth, v.videoHeight]") == [640, 360]

            # Holding the pad's right arrow turns the camera right; letting go stops it.
            start = camera.state.position()
            await page.hover("#ptz-right")
            await page.mouse.down()
            await asyncio.sleep(0.5)
            await page.mouse.up()
            await eventually(lambda: not camera.state.moving(), 5, "the camera to stop")
            assert camera.state.position().pan > start.pan + 0.02
            # The arrow keys do the same on the enlarged picture: left, back past where it started.
            turned = camera.state.position()
            await page.focus("#focus-stage")
            await page.keyboard.down("ArrowLeft")
            await asyncio.sleep(0.8)
            await page.keyboard.up("ArrowLeft")
            await eventually(lambda: not camera.state.moving(), 5, "the camera to stop")
            assert camera.state.position().pan < turned.pan - 0.02
            # ...and so does zoom, held.
            await page.hover("#ptz-zoom-in")
            await page.mouse.down()
            await asyncio.sleep(0.4)
            await page.mouse.up()
            await eventually(lambda: not camera.state.moving(), 5, "the zoom to stop")
            assert camera.state.position().zoom > 0

            # Home brings it back.
            await page.click("#ptz-home")
            await eventually(lambda: camera.state.position() == PtzPosition(), 5, "the camera to go home")

            # On a phone the enlarged view stacks up: every control fits the width and takes a thumb.
            await page.set_viewport_size({"width": 393, "height": 851})
            for control in ("#focus-close", "#focus-stage", "#ptz-right", "#ptz-home", "#ptz-zoom-in", "#preset-save"):
                box = await (await page.query_selector(control)).bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= 393 and box["height"] >= 44, control
            await page.set_viewport_size({"width": 1280, "height": 720})

            # Save where it looks as a preset for a desk, go elsewhere, and back to the preset.
            camera.state.absolute_move(PtzPosition(0.4, -0.2, 0.3))
            saved = camera.state.position()
            await page.fill("#preset-name", "1号台")
            await page.fill("#preset-desk", "接待室1号台")
            await page.click("#preset-save")
            await wait_text(page, "#preset-list", "1号台")
            assert "接待室1号台" in await text_of(page, "#preset-list")
            await page.click("#ptz-home")
            await eventually(lambda: camera.state.position() == PtzPosition(), 5, "the camera to go home")
            await page.click("#preset-list button:has-text('转到')")
            await eventually(lambda: camera.state.position() == saved, 5, "the camera to reach the preset")

            # Esc goes back to the wall: the main stream is let go, the tile plays again.
            await page.focus("#focus-stage")
            await page.keyboard.press("Escape")
            await page.wait_for_selector("#focus", state="hidden")
            await picture_advances(page, f"{tile} video")
            await eventually(lambda: (camera_id, "main") not in live.streams, 10, "the main stream to stop")
            assert errors == []
            ended = await watches_ended(hall)
        finally:
            await page.context.close()
        # Leaving the page ends its session (a DELETE on pagehide, audited), and the camera is let go.
        for _ in range(100):
            if await watches_ended(hall) > ended:
                break
            await asyncio.sleep(0.1)
        assert await watches_ended(hall) == ended + 1
        await eventually(lambda: not live.streams, 10, "every stream to stop after the page went")
        audit = {(a["action"], a["actor"]) for a in await hall.services.audit.recent(200)}
        for action in ("camera_watched", "ptz_move", "ptz_stop", "ptz_home", "preset_set", "ptz_preset"):
            assert (action, "guard") in audit, action


async def test_an_observer_is_told_plainly_that_cameras_are_not_for_them(browser, hall):
    page, errors = await signed_in_page(browser, hall, "visitor", "observer")
    try:
        await page.goto(hall.base_url + "/")
        await page.wait_for_selector("#lobby:not([hidden])")
        assert await page.is_hidden("#cameras-entry")  # no way in from the front page
        async with page.expect_response("**/api/cameras") as answer:
            await page.goto(hall.base_url + "/cameras")
        assert (await answer.value).status == 403
        await wait_text(page, "#wall-message", "无权查看监控画面")
        assert await page.query_selector(".cam-tile") is None
        assert await page.is_hidden("#add-camera")
        assert errors == []
    finally:
        await page.context.close()
