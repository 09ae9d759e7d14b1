"""Staff sign in on the front page, open a room, enter it, and make an invitation link."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_sign_in_open_a_room_and_invite(browser, hall):
    await hall.add_user("wang", "leader")
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(hall.base_url + "/")
        await page.fill("#username", "wang")
        await page.fill("#password", "not-the-password")
        await page.click("#login button[type=submit]")
        await page.wait_for_selector("#login-error:not([hidden])")
        assert await page.inner_text("#login-error") == "用户名或密码错误"

        await page.fill("#password", "correct-horse-9")
        await page.click("#login button[type=submit]")
        await page.wait_for_selector("#lobby:not([hidden])")
        assert "wang-名" in await page.inner_text("#who")
        assert "领导" in await page.inner_text("#who")

        await page.fill("#room-id", "desk-1")
        await page.click("#new-room button[type=submit]")
        await page.wait_for_url("**/rooms/desk-1")
        await page.click("#join")
        await page.wait_for_selector(".tile.self")
        assert "desk-1" in hall.services.media.rooms
        roster = hall.services.media.rooms["desk-1"].roster()
        assert [(p["name"], p["role"]) for p in roster] == [("wang-名", "leader")]

        await page.goto(hall.base_url + "/")
        await page.wait_for_selector("#lobby:not([hidden])")
        await page.fill("#invite-name", "来访人张某")
        await page.select_option("#invite-role", "petitioner")
        await page.click("#invite button[type=submit]")
        await page.wait_for_selector("#invite-result:not([hidden])")
        link = await page.inner_text("#invite-link")
        assert link.startswith(hall.base_url + "/rooms/desk-1#token=")
        claims = hall.services.tokens.verify_join(link.split("#token=")[1])
        assert (claims.role.value, claims.name) == ("petitioner", "来访人张某")

        await page.click("#lang")
        assert await page.inner_text("#lobby h2") == "Open rooms"
        assert errors == []
        actions = [entry["action"] for entry in await hall.services.audit.recent(20)]
        assert {"sign_in", "room_opened", "room_join", "join_link_issued"} <= set(actions)
    finally:
        await context.close()
