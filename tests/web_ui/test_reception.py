"""The reception over HTTP and the room socket, with a test clock: a booking's SMS and link, the ticket and the
waiting room (arriving early, reusing or forging a ticket, another phone, skipping the lobby over WHIP), the
leader admitting and ending with an outcome, the petitioner's rating, phone booking, and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import logging

import httpx
import pytest
import websockets
from hall_tools import Hall, running_hall
from media_tools import Publisher
from scheduler_tools import ManualClock, hall_time

from scheduler.errors import TicketUsed

DAY = dt.date(2026, 11, 25)
PETITIONER = {"name": "张三", "phone": "13812345678", "id_number": "11010519491231002X", "subject": "宅基地纠纷"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(hall_time(DAY, 8))


async def prepare(hall: Hall, *, public_booking: bool = False) -> dict:
    staff = await hall.bearer("clerk", "staff")
    leader = await hall.bearer("wang", "leader")
    other = await hall.bearer("li", "leader")
    bookings = hall.services.scheduler.bookings
    wang = await bookings.add_leader("王局长", title="局长", username="wang", desk="接待室1号台")
    await bookings.add_leader("李主任", title="主任", username="li")
    day = await hall.client.post(
        "/api/reception-days",
        json={
            "leader_id": wang.id,
            "day": DAY.isoformat(),
            "start": "09:00",
            "end": "10:00",
            "slot_minutes": 30,
            "public_booking": public_booking,
        },
        headers=staff,
    )
    assert day.status_code == 201, day.text
    return {"staff": staff, "leader": leader, "other": other, "slots": [s["id"] for s in day.json()["slots"]]}


async def book(hall: Hall, who: dict, slot: int, **changes) -> httpx.Response:
    return await hall.client.post(
        "/api/appointments", json={"slot_id": slot, **PETITIONER, **changes}, headers=who["staff"]
    )


async def link_of(hall: Hall, who: dict, appointment_id: int) -> str:
    response = await hall.client.get(f"/api/appointments/{appointment_id}/link", headers=who["staff"])
    return response.json()["url"].rsplit("/v/", 1)[1]


async def test_the_petitioner_goes_through_the_waiting_room_to_the_leader(tmp_path, clock, caplog):
    async with running_hall(tmp_path, clock=clock) as hall:
        who = await prepare(hall)
        booked = await book(hall, who, who["slots"][0])
        assert booked.status_code == 201, booked.text
        appointment = booked.json()
        assert appointment["state"] == "confirmed" and appointment["phone_masked"] == "138****5678"
        key = await link_of(hall, who, appointment["id"])
        outbox = (await hall.client.get("/api/notifications", headers=who["staff"])).json()
        booked_sms = next(n for n in outbox if n["kind"] == "booked")
        assert f"/v/{key}" in booked_sms["text"] and booked_sms["phone_masked"] == "138****5678"

        # The page, before the room opens: the appointment, and a clear "not yet".
        page = await hall.client.get(f"/v/{key}")
        assert page.status_code == 200 and 'lang="zh-CN"' in page.text
        visit = (await hall.client.get(f"/api/visits/{key}")).json()
        assert (visit["number"], visit["state"], visit["leader"]["name"]) == (
            appointment["number"],
            "confirmed",
            "王局长",
        )
        assert "13812345678" not in json.dumps(visit)
        with caplog.at_level(logging.INFO):
            early = await hall.client.post(f"/api/visits/{key}/ticket", json={"consent": True})
        assert early.status_code == 409 and early.json()["error"] == "room_not_open_yet"
        hall_log = " ".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
        assert "room_not_open_yet" in hall_log and key not in hall_log  # the link's key is a credential

        clock.set(hall_time(DAY, 8, 52))
        await hall.services.scheduler.lifecycle.run_once()
        no_consent = await hall.client.post(f"/api/visits/{key}/ticket", json={"consent": False})
        assert no_consent.status_code == 422
        phone = httpx.AsyncClient(base_url=hall.base_url)  # the petitioner's phone keeps its device cookie
        granted = await phone.post(f"/api/visits/{key}/ticket", json={"consent": True})
        assert granted.status_code == 200, granted.text
        ticket = granted.json()
        assert ticket["admitted"] is False and "hall_device" in granted.headers["set-cookie"]
        another_phone = await hall.client.post(f"/api/visits/{key}/ticket", json={"consent": True})
        assert another_phone.status_code == 409 and another_phone.json()["error"] == "link_in_use"

        # A reception room is not a room of the general kind: another leader cannot read, enter or invite into it.
        room = ticket["room_id"]
        for method, path, body in (
            ("GET", f"/api/rooms/{room}", None),
            ("POST", f"/api/rooms/{room}/join", None),
            ("POST", f"/api/rooms/{room}/tokens", {"role": "petitioner", "name": "冒名"}),
            ("PUT", f"/api/rooms/{room}/program", {"layout": "2x2"}),
            ("DELETE", f"/api/rooms/{room}", None),
            ("POST", "/api/rooms", {"id": "visit-99"}),
        ):
            refused = await hall.client.request(method, path, json=body, headers=who["other"])
            assert refused.status_code == 403, (method, path, refused.text)
        listed = (await hall.client.get("/api/rooms", headers=who["other"])).json()
        assert room not in [r["id"] for r in listed] and room in hall.services.media.rooms

        # The ticket cannot skip the waiting room over WHIP or WHEP.
        offer = await Publisher().offer()
        auth = {"Authorization": f"Bearer {ticket['token']}", "Content-Type": "application/sdp"}
        whip = await hall.client.post(f"/whip/{ticket['room_id']}", content=offer, headers=auth)
        assert whip.status_code == 403 and "waiting room" in whip.json()["message"]
        whep = await hall.client.post(f"/whep/{ticket['room_id']}", content=offer, headers=auth)
        assert whep.status_code == 403

        base = hall.base_url.replace("http", "ws")
        room_url = f"{base}/ws/rooms/{ticket['room_id']}?token="
        async with websockets.connect(room_url + ticket["token"]) as petitioner:
            welcome = json.loads(await petitioner.recv())
            assert (
                welcome["waiting"] is True and welcome["roster"] == [] and welcome["room"] == {"id": ticket["room_id"]}
            )
            await petitioner.send(json.dumps({"type": "publish", "sdp": offer, "request_id": 1}))
            refused = json.loads(await petitioner.recv())
            assert refused["code"] == "forbidden" and "waiting room" in refused["message"]

            # Reused or forged, the ticket gets nobody in.
            for token, close_code in ((ticket["token"], 4409), (ticket["token"][:-4] + "AAAA", 4401)):
                async with websockets.connect(room_url + token) as intruder:
                    assert json.loads(await intruder.recv())["type"] == "error"
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await intruder.recv()
                    assert closed.value.rcvd.code == close_code

            # The leader sees them waiting; another leader may not admit them.
            today = (await hall.client.get("/api/reception/today", headers=who["leader"])).json()
            assert today["day"] == DAY.isoformat()
            assert [(a["number"], a["presence"]) for a in today["appointments"]] == [(appointment["number"], "waiting")]
            assert (await hall.client.get("/api/reception/today", headers=who["other"])).json()["appointments"] == []
            wrong = await hall.client.post(f"/api/appointments/{appointment['id']}/admit", headers=who["other"])
            assert wrong.status_code == 403
            joined = await hall.client.post(f"/api/appointments/{appointment['id']}/join", headers=who["leader"])
            assert (
                joined.status_code == 200 and hall.services.tokens.verify_join(joined.json()["token"]).role == "leader"
            )

            clock.set(hall_time(DAY, 9, 3))
            admitted = await hall.client.post(f"/api/appointments/{appointment['id']}/admit", headers=who["leader"])
            assert admitted.status_code == 200 and admitted.json()["state"] == "in_session"
            message = json.loads(await petitioner.recv())
            assert message["type"] == "admitted" and message["waiting"] is False
            assert message["permissions"]["publish"] is True

            early_rating = await hall.client.post(f"/api/visits/{key}/rating", json={"score": 5})
            assert early_rating.status_code == 409
            ended = await hall.client.post(
                f"/api/appointments/{appointment['id']}/end",
                json={"result": "accepted", "notes": "已受理，转国土所办理"},
                headers=who["leader"],
            )
            assert ended.status_code == 200 and ended.json()["state"] == "completed"
            assert json.loads(await petitioner.recv())["type"] == "removed"
            with pytest.raises(websockets.ConnectionClosed):
                await petitioner.recv()

        # Only the phone that took part rates it: the link on another phone cannot.
        refused = await hall.client.post(f"/api/visits/{key}/rating", json={"score": 1})
        assert refused.status_code == 409 and refused.json()["error"] == "link_in_use"
        rated = await phone.post(f"/api/visits/{key}/rating", json={"score": 5, "comment": "态度很好"})
        assert rated.status_code == 200 and rated.json()["rated"] is True, rated.text
        again = await phone.post(f"/api/visits/{key}/rating", json={"score": 1})
        assert again.status_code == 409 and again.json()["error"] == "already_rated"
        record = (await hall.client.get(f"/api/appointments/{appointment['id']}", headers=who["leader"])).json()
        assert record["state"] == "completed" and record["rating"]["score"] == 5
        assert record["outcome"]["notes"] == "已受理，转国土所办理"
        assert [h["to_state"] for h in record["history"]] == ["confirmed", "waiting", "in_session", "completed"]
        figures = (await hall.client.get(f"/api/figures?first={DAY}&last={DAY}", headers=who["leader"])).json()
        assert (figures["total"]["held"], figures["total"]["average_wait_seconds"]) == (1, 180.0)
        assert figures["total"]["satisfaction_rate"] == 1.0

        audit = await hall.services.audit.recent(100)
        actions = {entry["action"]: entry for entry in audit}
        assert actions["reception_ticket_issued"]["actor"] == "张*"  # names are masked in the audit log
        assert {"appointment_booked", "petitioner_link_viewed", "petitioner_admitted", "reception_ended"} <= set(
            actions
        )
        assert "13812345678" not in json.dumps(audit)
        await phone.aclose()


async def test_bookings_refused_over_the_api_say_why_and_change_nothing(tmp_path, clock):
    async with running_hall(tmp_path, clock=clock) as hall:
        who = await prepare(hall)
        assert (await book(hall, who, who["slots"][0])).status_code == 201
        taken = await book(hall, who, who["slots"][0], name="李四", id_number="440524188001010014")
        assert taken.status_code == 409 and taken.json()["error"] == "slot_taken"
        assert "09:00 is taken" in taken.json()["message"]
        bad_id = await book(hall, who, who["slots"][1], id_number="110105194912310021")
        assert bad_id.status_code == 422 and bad_id.json()["error"] == "invalid_id_number"
        clock.set(hall_time(DAY, 9, 40))
        past = await book(hall, who, who["slots"][1], name="李四", id_number="440524188001010014")
        assert past.status_code == 409 and past.json()["error"] == "slot_in_past"
        found = (await hall.client.get("/api/appointments", headers=who["staff"])).json()
        assert [a["petitioner_name"] for a in found] == ["张三"]
        forged = await hall.client.get("/api/visits/AAAAAAAAAAAAAAAAAAAAAA")
        assert forged.status_code == 404 and forged.json()["error"] == "unknown_link"
        # Admitting someone who is not there is refused.
        not_there = await hall.client.post(f"/api/appointments/{found[0]['id']}/admit", headers=who["leader"])
        assert not_there.status_code == 409 and not_there.json()["error"] == "not_waiting"


async def test_booking_by_phone_only_where_allowed_and_confirmed_by_staff(tmp_path, clock):
    async with running_hall(tmp_path, clock=clock) as hall:
        await prepare(hall, public_booking=True)
        closed = await hall.client.get("/api/public/reception-days")
        assert closed.status_code == 409 and closed.json()["error"] == "public_booking_closed"
    async with running_hall(tmp_path / "open", clock=clock, scheduler={"public_booking": True}) as hall:
        who = await prepare(hall, public_booking=True)
        days = (await hall.client.get("/api/public/reception-days")).json()
        assert [s["free"] for s in days[0]["slots"]] == [1, 1]
        assert "username" not in json.dumps(days)  # nothing of the staff side leaks
        requested = await hall.client.post("/api/public/appointments", json={"slot_id": who["slots"][1], **PETITIONER})
        assert requested.status_code == 201 and requested.json()["state"] == "requested"
        assert (await hall.client.get("/api/notifications", headers=who["staff"])).json() == []
        found = (await hall.client.get("/api/appointments?q=5678", headers=who["staff"])).json()
        confirmed = await hall.client.post(f"/api/appointments/{found[0]['id']}/confirm", headers=who["staff"])
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
        kinds = [n["kind"] for n in (await hall.client.get("/api/notifications", headers=who["staff"])).json()]
        assert "booked" in kinds


async def test_a_link_opened_on_another_phone_first_is_released_by_staff(tmp_path, clock):
    async with running_hall(tmp_path, clock=clock) as hall:
        who = await prepare(hall)
        appointment = (await book(hall, who, who["slots"][0])).json()
        key = await link_of(hall, who, appointment["id"])
        clock.set(hall_time(DAY, 8, 52))
        await hall.services.scheduler.lifecycle.run_once()
        async with (
            httpx.AsyncClient(base_url=hall.base_url) as wechat,
            httpx.AsyncClient(base_url=hall.base_url) as browser,
        ):
            first = await wechat.post(f"/api/visits/{key}/ticket", json={"consent": True})
            assert first.status_code == 200  # opened in another app first
            refused = await browser.post(f"/api/visits/{key}/ticket", json={"consent": True})
            assert refused.json()["error"] == "link_in_use"
            released = await hall.client.post(
                f"/api/appointments/{appointment['id']}/release-link", headers=who["staff"]
            )
            assert released.status_code == 200
            second = await browser.post(f"/api/visits/{key}/ticket", json={"consent": True})
            assert second.status_code == 200, second.text
            old = hall.services.tokens.verify_join(first.json()["token"])
            with pytest.raises(TicketUsed, match="used already"):  # the first phone's ticket no longer works
                await hall.services.scheduler.reception.redeem_ticket(old.token_id, old.room_id)
        assert "petitioner_link_released" in [e["action"] for e in await hall.services.audit.recent(20)]


async def test_booking_by_phone_tells_nothing_of_whoever_holds_the_id_number(tmp_path, clock):
    async with running_hall(tmp_path, clock=clock, scheduler={"public_booking": True}) as hall:
        who = await prepare(hall, public_booking=True)
        assert (await book(hall, who, who["slots"][0])).status_code == 201  # 张三, booked by staff
        stranger = {**PETITIONER, "name": "某某", "phone": "13700000000"}  # knows 张三's ID number, nothing else
        busy = await hall.client.post("/api/public/appointments", json={"slot_id": who["slots"][0], **stranger})
        assert busy.status_code == 409 and busy.json()["error"] == "slot_taken"
        requested = await hall.client.post("/api/public/appointments", json={"slot_id": who["slots"][1], **stranger})
        assert requested.status_code == 201, requested.text
        answer = requested.json()
        assert (answer["petitioner_name"], answer["phone_masked"]) == ("某某", "137****0000")
        assert "张三" not in requested.text and "138****5678" not in requested.text
        # The stored petitioner keeps the number staff took down.
        found = (await hall.client.get("/api/appointments?q=5678", headers=who["staff"])).json()
        assert {a["phone_masked"] for a in found} == {"138****5678"}
