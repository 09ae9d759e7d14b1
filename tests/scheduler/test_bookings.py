"""Booking rules on SQLite and on PostgreSQL: every refusal states its reason and changes nothing; cancel and
reschedule keep the history; the petitioner's personal data is stored only masked, encrypted or hashed."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re

import pytest
from scheduler_tools import HALL, ManualClock, RecordingSms, build_scheduler, hall_time, petitioner
from sqlalchemy import text

from scheduler import State
from scheduler.errors import (
    AppointmentNotFound,
    DayOverlaps,
    InvalidIdNumber,
    InvalidPhone,
    InvalidRequest,
    InvalidTransition,
    PetitionerBusy,
    PublicBookingClosed,
    SlotInPast,
    SlotTaken,
    SlotTooFarAhead,
    TooManyOpenAppointments,
    UnknownLink,
)

TODAY = dt.date(2026, 11, 23)
TOMORROW = TODAY + dt.timedelta(days=2)  # two days on: both reminders are still ahead


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(hall_time(TODAY, 8))


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()


@pytest.fixture
async def hall(db, tmp_path, clock, sms):
    scheduler = build_scheduler(db, tmp_path, clock, sms=sms, public_booking=True)
    leader = await scheduler.bookings.add_leader("王局长", title="局长", username="wang", desk="接待室1号台")
    other = await scheduler.bookings.add_leader("李主任", title="主任", username="li")
    day = await scheduler.bookings.open_day(
        leader.id, TOMORROW, dt.time(9), dt.time(11), slot_minutes=30, actor="staff1", public_booking=True
    )
    other_day = await scheduler.bookings.open_day(
        other.id, TOMORROW, dt.time(9), dt.time(10), slot_minutes=60, capacity=2, actor="staff1"
    )
    yield scheduler, day, other_day
    await scheduler.close()


async def counts(db) -> tuple[int, int, int]:
    async with db.session() as session:
        appointments = (await session.execute(text("SELECT count(*) FROM appointments"))).scalar_one()
        booked = (await session.execute(text("SELECT coalesce(sum(booked), 0) FROM reception_slots"))).scalar_one()
        messages = (await session.execute(text("SELECT count(*) FROM notifications"))).scalar_one()
    return appointments, booked, messages


async def test_a_day_is_cut_into_slots_in_hall_time_and_overlapping_days_are_refused(hall):
    scheduler, day, _ = hall
    assert [s.starts_at.astimezone(HALL).strftime("%H:%M") for s in day.slots] == ["09:00", "09:30", "10:00", "10:30"]
    assert day.slots[0].starts_at == dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)  # stored in UTC
    with pytest.raises(DayOverlaps, match="already receives from"):
        await scheduler.bookings.open_day(
            day.leader.id, TOMORROW, dt.time(10, 30), dt.time(12), slot_minutes=30, actor="staff1"
        )
    assert len(await scheduler.bookings.days(TOMORROW, TOMORROW, leader_id=day.leader.id)) == 1


async def test_a_staff_booking_is_confirmed_with_an_sms_and_two_reminders(hall, db):
    scheduler, day, _ = hall
    booking = await scheduler.bookings.book(day.slots[0].id, petitioner(), "宅基地纠纷", actor="staff1")
    record = booking.appointment
    assert record.state is State.CONFIRMED
    assert record.number == f"20261125-{record.id:04d}"
    assert record.phone_masked == "138****5678"
    outbox = await scheduler.notifier.outbox()
    assert sorted(n.kind for n in outbox) == ["booked", "reminder_day", "reminder_hour"]
    booked = next(n for n in outbox if n.kind == "booked")
    assert "11月25日 09:00" in booked.text and f"https://hall.example.cn/v/{booking.link_key}" in booked.text
    reminders = {n.kind: n.due_at for n in outbox}
    assert reminders["reminder_day"] == hall_time(TOMORROW - dt.timedelta(days=1), 18)  # the evening before
    assert reminders["reminder_hour"] == hall_time(TOMORROW, 8)
    assert (await scheduler.reception.visit(booking.link_key)).id == record.id


async def test_a_taken_slot_is_refused_with_its_reason_and_nothing_changes(hall, db):
    scheduler, day, _ = hall
    await scheduler.bookings.book(day.slots[0].id, petitioner(0), "", actor="staff1")
    before = await counts(db)
    with pytest.raises(SlotTaken, match=re.escape("09:00 is taken (1 of 1 places booked)")):
        await scheduler.bookings.book(day.slots[0].id, petitioner(1, name="李四"), "", actor="staff1")
    assert await counts(db) == before


async def test_the_last_place_goes_to_exactly_one_of_many_concurrent_bookings(hall, db):
    scheduler, day, _ = hall
    slot = day.slots[1].id
    results = await asyncio.gather(
        *(scheduler.bookings.book(slot, petitioner(i, name=f"来访人{i}"), "", actor="staff1") for i in range(4)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1, results
    assert all(isinstance(r, SlotTaken) for r in results if isinstance(r, BaseException)), results
    assert (await counts(db))[:2] == (1, 1)


async def test_slots_in_the_past_or_too_far_ahead_are_refused(hall, db, clock):
    scheduler, day, _ = hall
    before = await counts(db)
    clock.set(hall_time(TOMORROW, 9, 5))
    with pytest.raises(SlotInPast, match="has already begun"):
        await scheduler.bookings.book(day.slots[0].id, petitioner(), "", actor="staff1")
    clock.set(hall_time(TOMORROW - dt.timedelta(days=31), 9))
    with pytest.raises(SlotTooFarAhead, match="at most 30 days ahead"):
        await scheduler.bookings.book(day.slots[0].id, petitioner(), "", actor="staff1")
    assert await counts(db) == before


async def test_one_petitioner_cannot_hold_two_places_at_once_or_too_many_appointments(hall, db):
    scheduler, day, other_day = hall
    await scheduler.bookings.book(day.slots[0].id, petitioner(), "", actor="staff1")
    before = await counts(db)
    with pytest.raises(PetitionerBusy, match="already has appointment 20261125-"):
        await scheduler.bookings.book(other_day.slots[0].id, petitioner(), "", actor="staff1")
    await scheduler.bookings.book(day.slots[2].id, petitioner(), "", actor="staff1")
    with pytest.raises(TooManyOpenAppointments, match="already holds 2 open appointments"):
        await scheduler.bookings.book(day.slots[3].id, petitioner(), "", actor="staff1")
    assert (await counts(db))[0] == before[0] + 1


async def test_bad_phone_and_id_numbers_are_refused_before_anything_is_stored(hall, db):
    scheduler, day, _ = hall
    before = await counts(db)
    with pytest.raises(InvalidPhone):
        await scheduler.bookings.book(day.slots[0].id, petitioner(phone="12345"), "", actor="staff1")
    bad_id = petitioner()
    bad_id = type(bad_id)(name="张三", phone="13812345678", id_number="110105194912310021")  # wrong check digit
    with pytest.raises(InvalidIdNumber, match="check character"):
        await scheduler.bookings.book(day.slots[0].id, bad_id, "", actor="staff1")
    assert await counts(db) == before


async def test_phone_and_id_numbers_are_never_stored_in_clear(hall, db):
    scheduler, day, _ = hall
    await scheduler.bookings.book(day.slots[0].id, petitioner(phone="+86 138-1234-5678"), "", actor="staff1")
    async with db.session() as session:
        rows = (await session.execute(text("SELECT * FROM petitioners"))).all()
    stored = " ".join(str(value) for value in rows[0])
    assert "13812345678" not in stored and "11010519491231002X" not in stored
    assert "138****5678" in stored
    # Search still finds them by the whole number or its last four digits.
    assert len(await scheduler.bookings.search(text="13812345678")) == 1
    assert len(await scheduler.bookings.search(text="5678")) == 1
    assert len(await scheduler.bookings.search(text="张")) == 1


async def test_search_by_number_name_or_phone_within_days_leaders_and_states(hall):
    scheduler, day, other_day = hall
    first = await scheduler.bookings.book(day.slots[0].id, petitioner(0, "张三"), "", actor="staff1")
    second = await scheduler.bookings.book(day.slots[1].id, petitioner(1, "李_四", "13900001111"), "", actor="staff1")
    third = await scheduler.bookings.book(
        other_day.slots[0].id, petitioner(2, "王五", "13700002222"), "", actor="staff1"
    )
    await scheduler.bookings.cancel(third.appointment.id, actor="staff1", reason="改期")

    def numbers(records):
        return sorted(r.number for r in records)

    everyone = [first.appointment.number, second.appointment.number, third.appointment.number]
    assert numbers(await scheduler.bookings.search(first=TOMORROW, last=TOMORROW)) == everyone
    assert numbers(await scheduler.bookings.search(text=second.appointment.number)) == [second.appointment.number]
    assert numbers(await scheduler.bookings.search(text="李_")) == [second.appointment.number]
    assert await scheduler.bookings.search(text="_") == await scheduler.bookings.search(text="李_")  # no wildcard
    assert await scheduler.bookings.search(text="%") == []
    assert numbers(await scheduler.bookings.search(text="2222")) == [third.appointment.number]
    assert numbers(await scheduler.bookings.search(text="13900001111")) == [second.appointment.number]
    mine = await scheduler.bookings.search(first=TOMORROW, last=TOMORROW, leader_id=day.leader.id)
    assert numbers(mine) == everyone[:2]
    assert await scheduler.bookings.search(first=TODAY, last=TODAY) == []
    later = TOMORROW + dt.timedelta(days=1)
    assert await scheduler.bookings.search(first=later) == [] and len(await scheduler.bookings.search(last=later)) == 3
    assert numbers(await scheduler.bookings.search(states=[State.CANCELLED])) == [third.appointment.number]
    assert numbers(await scheduler.bookings.search(text="王五", states=[State.CONFIRMED, State.REQUESTED])) == []


async def test_the_confirmation_sms_goes_out_at_once_not_at_the_next_pass(hall, sms, clock):
    scheduler, day, _ = hall
    await scheduler.lifecycle.start()  # its first pass runs, then it waits for the clock, which stands still
    await asyncio.sleep(0.1)
    booking = await scheduler.bookings.book(day.slots[0].id, petitioner(), "", actor="staff1")
    for _ in range(100):
        if sms.sent:
            break
        await asyncio.sleep(0.02)
    assert sms.kinds() == ["booked"] and booking.appointment.number in sms.sent[0].text
    with pytest.raises(SlotTaken):  # refused, rolled back: nothing to send
        await scheduler.bookings.book(day.slots[0].id, petitioner(1, phone="13900001111"), "", actor="staff1")
    await scheduler.bookings.book(day.slots[1].id, petitioner(2, phone="13700002222"), "", channel="phone", actor="p")
    await scheduler.bookings.cancel(booking.appointment.id, actor="staff1", reason="领导临时公出")
    for _ in range(100):
        if len(sms.sent) > 1:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert sms.kinds() == ["booked", "cancelled"]  # a phone booking waits for staff to confirm it
    clock.advance(minutes=1)
    await scheduler.lifecycle.run_once()
    assert sms.kinds() == ["booked", "cancelled"]  # the pass finds nothing left to send


async def test_cancel_frees_the_place_drops_the_reminders_and_tells_the_petitioner(hall, db):
    scheduler, day, _ = hall
    booking = await scheduler.bookings.book(day.slots[0].id, petitioner(), "", actor="staff1")
    record = await scheduler.bookings.cancel(booking.appointment.id, actor="staff1", reason="领导临时公出")
    assert record.state is State.CANCELLED
    assert [(h.from_state, h.to_state, h.actor) for h in record.history] == [
        (None, State.CONFIRMED, "staff1"),
        (State.CONFIRMED, State.CANCELLED, "staff1"),
    ]
    states = {n.kind: n.state for n in await scheduler.notifier.outbox()}
    # Not yet sent, the confirmation is dropped too: the petitioner gets one message, the one that holds.
    assert states == {
        "booked": "dropped",
        "reminder_day": "dropped",
        "reminder_hour": "dropped",
        "cancelled": "pending",
    }
    cancelled = next(n for n in await scheduler.notifier.outbox() if n.kind == "cancelled")
    assert "领导临时公出" in cancelled.text
    again = await scheduler.bookings.book(day.slots[0].id, petitioner(1, name="李四"), "", actor="staff1")
    assert again.appointment.state is State.CONFIRMED
    with pytest.raises(InvalidTransition, match="cancelled cannot become cancelled"):
        await scheduler.bookings.cancel(booking.appointment.id, actor="staff1", reason="再次")


async def test_reschedule_moves_to_a_new_slot_and_keeps_the_history_of_both(hall, db):
    scheduler, day, _ = hall
    first = await scheduler.bookings.book(day.slots[0].id, petitioner(), "征地补偿", actor="staff1")
    moved = await scheduler.bookings.reschedule(first.appointment.id, day.slots[2].id, actor="staff2", reason="改期")
    old = await scheduler.bookings.appointment(first.appointment.id)
    assert old.state is State.RESCHEDULED and old.rescheduled_to_id == moved.appointment.id
    assert old.history[-1].reason == "改期" and old.history[-1].actor == "staff2"
    new = moved.appointment
    assert new.state is State.CONFIRMED and new.rescheduled_from_id == old.id and new.subject == "征地补偿"
    assert new.starts_at == hall_time(TOMORROW, 10)
    slots = {
        s.id: s.booked for s in (await scheduler.bookings.days(TOMORROW, TOMORROW, leader_id=day.leader.id))[0].slots
    }
    assert (slots[day.slots[0].id], slots[day.slots[2].id]) == (0, 1)
    outbox = await scheduler.notifier.outbox()
    moved_message = next(n for n in outbox if n.kind == "moved")
    assert "11月25日 10:00" in moved_message.text and moved.link_key in moved_message.text
    with pytest.raises(UnknownLink, match="was moved"):
        await scheduler.reception.visit(first.link_key)
    with pytest.raises(InvalidRequest, match="already in this slot"):
        await scheduler.bookings.reschedule(new.id, day.slots[2].id, actor="staff2")
    await scheduler.bookings.book(day.slots[3].id, petitioner(1, name="李四"), "", actor="staff1")
    before = await counts(db)
    with pytest.raises(SlotTaken, match=re.escape("10:30 is taken (1 of 1 places booked)")):
        await scheduler.bookings.reschedule(new.id, day.slots[3].id, actor="staff2")
    with pytest.raises(AppointmentNotFound):
        await scheduler.bookings.reschedule(new.id + 100, day.slots[0].id, actor="staff2")
    assert await counts(db) == before


async def test_two_desks_swapping_two_appointments_at_once_both_succeed(hall, db):
    # Two staff move two petitioners into each other's slot at the same moment. Each move takes a place in
    # one slot and gives one back in the other: taken in opposite orders, PostgreSQL saw a deadlock and
    # one desk got a server error. Both moves land, and every place is counted once.
    scheduler, day, _ = hall
    pair = await scheduler.bookings.open_day(
        day.leader.id,
        TOMORROW + dt.timedelta(days=1),
        dt.time(9),
        dt.time(10),
        slot_minutes=30,
        capacity=2,
        actor="staff1",
    )
    first, second = (slot.id for slot in pair.slots)
    other = {first: second, second: first}
    a = await scheduler.bookings.book(first, petitioner(0, name="甲"), "", actor="staff1")
    b = await scheduler.bookings.book(second, petitioner(1, name="乙"), "", actor="staff1")
    for _ in range(3):  # back and forth, crossing each time
        a, b = await asyncio.gather(
            scheduler.bookings.reschedule(a.appointment.id, other[a.appointment.slot_id], actor="staff1"),
            scheduler.bookings.reschedule(b.appointment.id, other[b.appointment.slot_id], actor="staff2"),
        )
    assert (a.appointment.slot_id, b.appointment.slot_id) == (second, first)
    assert a.appointment.state is b.appointment.state is State.CONFIRMED
    booked = {s.id: s.booked for s in (await scheduler.bookings.days(pair.day, pair.day))[0].slots}
    assert booked == {first: 1, second: 1}


async def test_a_move_and_a_cancellation_of_one_appointment_at_once_leave_exactly_one_outcome(hall, db):
    scheduler, day, _ = hall
    held = await scheduler.bookings.book(day.slots[0].id, petitioner(), "", actor="staff1")
    moved, cancelled = await asyncio.gather(
        scheduler.bookings.reschedule(held.appointment.id, day.slots[1].id, actor="staff1"),
        scheduler.bookings.cancel(held.appointment.id, actor="staff2", reason="来访人来电取消"),
        return_exceptions=True,
    )
    assert isinstance(moved, InvalidTransition) != isinstance(cancelled, InvalidTransition), (moved, cancelled)
    booked = {
        s.id: s.booked for s in (await scheduler.bookings.days(TOMORROW, TOMORROW, leader_id=day.leader.id))[0].slots
    }
    assert booked[day.slots[0].id] == 0 and booked[day.slots[1].id] == (0 if isinstance(moved, BaseException) else 1)


async def test_a_move_and_a_booking_at_once_never_give_one_petitioner_two_places_at_one_time(hall, db):
    # One desk moves 张三 to 王局长's 10:00 while another books 张三 with 李主任 at 10:00: one of them is refused.
    scheduler, day, other_day = hall
    later = await scheduler.bookings.open_day(
        other_day.leader.id, TOMORROW, dt.time(10), dt.time(11), slot_minutes=60, actor="staff1"
    )
    held = await scheduler.bookings.book(day.slots[0].id, petitioner(), "", actor="staff1")
    results = await asyncio.gather(
        scheduler.bookings.reschedule(held.appointment.id, day.slots[2].id, actor="staff1"),
        scheduler.bookings.book(later.slots[0].id, petitioner(), "", actor="staff2"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], PetitionerBusy), results
    held_now = sorted(
        (a.starts_at, a.ends_at) for a in await scheduler.bookings.search(text="张三") if a.state is State.CONFIRMED
    )
    # The move won (10:00 with 王局长 alone) or the booking did (9:00 with 王局长, 10:00 with 李主任).
    assert held_now[-1][0] == hall_time(TOMORROW, 10) and len(held_now) == (1 if refused[0] is results[1] else 2)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(held_now)), held_now


async def test_a_phone_booking_waits_for_staff_and_only_where_the_day_allows_it(hall, db, sms):
    scheduler, day, other_day = hall
    before = await counts(db)
    with pytest.raises(PublicBookingClosed):
        await scheduler.bookings.book(other_day.slots[0].id, petitioner(), "", channel="phone", actor="petitioner")
    assert await counts(db) == before
    booking = await scheduler.bookings.book(day.slots[0].id, petitioner(), "", channel="phone", actor="petitioner")
    assert booking.appointment.state is State.REQUESTED
    assert await scheduler.notifier.outbox() == []  # nothing is promised before staff confirm
    confirmed = await scheduler.bookings.confirm(booking.appointment.id, actor="staff1")
    assert confirmed.state is State.CONFIRMED
    assert "booked" in [n.kind for n in await scheduler.notifier.outbox()]


async def test_a_returning_petitioner_is_recognised_by_the_id_number(hall, db, clock):
    scheduler, day, _ = hall
    first = await scheduler.bookings.book(day.slots[0].id, petitioner(name="张三"), "第一次", actor="staff1")
    second = await scheduler.bookings.book(
        day.slots[2].id, petitioner(name="张三", phone="13900001111"), "第二次", actor="staff1"
    )
    assert second.appointment.petitioner_id == first.appointment.petitioner_id
    assert second.appointment.phone_masked == "139****1111"  # the newest number is the one used
    # What the leader sees of the second appointment: the first one, as an earlier visit.
    record = await scheduler.bookings.appointment(second.appointment.id)
    assert [v.number for v in record.earlier_visits] == [first.appointment.number]
