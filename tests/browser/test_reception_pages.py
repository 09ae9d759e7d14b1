"""The whole remote reception in Debian's Chromium, two browser contexts with fake camera and microphone: the
petitioner opens the SMS link on a phone, agrees to the recording, checks the devices and waits; the leader
sees them waiting on the console and admits them; each sees the other's video; the leader ends and writes the
outcome; the petitioner rates; the appointment shows completed with the rating."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hall_tools import running_hall

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {  # a low-end Android phone, 360 px wide
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 11; Redmi 9A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
}
# Decoded frames of a video element: the page really receives and decodes the other side's picture.
FRAMES = "(video) => video.getVideoPlaybackQuality().totalVideoFrames"
PLAYING = """() => {
  const video = document.querySelector("#remote-video");
  return video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames > 10;
}"""


def next_slot(zone: ZoneInfo) -> tuple[dt.date, dt.time, dt.time]:
    """A ten-minute slot starting in a minute or two (hall time), never across midnight."""
    start = (dt.datetime.now(zone) + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    if (start + dt.timedelta(minutes=10)).date() != start.date():
        start = (start + dt.timedelta(days=1)).replace(hour=0, minute=0)
    return start.date(), start.time(), (start + dt.timedelta(minutes=10)).time()


async def wait_until(page, function: str, timeout: float = 30.0) -> None:
    """Poll a function in the page (page.wait_for_function evaluates strings, which the pages' CSP forbids)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(function):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout} s: {function}")
        await asyncio.sleep(0.2)


async def sign_in(browser, hall, username: str):
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(hall.base_url + "/")
    await page.fill("#username", username)
    await page.fill("#password", "correct-horse-9")
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("#lobby:not([hidden])")
    return page


async def test_a_remote_reception_from_the_sms_link_to_the_rating(browser, tmp_path):
    # The room opens half an hour ahead here, so the slot a minute or two away is open at once.
    async with running_hall(tmp_path, scheduler={"room_opens_minutes": 30}) as hall:
        staff = await hall.bearer("clerk", "staff")
        await hall.add_user("wang", "leader")
        scheduler = hall.services.scheduler
        leader = await scheduler.bookings.add_leader("王局长", title="局长", username="wang")
        day, start, end = next_slot(scheduler.zone)
        opened = await hall.client.post(
            "/api/reception-days",
            json={
                "leader_id": leader.id,
                "day": day.isoformat(),
                "start": f"{start:%H:%M}",
                "end": f"{end:%H:%M}",
                "slot_minutes": 10,
            },
            headers=staff,
        )
        assert opened.status_code == 201, opened.text
        booked = await hall.client.post(
            "/api/appointments",
            json={
                "slot_id": opened.json()["slots"][0]["id"],
                "name": "张三",
                "phone": "13812345678",
                "id_number": "11010519491231002X",
                "subject": "宅基地纠纷",
            },
            headers=staff,
        )
        appointment = booked.json()
        link = (await hall.client.get(f"/api/appointments/{appointment['id']}/link", headers=staff)).json()["url"]
        await scheduler.lifecycle.run_once()  # the room opens
        link = link.replace("https://", "http://").split("/v/")[1]

        errors: list[str] = []
        phone_context = await browser.new_context(locale="zh-CN", **PHONE)
        petitioner = await phone_context.new_page()
        petitioner.on("pageerror", lambda error: errors.append(f"petitioner: {error}"))
        leader_page = await sign_in(browser, hall, "wang")
        leader_page.on("pageerror", lambda error: errors.append(f"leader: {error}"))
        try:
            # The petitioner: the SMS link, the recording notice, the device check, the waiting room.
            await petitioner.goto(f"{hall.base_url}/v/{link}")
            await petitioner.click("#consent-agree")
            await petitioner.click("#device-continue", timeout=20_000)
            await petitioner.wait_for_selector("#waiting", state="visible", timeout=20_000)
            assert "等候" in await petitioner.inner_text("#waiting")
            assert await petitioner.evaluate("document.documentElement.scrollWidth <= 360")  # no sideways scroll

            # The leader sees them waiting, enters the room and admits them.
            await leader_page.goto(f"{hall.base_url}/console")
            row = f"#today-list [data-appointment-id='{appointment['id']}']"
            await leader_page.wait_for_selector(f"{row} .presence:has-text('等候中')", timeout=20_000)
            await leader_page.click(row)
            await leader_page.click("#join-room")
            await wait_until(leader_page, "() => document.querySelector('#local-video').videoWidth > 0")
            await leader_page.click("#admit")

            # Each sees the other: both pages decode the other side's video.
            await petitioner.wait_for_selector("#call", state="visible", timeout=20_000)
            await wait_until(petitioner, PLAYING)
            await wait_until(leader_page, PLAYING)
            before = await petitioner.eval_on_selector("#remote-video", FRAMES)
            await petitioner.wait_for_timeout(1000)
            assert await petitioner.eval_on_selector("#remote-video", FRAMES) > before  # still arriving
            record = (await hall.client.get(f"/api/appointments/{appointment['id']}", headers=staff)).json()
            assert record["state"] == "in_session"

            # The leader ends with the outcome; the petitioner's page turns to the rating.
            await leader_page.select_option("#outcome-result", "accepted")
            await leader_page.fill("#outcome-notes", "已受理，转国土所办理")
            await leader_page.click("#end-reception")
            await petitioner.wait_for_selector("#rating", state="visible", timeout=20_000)
            await petitioner.click('[data-score="5"]')
            await petitioner.fill("#rating-comment", "接待很耐心")
            await petitioner.click("#rating-submit")
            await petitioner.wait_for_selector("#thanks", state="visible", timeout=10_000)

            record = (await hall.client.get(f"/api/appointments/{appointment['id']}", headers=staff)).json()
            assert record["state"] == "completed"
            assert record["outcome"]["result"] == "accepted" and record["outcome"]["notes"] == "已受理，转国土所办理"
            assert record["rating"]["score"] == 5 and record["rating"]["comment"] == "接待很耐心"
            assert [h["to_state"] for h in record["history"]] == ["confirmed", "waiting", "in_session", "completed"]
            assert errors == []
        finally:
            await phone_context.close()
            await leader_page.context.close()
