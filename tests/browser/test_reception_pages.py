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


async def open_next_slot(hall, staff: dict[str, str], leader_id: int, capacity: int = 1) -> int:
    """A reception day of one ten-minute slot a minute or two from now; its slot's id."""
    day, start, end = next_slot(hall.services.scheduler.zone)
    opened = await hall.client.post(
        "/api/reception-days",
        json={
            "leader_id": leader_id,
            "day": day.isoformat(),
            "start": f"{start:%H:%M}",
            "end": f"{end:%H:%M}",
            "slot_minutes": 10,
            "capacity": capacity,
        },
        headers=staff,
    )
    assert opened.status_code == 201, opened.text
    return opened.json()["slots"][0]["id"]


async def book(hall, staff, slot_id: int, name: str, phone: str, id_number: str, subject: str = ""):
    """Book a place as staff do; the appointment and the key of its SMS link (/v/KEY)."""
    booked = await hall.client.post(
        "/api/appointments",
        json={"slot_id": slot_id, "name": name, "phone": phone, "id_number": id_number, "subject": subject},
        headers=staff,
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    link = (await hall.client.get(f"/api/appointments/{appointment['id']}/link", headers=staff)).json()["url"]
    return appointment, link.split("/v/")[1]


async def wait_in_lobby(page, hall, link: str) -> None:
    """The petitioner: the SMS link, the recording notice, the device check, the waiting room."""
    await page.goto(f"{hall.base_url}/v/{link}")
    await page.click("#consent-agree")
    await page.click("#device-continue", timeout=20_000)
    await page.wait_for_selector("#waiting", state="visible", timeout=20_000)


async def test_a_remote_reception_from_the_sms_link_to_the_rating(browser, tmp_path):
    # The room opens half an hour ahead here, so the slot a minute or two away is open at once.
    async with running_hall(tmp_path, scheduler={"room_opens_minutes": 30}) as hall:
        staff = await hall.bearer("clerk", "staff")
        await hall.add_user("wang", "leader")
        scheduler = hall.services.scheduler
        leader = await scheduler.bookings.add_leader("王局长", title="局长", username="wang")
        slot_id = await open_next_slot(hall, staff, leader.id)
        appointment, link = await book(hall, staff, slot_id, "张三", "13812345678", "11010519491231002X", "宅基地纠纷")
        await scheduler.lifecycle.run_once()  # the room opens

        errors: list[str] = []
        phone_context = await browser.new_context(locale="zh-CN", **PHONE)
        petitioner = await phone_context.new_page()
        petitioner.on("pageerror", lambda error: errors.append(f"petitioner: {error}"))
        leader_page = await sign_in(browser, hall, "wang")
        leader_page.on("pageerror", lambda error: errors.append(f"leader: {error}"))
        try:
            # The petitioner: the SMS link, the recording notice, the device check, the waiting room.
            await wait_in_lobby(petitioner, hall, link)
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


async def test_a_joint_reception_goes_on_for_the_others_when_the_leader_ends_one(browser, tmp_path):
    # Two petitioners share one slot (capacity 2) and its room. Ending one's reception turns only that phone
    # to the rating: the leader stays in the room with the other, who takes the stage, until theirs ends too.
    async with running_hall(tmp_path, scheduler={"room_opens_minutes": 30}) as hall:
        staff = await hall.bearer("clerk", "staff")
        await hall.add_user("wang", "leader")
        scheduler = hall.services.scheduler
        leader = await scheduler.bookings.add_leader("王局长", title="局长", username="wang")
        slot_id = await open_next_slot(hall, staff, leader.id, capacity=2)
        first, first_link = await book(hall, staff, slot_id, "张三", "13812345678", "11010519491231002X", "同一宗地")
        second, second_link = await book(hall, staff, slot_id, "李四", "13912345678", "440524188001010014", "同一宗地")
        await scheduler.lifecycle.run_once()

        errors: list[str] = []
        phones = [await browser.new_context(locale="zh-CN", **PHONE) for _ in range(2)]
        petitioners = [await context.new_page() for context in phones]
        leader_page = await sign_in(browser, hall, "wang")
        for name, page in (("first", petitioners[0]), ("second", petitioners[1]), ("leader", leader_page)):
            page.on("pageerror", lambda error, name=name: errors.append(f"{name}: {error}"))
        rows = [f"#today-list [data-appointment-id='{a['id']}']" for a in (first, second)]

        async def state_of(appointment) -> str:
            return (await hall.client.get(f"/api/appointments/{appointment['id']}", headers=staff)).json()["state"]

        try:
            for page, link in zip(petitioners, (first_link, second_link), strict=True):
                await wait_in_lobby(page, hall, link)
            await leader_page.goto(f"{hall.base_url}/console")
            for row in rows:  # both waiting, both let in
                await leader_page.wait_for_selector(f"{row} .presence:has-text('等候中')", timeout=20_000)
            await leader_page.click(rows[0])
            await leader_page.click("#join-room")
            await wait_until(leader_page, "() => document.querySelector('#local-video').videoWidth > 0")
            await leader_page.click("#admit")
            await leader_page.click(rows[1])
            await leader_page.wait_for_selector("#admit:not([disabled])", timeout=20_000)
            await leader_page.click("#admit")
            for page in petitioners:
                await page.wait_for_selector("#call", state="visible", timeout=20_000)
                await wait_until(page, PLAYING)

            # The leader ends 张三's reception only.
            await leader_page.click(rows[0])
            await leader_page.wait_for_selector("#end-reception:not([disabled])", timeout=10_000)
            await leader_page.select_option("#outcome-result", "accepted")
            await leader_page.click("#end-reception")
            await petitioners[0].wait_for_selector("#rating", state="visible", timeout=20_000)
            assert (await state_of(first), await state_of(second)) == ("completed", "in_session")

            # 李四 is still received: the leader is still in the room, 李四 selected and on the stage.
            await leader_page.wait_for_selector(f"{rows[1]}.selected", timeout=10_000)
            assert "李四" in await leader_page.inner_text("#status")
            assert await leader_page.is_visible("#leave-room") and await leader_page.is_visible("#room-stage")
            await wait_until(leader_page, PLAYING)
            for page in (leader_page, petitioners[1]):  # both directions still flowing
                before = await page.eval_on_selector("#remote-video", FRAMES)
                await page.wait_for_timeout(1000)
                assert await page.eval_on_selector("#remote-video", FRAMES) > before + 5
            assert await petitioners[1].is_visible("#call")

            # Ending 李四's reception ends the room for the leader.
            await leader_page.select_option("#outcome-result", "accepted")
            await leader_page.click("#end-reception")
            await petitioners[1].wait_for_selector("#rating", state="visible", timeout=20_000)
            await leader_page.wait_for_selector("#room-stage", state="hidden", timeout=10_000)
            assert await state_of(second) == "completed"
            assert errors == []
        finally:
            for context in phones:
                await context.close()
            await leader_page.context.close()
