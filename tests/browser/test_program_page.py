"""The big screen's program page in Debian's Chromium, and directing the program from the room page."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from media_tools import HEIGHT, WIDTH, Publisher
from test_room_page import FRAMES, open_room, read_counter_at

from media_server.frames import tile_rects
from media_server.frames.layouts import fit

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def token_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_the_program_page_shows_the_room_on_the_big_screen(browser, hall):
    publisher = Publisher(start=3000)
    response = await hall.client.post(
        "/whip/big",
        content=await publisher.offer(),
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {hall.token('big', 'leader', '王局长')}"},
    )
    assert response.status_code == 201
    await publisher.accept(response.text)
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    leader_page = None
    try:
        await page.goto(f"{hall.base_url}/rooms/big/program#token={hall.token('big', 'observer', '大屏')}")
        assert await page.title() == "大屏画面 · 信访接待大厅"
        assert "#token" not in page.url
        await page.wait_for_function("() => document.querySelector('#program').videoWidth > 0", timeout=20_000)
        video = await page.query_selector("#program")
        assert await video.evaluate("v => [v.videoWidth, v.videoHeight]") == [1280, 720]
        # One person in the room: the automatic layout shows them on the whole picture, scaled.
        picture = fit(WIDTH, HEIGHT, tile_rects("speaker", 1280, 720)[0])
        reader = read_counter_at(picture.x, picture.y, picture.width / WIDTH)
        first, frames = await video.evaluate(reader), await video.evaluate(FRAMES)
        # The program keeps running: more pictures come (however busy the machine is), with later counters.
        await page.wait_for_function(
            f"() => document.querySelector('#program').getVideoPlaybackQuality().totalVideoFrames > {frames + 15}",
            timeout=20_000,
        )
        second = await video.evaluate(reader)
        assert 3000 < first < second <= 3000 + publisher.video.count, (first, second)

        # The leader directs from the room page; the program follows.
        leader_page, leader_errors = await open_room(browser, hall, "big", "leader", "王局长")
        await leader_page.click("#join")
        await leader_page.wait_for_selector("#direct:not([hidden])", timeout=20_000)
        await leader_page.wait_for_selector("#program-open[href]", timeout=10_000)
        href = await leader_page.get_attribute("#program-open", "href")
        assert href.startswith("/rooms/big/program#token=")
        # The big screen gets a watch-only token, not the leader's own.
        assert token_claims(href.split("#token=")[1])["role"] == "observer"
        await leader_page.select_option("#program-layout", "2x2")
        await leader_page.fill("#program-caption", "信访件 2026-0815")
        await leader_page.click("#program-apply")
        for _ in range(100):
            if hall.services.media.program_info("big")["layout"] == "2x2":
                break
            await asyncio.sleep(0.1)
        info = hall.services.media.program_info("big")
        assert info["layout"] == "2x2" and info["caption"] == "信访件 2026-0815"
        assert errors == [] and leader_errors == []
    finally:
        if leader_page is not None:
            await leader_page.context.close()
        await context.close()
        await publisher.close()
