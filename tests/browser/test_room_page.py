"""The room page in Debian's Chromium: joins with a token, shows a WHIP-published stream, and two pages
see each other through the server."""

from __future__ import annotations

import asyncio

import pytest
from media_tools import BITS, BLOCK, ORIGIN, Publisher, Subscriber

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def read_counter_at(x: int, y: int, scale: float) -> str:
    """JavaScript reading a stamp drawn at (x, y) and scaled by `scale`, from a video through a canvas."""
    block = BLOCK * scale
    return f"""
(video) => {{
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const context = canvas.getContext("2d");
  context.drawImage(video, 0, 0);
  let counter = 0;
  for (let bit = 0; bit < {BITS}; bit++) {{
    const left = Math.round({x} + ({ORIGIN} + bit * {BLOCK}) * {scale}) + {int(block / 4)};
    const top = Math.round({y} + {ORIGIN} * {scale}) + {int(block / 4)};
    const pixels = context.getImageData(left, top, {int(block / 2)}, {int(block / 2)}).data;
    let sum = 0;
    for (let i = 0; i < pixels.length; i += 4) sum += pixels[i + 1];
    if (sum / (pixels.length / 4) > 128) counter |= 1 << bit;
  }}
  return counter;
}}
"""


# Reads the stamped counter back from a tile's video (the same blocks the publisher drew).
READ_COUNTER = read_counter_at(0, 0, 1.0)

FRAMES = "(video) => video.getVideoPlaybackQuality().totalVideoFrames"


PHONE = {  # a mid-range Android phone, as petitioners use
    "viewport": {"width": 393, "height": 851},
    "device_scale_factor": 2.75,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
}


async def open_room(browser, hall, room: str, role: str, name: str, phone: bool = False):
    context = await browser.new_context(locale="zh-CN", **(PHONE if phone else {}))
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{hall.base_url}/rooms/{room}#token={hall.token(room, role, name)}")
    return page, errors


async def tile_video(page, participant_id: str, timeout: float = 20_000):
    selector = f'.tile[data-participant-id="{participant_id}"] video'
    await page.wait_for_function(
        f"""() => {{ const v = document.querySelector('{selector}'); return v && v.videoWidth > 0; }}""",
        timeout=timeout,
    )
    return await page.query_selector(selector)


async def test_room_page_shows_a_whip_stream(browser, hall):
    publisher = Publisher()
    response = await hall.client.post(
        "/whip/pw",
        content=await publisher.offer(),
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {hall.token('pw', 'leader', '王局长')}"},
    )
    assert response.status_code == 201
    await publisher.accept(response.text)
    publisher_id = response.headers["x-participant-id"]
    page, errors = await open_room(browser, hall, "pw", "staff", "接待员")
    try:
        assert await page.inner_text("#join") == "进入房间"  # Chinese by default
        assert "#token" not in page.url  # the token left the address bar
        await page.click("#join")
        video = await tile_video(page, publisher_id)
        assert await video.evaluate("v => [v.videoWidth, v.videoHeight]") == [640, 480]
        label = await page.inner_text(f'.tile[data-participant-id="{publisher_id}"] .label')
        assert label == "王局长"
        first = await video.evaluate(READ_COUNTER)
        frames = await video.evaluate(FRAMES)
        await asyncio.sleep(1.0)
        second = await video.evaluate(READ_COUNTER)
        assert await video.evaluate(FRAMES) > frames + 10  # frames keep coming
        # The picture is the publisher's: its counter, advancing at about its frame rate.
        assert 15 <= second - first <= 45, (first, second)
        assert abs(publisher.video.count - second) < 30
        assert errors == []
    finally:
        await page.context.close()
        await publisher.close()


async def test_two_pages_see_each_other(browser, hall):
    hall.services.media.open_room("duo", opened_by="test")
    first, first_errors = await open_room(browser, hall, "duo", "leader", "王局长")
    second, second_errors = await open_room(browser, hall, "duo", "petitioner", "来访人", phone=True)
    watcher = None
    try:
        await first.click("#join")
        await first.wait_for_selector(".tile.self")
        await second.tap("#join")  # a finger on a phone
        await second.wait_for_selector(".tile.self")
        room = hall.services.media.rooms["duo"]
        for _ in range(100):
            if sum(bool(p.publications) for p in room.participants.values()) == 2:
                break
            await asyncio.sleep(0.1)
        ids = {p.name: p.id for p in room.participants.values()}
        # Each sees the other at once: the joiner's keyframe request reaches Chrome (a PLI naming the media
        # SSRC, not the RTX one, which Chrome ignores and which once cost ten seconds of black tile). Eight
        # seconds still tells the two apart, and leaves room for two Chromiums on two busy cores.
        seen_by_second = await tile_video(second, ids["王局长"], timeout=8000)
        seen_by_first = await tile_video(first, ids["来访人"], timeout=8000)
        for video in (seen_by_second, seen_by_first):
            before = await video.evaluate(FRAMES)
            await asyncio.sleep(1.0)
            assert await video.evaluate(FRAMES) > before + 10
        # The browser's camera is forwarded as it was encoded: an independent aiortc viewer decodes it too.
        watcher = Subscriber(kinds=("video",))
        answer = await hall.client.post(
            "/whep/duo",
            params={"participant": ids["来访人"]},
            content=await watcher.offer(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {hall.token('duo', 'observer')}"},
        )
        assert answer.status_code == 201, answer.text
        await watcher.accept(answer.text)
        await watcher.wait_frames(20)
        # On the phone every control is on screen and big enough for a thumb.
        for control in ("#toggle-mic", "#toggle-camera", "#leave"):
            box = await (await second.query_selector(control)).bounding_box()
            assert box["y"] + box["height"] <= 851 and box["height"] >= 44 and box["x"] >= 0
        # Muting shows on the other page.
        await second.tap("#toggle-mic")
        await first.wait_for_selector(f'.tile[data-participant-id="{ids["来访人"]}"] .flags span')
        assert first_errors == [] and second_errors == []
        # Leaving removes the tile on the other side.
        await second.tap("#leave")
        await first.wait_for_selector(f'.tile[data-participant-id="{ids["来访人"]}"]', state="detached")
    finally:
        if watcher is not None:
            await watcher.close()
        await first.context.close()
        await second.context.close()


async def test_an_early_petitioner_is_let_in_when_the_room_opens(browser, hall):
    page, errors = await open_room(browser, hall, "later", "petitioner", "来访人", phone=True)
    try:
        await page.tap("#join")
        await page.wait_for_function("() => document.querySelector('#status').textContent.includes('尚未开启')")
        assert "later" not in hall.services.media.rooms  # a petitioner's link never opens a room
        hall.services.media.open_room("later", opened_by="王局长")  # the leader opens it at the slot
        await page.wait_for_selector(".tile.self", timeout=20_000)
        assert await page.inner_text("#status") == ""
        assert errors == []
    finally:
        await page.context.close()
