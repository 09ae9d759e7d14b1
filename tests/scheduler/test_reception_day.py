"""A day of receptions driven by a test clock: reminders, the room opening and the desk camera, tickets and the
waiting room, no-shows and late arrivals, closing; and a restart mid-day that loses nothing and sends nothing
twice. On SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from scheduler_tools import ManualClock, RecordingDesk, RecordingSms, build_scheduler, hall_time, petitioner
from sqlalchemy import text

from media_server import MediaNode, MediaSettings
from scheduler import State
from scheduler.errors import (
    InvalidTransition,
    LinkInUse,
    NotYourReception,
    TicketUsed,
    TooEarly,
    TooLate,
    UnknownLink,
)
from scheduler.sms import DeliveryFailed

DAY = dt.date(2026, 11, 24)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(hall_time(DAY - dt.timedelta(days=2), 17))


async def a_day(db, tmp_path, clock, **settings):
    sms, desk, rooms = RecordingSms(), RecordingDesk(), MediaNode(MediaSettings())
    scheduler = build_scheduler(db, tmp_path, clock, sms=sms, desk=desk, rooms=rooms, **settings)
    leader = await scheduler.bookings.add_leader("王局长", title="局长", username="wang", desk="接待室1号台")
    day = await scheduler.bookings.open_day(leader.id, DAY, dt.time(9), dt.time(10), slot_minutes=30, actor="staff1")
    first = await scheduler.bookings.book(day.slots[0].id, petitioner(0, "张三"), "", actor="staff1")
    second = await scheduler.bookings.book(day.slots[1].id, petitioner(1, "李四", "13900001111"), "", actor="staff1")
    return scheduler, sms, desk, rooms, first, second


async def test_reminders_go_out_once_each_at_their_time(db, tmp_path, clock):
    scheduler, sms, _desk, _rooms, _first, _second = await a_day(db, tmp_path, clock)
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == ["booked", "booked"]
    clock.set(hall_time(DAY - dt.timedelta(days=1), 17, 59))
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == ["booked", "booked"]
    clock.set(hall_time(DAY - dt.timedelta(days=1), 18))  # the evening before
    await scheduler.lifecycle.run_once()
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == ["booked", "booked", "reminder_day", "reminder_day"]
    assert {m.to for m in sms.sent[2:]} == {"13812345678", "13900001111"}
    assert any("明天11月24日 09:00" in m.text for m in sms.sent[2:])
    # Down until 09:25 on the day: the 09:00 appointment's hour-before reminder is too late to send; the 09:30
    # one's still goes out.
    clock.set(hall_time(DAY, 9, 25))
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == ["booked", "booked", "reminder_day", "reminder_day", "reminder_hour"]
    assert sms.sent[-1].to == "13900001111"
    dropped = [n for n in await scheduler.notifier.outbox() if n.state == "dropped"]
    assert [n.kind for n in dropped] == ["reminder_hour"]
    await scheduler.close()


async def test_the_room_opens_before_the_slot_and_the_desk_camera_turns_once(db, tmp_path, clock):
    scheduler, _sms, desk, rooms, first, _second = await a_day(db, tmp_path, clock)
    clock.set(hall_time(DAY, 8, 49))
    with pytest.raises(TooEarly, match="opens at"):
        await scheduler.reception.claim_ticket(first.link_key, None)
    assert (await scheduler.lifecycle.run_once()).opened == []
    clock.set(hall_time(DAY, 8, 50))
    assert (await scheduler.lifecycle.run_once()).opened == [first.appointment.room_id]
    await scheduler.lifecycle.run_once()
    assert desk.pointed == ["接待室1号台"] and list(rooms.rooms) == [first.appointment.room_id]
    ticket = await scheduler.reception.claim_ticket(first.link_key, None)
    assert ticket.room_id == first.appointment.room_id and ticket.name == "张三"
    assert ticket.valid_until == hall_time(DAY, 9, 40)
    await scheduler.close()


async def test_a_ticket_is_good_for_one_connection_on_one_phone(db, tmp_path, clock):
    scheduler, _sms, _desk, _rooms, first, _second = await a_day(db, tmp_path, clock)
    clock.set(hall_time(DAY, 8, 55))
    await scheduler.lifecycle.run_once()
    ticket = await scheduler.reception.claim_ticket(first.link_key, None)
    with pytest.raises(LinkInUse):
        await scheduler.reception.claim_ticket(first.link_key, None)  # another phone, without this one's secret
    with pytest.raises(LinkInUse):
        await scheduler.reception.claim_ticket(first.link_key, "forged-device-secret")
    with pytest.raises(UnknownLink):
        await scheduler.reception.claim_ticket("AAAAAAAAAAAAAAAAAAAAAA", None)
    with pytest.raises(TicketUsed):
        await scheduler.reception.redeem_ticket(ticket.ticket_id, "visit-999")  # another room
    arrived = await scheduler.reception.redeem_ticket(ticket.ticket_id, ticket.room_id)
    assert arrived.state is State.WAITING and arrived.arrived_at == clock.now()
    with pytest.raises(TicketUsed):
        await scheduler.reception.redeem_ticket(ticket.ticket_id, ticket.room_id)
    # The same phone reconnects with a fresh ticket, still waiting.
    again = await scheduler.reception.claim_ticket(first.link_key, ticket.device_secret)
    assert again.ticket_id != ticket.ticket_id and not again.admitted
    assert (await scheduler.reception.redeem_ticket(again.ticket_id, again.room_id)).state is State.WAITING
    await scheduler.close()


async def test_admission_end_outcome_and_rating(db, tmp_path, clock):
    scheduler, _sms, _desk, _rooms, first, _second = await a_day(db, tmp_path, clock)
    clock.set(hall_time(DAY, 8, 55))
    await scheduler.lifecycle.run_once()
    ticket = await scheduler.reception.claim_ticket(first.link_key, None)
    await scheduler.reception.redeem_ticket(ticket.ticket_id, ticket.room_id)
    appointment = first.appointment.id
    with pytest.raises(NotYourReception):
        await scheduler.reception.admit(appointment, username="li", role="leader")
    clock.set(hall_time(DAY, 9, 2))
    admitted = await scheduler.reception.admit(appointment, username="wang", role="leader")
    assert admitted.state is State.IN_SESSION and admitted.admitted_at == clock.now()
    with pytest.raises(InvalidTransition, match="rated once it has ended"):
        await scheduler.reception.rate(first.link_key, score=5, comment="", device_secret=ticket.device_secret)
    clock.set(hall_time(DAY, 9, 40))  # overruns its slot: the room stays open
    assert (await scheduler.lifecycle.run_once()).closed == []
    ended = await scheduler.reception.end(
        appointment, username="wang", role="leader", result="accepted", notes="已受理"
    )
    assert ended.state is State.COMPLETED and ended.outcome and ended.outcome.notes == "已受理"
    for other_phone in (None, "a-forwarded-link"):  # the link alone does not rate someone else's reception
        with pytest.raises(LinkInUse, match="only the phone that took part"):
            await scheduler.reception.rate(first.link_key, score=1, comment="", device_secret=other_phone)
    rated = await scheduler.reception.rate(
        first.link_key, score=5, comment="很满意", device_secret=ticket.device_secret
    )
    assert rated.rating and rated.rating.score == 5
    assert [h.to_state for h in ended.history] == [State.CONFIRMED, State.WAITING, State.IN_SESSION, State.COMPLETED]
    assert first.appointment.room_id in (await scheduler.lifecycle.run_once()).closed
    totals, rows = await scheduler.figures(DAY, DAY)
    assert (totals.held, totals.average_wait_seconds, totals.satisfaction_rate) == (1, 120.0, 1.0)
    assert rows[0].leader_name == "王局长" and rows[0].month == "2026-11"
    await scheduler.close()


async def test_no_show_after_the_grace_late_arrival_within_the_slot_and_closing(db, tmp_path, clock):
    scheduler, sms, _desk, rooms, first, second = await a_day(db, tmp_path, clock)
    clock.set(hall_time(DAY, 9, 14))
    await scheduler.lifecycle.run_once()
    clock.set(hall_time(DAY, 9, 15))
    assert (await scheduler.lifecycle.run_once()).no_shows == [first.appointment.id]
    # Late, but within the slot: received all the same.
    clock.set(hall_time(DAY, 9, 20))
    ticket = await scheduler.reception.claim_ticket(first.link_key, None)
    late = await scheduler.reception.redeem_ticket(ticket.ticket_id, ticket.room_id)
    assert late.state is State.WAITING and late.history[-1].reason == "arrived late"
    # Nobody admitted them before the slot (and its grace) ended: the room closes, they are told.
    clock.set(hall_time(DAY, 9, 40))
    closed = await scheduler.lifecycle.run_once()
    assert first.appointment.room_id in closed.closed and first.appointment.room_id not in rooms.rooms
    record = await scheduler.bookings.appointment(first.appointment.id)
    assert record.state is State.CANCELLED and "未能接待" in record.history[-1].reason
    assert sms.sent[-1].template == "cancelled" and sms.sent[-1].to == "13812345678"
    with pytest.raises(InvalidTransition, match="was cancelled"):
        await scheduler.reception.claim_ticket(first.link_key, ticket.device_secret)
    clock.set(hall_time(DAY, 10, 15))
    await scheduler.lifecycle.run_once()
    totals, _ = await scheduler.figures(DAY, DAY)
    assert (totals.held, totals.no_shows, totals.cancelled, totals.no_show_rate) == (0, 1, 1, 1.0)
    assert (await scheduler.bookings.appointment(second.appointment.id)).state is State.NO_SHOW
    with pytest.raises(TooLate, match="room has closed"):  # a leader cannot reopen it by joining
        await scheduler.reception.host_pass(second.appointment.id, username="wang", role="leader")
    await scheduler.close()


async def test_a_restart_mid_day_loses_nothing_and_sends_nothing_twice(db, tmp_path, clock):
    scheduler, sms, desk, _rooms, first, second = await a_day(db, tmp_path, clock)
    await scheduler.lifecycle.run_once()
    await scheduler.close()
    # Down from the day before until 09:20 on the day: two reminders, a room opening and a no-show fell due.
    clock.set(hall_time(DAY, 9, 20))
    rooms = MediaNode(MediaSettings())
    restarted = build_scheduler(db, tmp_path, clock, sms=sms, desk=desk, rooms=rooms)
    await restarted.lifecycle.start()
    done = await restarted.lifecycle.run_once()
    assert sorted(done.opened) == sorted([first.appointment.room_id, second.appointment.room_id])
    assert done.no_shows == [first.appointment.id]
    # Reminders whose time has passed are not sent late; the 09:30 appointment's hour-before one is.
    assert sms.kinds() == ["booked", "booked", "reminder_hour"]
    assert sms.sent[-1].to == "13900001111"
    await restarted.lifecycle.run_once()
    await restarted.lifecycle.stop()
    # Stopped again, and again restarted: the rooms come back (they lived in memory), nothing is resent.
    third = build_scheduler(db, tmp_path, clock, sms=sms, desk=desk, rooms=MediaNode(MediaSettings()))
    again = await third.lifecycle.run_once()
    assert sorted(again.opened) == sorted(done.opened) and again.no_shows == [] and again.sent == 0
    assert desk.pointed == ["接待室1号台", "接待室1号台"]  # once per slot, never again on a restart
    assert len(sms.sent) == 3
    await third.close()


async def test_a_message_interrupted_mid_send_is_not_sent_again(db, tmp_path, clock):
    scheduler, sms, _desk, _rooms, _first, _second = await a_day(db, tmp_path, clock)
    async with db.session() as session:
        await session.execute(text("UPDATE notifications SET state = 'sending' WHERE kind = 'booked'"))
        await session.commit()
    await scheduler.lifecycle.start()  # as after a crash
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == []
    failed = [n for n in await scheduler.notifier.outbox() if n.kind == "booked"]
    assert {n.state for n in failed} == {"failed"} and "not sent again" in (failed[0].last_error or "")
    await scheduler.close()


class FlakyCarrier(RecordingSms):
    """Refuses the first messages with the carrier's own kind of error, then delivers."""

    def __init__(self, failures: list[DeliveryFailed]) -> None:
        super().__init__()
        self.failures = failures

    async def send(self, message):
        if self.failures:
            raise self.failures.pop(0)
        return await super().send(message)


async def test_a_carrier_that_throttles_is_retried_with_backoff_and_a_bad_number_is_given_up(db, tmp_path, clock):
    throttled = DeliveryFailed("throttled", code="isv.BUSINESS_LIMIT_CONTROL", retryable=True, backend="aliyun")
    sms = FlakyCarrier([throttled, throttled])
    scheduler = build_scheduler(db, tmp_path, clock, sms=sms, sms_settings={"retry_base_seconds": 30})
    leader = await scheduler.bookings.add_leader("王局长", username="wang")
    day = await scheduler.bookings.open_day(leader.id, DAY, dt.time(9), dt.time(10), slot_minutes=30, actor="staff1")
    await scheduler.bookings.book(day.slots[0].id, petitioner(0, "张三"), "", actor="staff1")
    await scheduler.lifecycle.run_once()  # first try: throttled
    booked = next(n for n in await scheduler.notifier.outbox() if n.kind == "booked")
    assert (booked.state, booked.attempts, sms.kinds()) == ("pending", 1, [])
    assert "BUSINESS_LIMIT_CONTROL" in (booked.last_error or "")
    clock.advance(seconds=29)
    await scheduler.lifecycle.run_once()  # not yet: the first retry waits 30 s
    clock.advance(seconds=1)
    await scheduler.lifecycle.run_once()  # second try: throttled again; the next waits 60 s
    clock.advance(seconds=59)
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == []
    clock.advance(seconds=1)
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == ["booked"]
    booked = next(n for n in await scheduler.notifier.outbox() if n.kind == "booked")
    assert (booked.state, booked.attempts) == ("sent", 3)

    sms.failures = [DeliveryFailed("bad number", code="isv.MOBILE_NUMBER_ILLEGAL", retryable=False, backend="aliyun")]
    await scheduler.bookings.book(day.slots[1].id, petitioner(1, "李四", "13900001111"), "", actor="staff1")
    await scheduler.lifecycle.run_once()
    clock.advance(hours=1)
    await scheduler.lifecycle.run_once()
    second = [n for n in await scheduler.notifier.outbox() if n.kind == "booked" and n.phone_masked == "139****1111"]
    assert (second[0].state, second[0].attempts) == ("failed", 1)
    assert sms.kinds() == ["booked"]  # never sent, never retried
    await scheduler.close()
