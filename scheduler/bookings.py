"""Leaders, their reception days and slots, and booking into them: the rules, each refusal with its reason.

A slot's places are counted by a conditional UPDATE (`booked < capacity`) that runs first in the booking's
transaction: on PostgreSQL the row lock, on SQLite the write lock, make two bookings of the last place
impossible, and every refusal after it rolls the transaction back, so nothing is changed.

On PostgreSQL every writer takes its row locks in one order: a reception day, then its slots (by id), then
appointments, then petitioners. A move takes a place in one slot and gives one back in another; two moves
crossing between the same two slots, or a move and a cancellation of the same appointment, then queue
behind each other instead of deadlocking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import secrets
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.clock import Clock, as_utc
from scheduler.errors import (
    AppointmentNotFound,
    DayNotFound,
    DayOverlaps,
    InvalidRequest,
    LeaderExists,
    LeaderNotFound,
    PetitionerBusy,
    PublicBookingClosed,
    SlotClosed,
    SlotInPast,
    SlotNotFound,
    SlotTaken,
    SlotTooFarAhead,
    TooManyOpenAppointments,
)
from scheduler.personal import PersonalData, mask_phone, normalise_phone
from scheduler.records import AppointmentRecord, Booking, DayRecord, LeaderRecord, PetitionerDetails
from scheduler.settings import SchedulerSettings
from scheduler.states import OPEN_STATES, State
from scheduler.store import (
    Appointment,
    Messages,
    SessionSource,
    appointment_record,
    appointment_records,
    appointment_row,
    leader_record,
    link_hash,
    new_record,
    records_query,
    slot_record,
    table_of,
    transition,
)
from scheduler.tables import AppointmentEventRow, AppointmentRow, LeaderRow, PetitionerRow, ReceptionDayRow, SlotRow

OPEN = tuple(s.value for s in OPEN_STATES)
MAX_SLOTS_PER_DAY = 96
SEARCH_LIMIT = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Place:
    """A slot whose place a booking has just taken, with its leader."""

    id: int
    leader_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    leader: LeaderRecord


@dataclasses.dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    phone_masked: str


@dataclasses.dataclass(frozen=True, slots=True)
class NewAppointment:
    """An appointment as it was just inserted: what its record, its link and its messages need."""

    id: int
    number: str
    slot_id: int
    leader_id: int
    petitioner_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    state: str
    subject: str
    channel: str
    created_by: str
    created_at: dt.datetime
    link_salt: str
    link_hash: str
    rescheduled_from_id: int | None


# The booking's statements, built once; their values are bound at execution.
_SLOTS = table_of(SlotRow)
_DAYS = table_of(ReceptionDayRow)
_LEADERS = table_of(LeaderRow)
_PETITIONERS = table_of(PetitionerRow)
_APPOINTMENTS = table_of(AppointmentRow)
_TAKE_PLACE = (
    update(_SLOTS)
    .where(_SLOTS.c.id == bindparam("slot_id"), _SLOTS.c.booked < _SLOTS.c.capacity)
    .values(booked=_SLOTS.c.booked + 1)
)
_PLACE = (
    select(
        _SLOTS.c.id,
        _SLOTS.c.leader_id,
        _SLOTS.c.starts_at,
        _SLOTS.c.ends_at,
        _SLOTS.c.capacity,
        _SLOTS.c.booked,
        _DAYS.c.cancelled,
        _DAYS.c.public_booking,
        *(_LEADERS.c[name].label(f"l_{name}") for name in ("name", "title", "username", "desk", "active")),
    )
    .join(_DAYS, _DAYS.c.id == _SLOTS.c.day_id)
    .join(_LEADERS, _LEADERS.c.id == _SLOTS.c.leader_id)
    .where(_SLOTS.c.id == bindparam("slot_id"))
)
_NEW_PETITIONER = {
    name: dialect_insert(_PETITIONERS)
    .on_conflict_do_nothing(index_elements=["id_hash"])
    .returning(_PETITIONERS.c.id, _PETITIONERS.c.name, _PETITIONERS.c.phone_masked)
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
_KNOWN_PETITIONER = (
    select(_PETITIONERS.c.id, _PETITIONERS.c.name, _PETITIONERS.c.phone_masked, _PETITIONERS.c.phone_hash)
    .where(_PETITIONERS.c.id_hash == bindparam("id_hash"))
    .with_for_update()
)
_CLASHES = and_(
    _APPOINTMENTS.c.starts_at < bindparam("ends_at"),
    _APPOINTMENTS.c.ends_at > bindparam("starts_at"),
)
_OPEN_APPOINTMENTS = (
    select(_APPOINTMENTS.c.number, _APPOINTMENTS.c.starts_at, _CLASHES)
    .where(
        _APPOINTMENTS.c.petitioner_id == bindparam("petitioner_id"),
        _APPOINTMENTS.c.state.in_(OPEN),
        _APPOINTMENTS.c.id != bindparam("ignore"),
    )
    .order_by(_CLASHES.desc())
)
_LOCK_SLOTS = (
    select(_SLOTS.c.id).where(_SLOTS.c.id.in_(bindparam("slot_ids", expanding=True))).order_by(_SLOTS.c.id)
).with_for_update()  # PostgreSQL locks the rows as the sort hands them over: in id order
_SLOT_OF = select(_APPOINTMENTS.c.slot_id).where(_APPOINTMENTS.c.id == bindparam("appointment_id"))
_LOCK_PETITIONER = select(_PETITIONERS.c.id).where(_PETITIONERS.c.id == bindparam("petitioner_id")).with_for_update()
_NEW_APPOINTMENT = insert(_APPOINTMENTS).returning(_APPOINTMENTS.c.id)
_NUMBER_APPOINTMENT = (
    update(_APPOINTMENTS).where(_APPOINTMENTS.c.id == bindparam("appointment_id")).values(number=bindparam("number"))
)
_NEW_EVENT = insert(table_of(AppointmentEventRow))


class Bookings:
    def __init__(
        self,
        db: SessionSource,
        settings: SchedulerSettings,
        personal: PersonalData,
        messages: Messages,
        clock: Clock,
        zone: ZoneInfo,
    ) -> None:
        self.db = db
        self.settings = settings
        self.personal = personal
        self.messages = messages
        self.clock = clock
        self.zone = zone

    # ------------------------------------------------------------------ leaders

    async def add_leader(
        self, name: str, *, title: str = "", username: str | None = None, desk: str | None = None
    ) -> LeaderRecord:
        name = _text(name, "a leader's name", 1, 64)
        row = LeaderRow(name=name, title=title.strip()[:64], username=username or None, desk=desk or None)
        try:
            async with self.db.transaction() as session:
                session.add(row)
        except IntegrityError:
            raise LeaderExists(f"the account '{username}' already belongs to a leader") from None
        return leader_record(row)

    async def leaders(self) -> list[LeaderRecord]:
        async with self.db.session() as session:
            rows = await session.scalars(select(LeaderRow).where(LeaderRow.active).order_by(LeaderRow.id))
            return [leader_record(row) for row in rows]

    async def leader_of(self, username: str) -> LeaderRecord | None:
        async with self.db.session() as session:
            row = (await session.execute(select(LeaderRow).where(LeaderRow.username == username))).scalar_one_or_none()
            return leader_record(row) if row else None

    # ------------------------------------------------------------------ reception days

    async def open_day(
        self,
        leader_id: int,
        day: dt.date,
        start: dt.time,
        end: dt.time,
        *,
        slot_minutes: int,
        capacity: int = 1,
        desk: str | None = None,
        public_booking: bool = False,
        note: str = "",
        actor: str,
    ) -> DayRecord:
        """Open a leader's reception day (接访日), cut into slots of `slot_minutes` (hall time)."""
        starts_at = dt.datetime.combine(day, start, self.zone).astimezone(dt.UTC)
        ends_at = dt.datetime.combine(day, end, self.zone).astimezone(dt.UTC)
        if not 5 <= slot_minutes <= 240:
            raise InvalidRequest("a slot lasts 5 to 240 minutes")
        if not 1 <= capacity <= 20:
            raise InvalidRequest("a slot takes 1 to 20 petitioners")
        if ends_at <= starts_at:
            raise InvalidRequest("a reception day ends after it starts")
        count = int((ends_at - starts_at) / dt.timedelta(minutes=slot_minutes))
        if count < 1:
            raise InvalidRequest(f"{slot_minutes}-minute slots do not fit between {start:%H:%M} and {end:%H:%M}")
        if count > MAX_SLOTS_PER_DAY:
            raise InvalidRequest(f"a reception day has at most {MAX_SLOTS_PER_DAY} slots")
        if ends_at <= self.clock.now():
            raise SlotInPast("this reception day is already over")
        async with self.db.transaction() as session:
            leader = await session.get(LeaderRow, leader_id, with_for_update=True)
            if leader is None or not leader.active:
                raise LeaderNotFound(f"leader {leader_id} does not exist")
            clash = await session.scalar(
                select(ReceptionDayRow).where(
                    ReceptionDayRow.leader_id == leader_id,
                    ~ReceptionDayRow.cancelled,
                    ReceptionDayRow.starts_at < ends_at,
                    ReceptionDayRow.ends_at > starts_at,
                )
            )
            if clash is not None:
                raise DayOverlaps(
                    f"{leader.name} already receives from {_clock(clash.starts_at, self.zone)}"
                    f" to {_clock(clash.ends_at, self.zone)} that day"
                )
            row = ReceptionDayRow(
                leader_id=leader_id,
                day=day,
                starts_at=starts_at,
                ends_at=ends_at,
                slot_minutes=slot_minutes,
                capacity=capacity,
                desk=desk or leader.desk,
                public_booking=public_booking,
                note=note.strip()[:200],
                created_by=actor,
                cancelled=False,
            )
            session.add(row)
            await session.flush()
            length = dt.timedelta(minutes=slot_minutes)
            for index in range(count):
                slot_start = starts_at + index * length
                session.add(
                    SlotRow(
                        day_id=row.id,
                        leader_id=leader_id,
                        starts_at=slot_start,
                        ends_at=slot_start + length,
                        capacity=capacity,
                        booked=0,
                    )
                )
            await session.flush()
            return await self._day_record(session, row)

    async def days(
        self, first: dt.date, last: dt.date, *, leader_id: int | None = None, public_only: bool = False
    ) -> list[DayRecord]:
        async with self.db.session() as session:
            query = select(ReceptionDayRow).where(
                ReceptionDayRow.day >= first, ReceptionDayRow.day <= last, ~ReceptionDayRow.cancelled
            )
            if leader_id is not None:
                query = query.where(ReceptionDayRow.leader_id == leader_id)
            if public_only:
                query = query.where(ReceptionDayRow.public_booking)
            rows = await session.scalars(query.order_by(ReceptionDayRow.starts_at))
            return [await self._day_record(session, row) for row in rows]

    async def cancel_day(self, day_id: int, *, actor: str, reason: str) -> int:
        """Cancel a reception day: its open appointments are cancelled and their petitioners told. Returns how many."""
        reason = _text(reason, "a reason", 1, 100)
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(ReceptionDayRow, day_id, with_for_update=True)
            if row is None or row.cancelled:
                raise DayNotFound(f"reception day {day_id} does not exist")
            row.cancelled = True
            # The slots' row locks: a booking in flight either commits first (and is cancelled below) or waits
            # and then finds the day cancelled.
            await session.execute(
                update(SlotRow)
                .where(SlotRow.day_id == day_id)
                .values(booked=SlotRow.booked)
                .execution_options(synchronize_session=False)
            )
            appointments = await session.scalars(
                select(AppointmentRow)
                .join(SlotRow, SlotRow.id == AppointmentRow.slot_id)
                .where(SlotRow.day_id == day_id, AppointmentRow.state.in_(OPEN))
            )
            count = 0
            for appointment in appointments:
                if appointment.state in (State.WAITING.value, State.IN_SESSION.value):
                    continue  # being received now: the leader ends it
                await self._cancel_row(session, appointment, actor=actor, reason=reason, now=now)
                count += 1
            return count

    async def _day_record(self, session: AsyncSession, row: ReceptionDayRow) -> DayRecord:
        leader = await session.get(LeaderRow, row.leader_id)
        assert leader is not None
        slots = await session.scalars(select(SlotRow).where(SlotRow.day_id == row.id).order_by(SlotRow.starts_at))
        return DayRecord(
            id=row.id,
            leader=leader_record(leader),
            day=row.day,
            starts_at=as_utc(row.starts_at),
            ends_at=as_utc(row.ends_at),
            slot_minutes=row.slot_minutes,
            capacity=row.capacity,
            desk=row.desk,
            public_booking=row.public_booking,
            note=row.note,
            cancelled=row.cancelled,
            slots=tuple(slot_record(slot) for slot in slots),
        )

    # ------------------------------------------------------------------ booking

    async def book(
        self,
        slot_id: int,
        petitioner: PetitionerDetails,
        subject: str,
        *,
        channel: str = "staff",
        actor: str,
    ) -> Booking:
        """Book a petitioner into a slot. Staff bookings are confirmed; phone bookings wait for staff to confirm.

        Plain statements, built once, on the session's connection: a booking is the busiest write the hall
        has, and the ORM's unit of work cost it more than its seven statements did."""
        name = _text(petitioner.name, "the petitioner's name", 1, 32)
        phone = normalise_phone(petitioner.phone)
        id_hash = self.personal.id_hash(petitioner.id_number)
        subject = subject.strip()[:200]
        now = self.clock.now()
        state = State.CONFIRMED if channel == "staff" else State.REQUESTED
        async with self.db.transaction() as session:
            place = await self._take_place(session, slot_id, channel=channel, now=now)
            person, new = await self._petitioner(session, id_hash, name, phone, refresh=channel == "staff")
            if not new:  # someone new has no other appointment to clash with
                # On the phone page whoever books may not be who the ID number says: say nothing of their bookings.
                await self._check_petitioner(session, person.id, place, discreet=channel == "phone")
            appointment = await self._add_appointment(
                session, place, person.id, subject, state, channel=channel, actor=actor, now=now
            )
            await session.execute(
                _NEW_EVENT,
                {"appointment_id": appointment.id, "at": now, "to_state": state.value, "actor": actor}
                | {"from_state": None, "reason": f"booked ({channel})"},
            )
            if state is State.CONFIRMED:
                await self._queue_with_reminders(session, appointment, "booked", now=now, names=(person, place))
        record = new_record(appointment, place.leader, person.name, person.phone_masked)
        return Booking(record, self.personal.link_key(appointment.link_salt))

    async def _take_place(self, session: AsyncSession, slot_id: int, *, channel: str, now: dt.datetime) -> Place:
        # First statement of the transaction: it takes the lock that serialises bookings of this slot.
        taken = await session.execute(_TAKE_PLACE, {"slot_id": slot_id})
        found = (await session.execute(_PLACE, {"slot_id": slot_id})).one_or_none()
        if found is None:
            raise SlotNotFound(f"slot {slot_id} does not exist")
        if found.cancelled:
            raise SlotClosed("this reception day has been cancelled")
        if channel == "phone" and not (self.settings.public_booking and found.public_booking):
            raise PublicBookingClosed("this reception day is booked through the hall's staff, not online")
        starts_at = as_utc(found.starts_at)
        if starts_at <= now + dt.timedelta(minutes=self.settings.booking_lead_minutes):
            raise SlotInPast(f"the slot at {_clock(starts_at, self.zone)} has already begun or is too soon to book")
        if starts_at > now + dt.timedelta(days=self.settings.booking_days_ahead):
            raise SlotTooFarAhead(f"slots can be booked at most {self.settings.booking_days_ahead} days ahead")
        if getattr(taken, "rowcount", 1) != 1:
            taken_places = f"{found.booked} of {found.capacity} places booked"
            raise SlotTaken(f"the slot at {_clock(starts_at, self.zone)} is taken ({taken_places})")
        leader = LeaderRecord(
            found.leader_id, found.l_name, found.l_title, found.l_username, found.l_desk, found.l_active
        )
        return Place(found.id, found.leader_id, found.starts_at, found.ends_at, leader)

    async def _petitioner(
        self, session: AsyncSession, id_hash: str, name: str, phone: str, *, refresh: bool
    ) -> tuple[Person, bool]:
        """The petitioner with this ID number (recognised by its hash), created (True), or brought up to date when
        staff book (a phone booking never changes a known petitioner's number: whoever knows an ID number could)."""
        # New, most often: one INSERT. Known (or created by a concurrent first booking): the INSERT does
        # nothing and the row is read, locked.
        phone_fields = self._phone_fields(phone)
        created = (
            await session.execute(
                _NEW_PETITIONER[self._dialect(session)],
                {"id_hash": id_hash, "name": name, "created_at": self.clock.now(), **phone_fields},
            )
        ).one_or_none()
        if created is not None:
            return Person(*created), True
        row = (await session.execute(_KNOWN_PETITIONER, {"id_hash": id_hash})).one()
        person = Person(row.id, row.name, row.phone_masked)
        if not refresh:
            return person, False
        changes: dict[str, object] = {}
        if row.name != name:
            changes["name"] = name
        if row.phone_hash != phone_fields["phone_hash"]:
            changes |= phone_fields
        if changes:
            await session.execute(update(_PETITIONERS).where(_PETITIONERS.c.id == row.id).values(**changes))
            person = Person(row.id, name, str(changes.get("phone_masked", row.phone_masked)))
        return person, False

    @staticmethod
    def _dialect(session: AsyncSession) -> str:
        return session.get_bind().dialect.name

    def _phone_fields(self, phone: str) -> dict[str, object]:
        return {
            "phone_secret": self.personal.encrypt_phone(phone),
            "phone_masked": mask_phone(phone),
            "phone_hash": self.personal.phone_hash(phone),
        }

    async def _check_petitioner(
        self,
        session: AsyncSession,
        petitioner_id: int,
        place: Place,
        *,
        ignore: int | None = None,
        discreet: bool = False,
    ) -> None:
        # One query: their open appointments, the clashing one first.
        mine = (
            await session.execute(
                _OPEN_APPOINTMENTS,
                {
                    "petitioner_id": petitioner_id,
                    "ignore": ignore or 0,
                    "starts_at": place.starts_at,
                    "ends_at": place.ends_at,
                },
            )
        ).all()
        if mine and mine[0][2]:
            number, starts_at, _ = mine[0]
            if discreet:
                raise PetitionerBusy("this ID number already has an appointment at that time: please call the hall")
            raise PetitionerBusy(f"this petitioner already has appointment {number} at {_clock(starts_at, self.zone)}")
        count = len(mine)
        limit = self.settings.max_open_per_petitioner
        if count >= limit and discreet:
            raise TooManyOpenAppointments("this ID number cannot book more appointments now: please call the hall")
        if count >= limit:
            raise TooManyOpenAppointments(
                f"this petitioner already holds {count} open appointments (at most {limit}); cancel one first"
            )

    async def _add_appointment(
        self,
        session: AsyncSession,
        place: Place,
        petitioner_id: int,
        subject: str,
        state: State,
        *,
        channel: str,
        actor: str,
        now: dt.datetime,
        rescheduled_from_id: int | None = None,
    ) -> NewAppointment:
        salt = secrets.token_hex(16)
        values = {
            "slot_id": place.id,
            "leader_id": place.leader_id,
            "petitioner_id": petitioner_id,
            "starts_at": place.starts_at,
            "ends_at": place.ends_at,
            "state": state.value,
            "subject": subject,
            "channel": channel,
            "created_by": actor,
            "created_at": now,
            "link_salt": salt,
            "link_hash": link_hash(self.personal.link_key(salt)),
            "rescheduled_from_id": rescheduled_from_id,
        }
        # The number quotes the id, known once the row is in.
        new_id = (await session.execute(_NEW_APPOINTMENT, {**values, "number": secrets.token_hex(8)})).scalar_one()
        number = f"{as_utc(place.starts_at).astimezone(self.zone):%Y%m%d}-{new_id:04d}"
        await session.execute(_NUMBER_APPOINTMENT, {"appointment_id": new_id, "number": number})
        return NewAppointment(new_id, number, **values)  # type: ignore[arg-type]  # the fields, by name

    async def _queue_with_reminders(
        self,
        session: AsyncSession,
        row: Appointment,
        kind: str,
        *,
        now: dt.datetime,
        names: tuple[Person, Place] | None = None,
    ) -> None:
        reminders = self.messages.reminders(
            row,
            now=now,
            day_before=self.settings.reminder_day_at,
            hour_before=dt.timedelta(minutes=self.settings.reminder_hour_minutes),
        )
        to = (names[0].name, f"{names[1].leader.name}{names[1].leader.title}") if names else None
        await self.messages.queue_all(session, row, [(kind, now), *reminders], now=now, to=to)

    # ------------------------------------------------------------------ changes

    async def confirm(self, appointment_id: int, *, actor: str) -> AppointmentRecord:
        """Confirm a petitioner's own booking: now they get the SMS with the link."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await appointment_row(session, appointment_id, lock=True)
            await transition(session, row, State.CONFIRMED, actor=actor, at=now)
            await self._queue_with_reminders(session, row, "booked", now=now)
            return await appointment_record(session, row, full=True)

    async def cancel(self, appointment_id: int, *, actor: str, reason: str) -> AppointmentRecord:
        reason = _text(reason, "a reason", 1, 100)
        now = self.clock.now()
        async with self.db.transaction() as session:
            await self._lock_slots(session, await self._slot_of(session, appointment_id))
            row = await appointment_row(session, appointment_id, lock=True)
            await self._cancel_row(session, row, actor=actor, reason=reason, now=now)
            return await appointment_record(session, row, full=True)

    async def _cancel_row(
        self, session: AsyncSession, row: AppointmentRow, *, actor: str, reason: str, now: dt.datetime
    ) -> None:
        was_confirmed = row.state != State.REQUESTED.value
        await transition(session, row, State.CANCELLED, actor=actor, at=now, reason=reason)
        await self._release(session, row)
        if was_confirmed:
            await self.messages.queue(session, row, "cancelled", now=now, reason=reason)

    @staticmethod
    async def _slot_of(session: AsyncSession, appointment_id: int) -> int:
        """The appointment's slot, read before any lock is taken: it never changes once booked."""
        slot_id = await session.scalar(_SLOT_OF, {"appointment_id": appointment_id})
        if slot_id is None:
            raise AppointmentNotFound(f"appointment {appointment_id} does not exist")
        return int(slot_id)

    @staticmethod
    async def _lock_slots(session: AsyncSession, *slot_ids: int) -> None:
        """Lock these slots, in the order every writer uses (the module's docstring), before their appointments."""
        await session.execute(_LOCK_SLOTS, {"slot_ids": sorted(set(slot_ids))})

    async def _release(self, session: AsyncSession, row: AppointmentRow) -> None:
        """Give the slot's place back and drop the messages that no longer hold."""
        await session.execute(
            update(SlotRow)
            .where(SlotRow.id == row.slot_id, SlotRow.booked > 0)
            .values(booked=SlotRow.booked - 1)
            .execution_options(synchronize_session=False)
        )
        await self.messages.drop_pending(session, row.id)

    async def reschedule(self, appointment_id: int, new_slot_id: int, *, actor: str, reason: str = "") -> Booking:
        """Move an appointment to another slot: the old one keeps its history as `rescheduled`, a new one carries on,
        and the petitioner gets the new time and a new link."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            old_slot_id = await self._slot_of(session, appointment_id)
            if old_slot_id == new_slot_id:
                raise InvalidRequest("the appointment is already in this slot")
            # Both slots first, in the common order; then the old appointment, then the petitioner, whose
            # lock orders this move after (or before) a booking of theirs into a clashing slot.
            await self._lock_slots(session, old_slot_id, new_slot_id)
            place = await self._take_place(session, new_slot_id, channel="staff", now=now)
            old = await appointment_row(session, appointment_id, lock=True)
            await transition(
                session, old, State.RESCHEDULED, actor=actor, at=now, reason=reason or "moved to another slot"
            )
            await session.execute(_LOCK_PETITIONER, {"petitioner_id": old.petitioner_id})
            await self._check_petitioner(session, old.petitioner_id, place, ignore=old.id)
            await self._release(session, old)
            appointment = await self._add_appointment(
                session,
                place,
                old.petitioner_id,
                old.subject,
                State.CONFIRMED,
                channel="staff",
                actor=actor,
                now=now,
                rescheduled_from_id=old.id,
            )
            old.rescheduled_to_id = appointment.id
            await session.execute(
                _NEW_EVENT,
                {"appointment_id": appointment.id, "at": now, "from_state": None, "to_state": State.CONFIRMED.value}
                | {"actor": actor, "reason": f"rescheduled from {old.number}"},
            )
            await self._queue_with_reminders(session, appointment, "moved", now=now)
            row = await appointment_row(session, appointment.id)
            return Booking(
                await appointment_record(session, row, full=True, new=True), self.personal.link_key(row.link_salt)
            )

    # ------------------------------------------------------------------ reading

    async def appointment(self, appointment_id: int) -> AppointmentRecord:
        async with self.db.session() as session:
            return await appointment_record(session, await appointment_row(session, appointment_id), full=True)

    async def link_of(self, appointment_id: int) -> str:
        """The petitioner's link, for staff to read out or send again."""
        async with self.db.session() as session:
            return self.messages.link(await appointment_row(session, appointment_id))

    async def search(
        self,
        *,
        text: str = "",
        first: dt.date | None = None,
        last: dt.date | None = None,
        leader_id: int | None = None,
        states: Sequence[State] = (),
    ) -> list[AppointmentRecord]:
        """Appointments by number, the petitioner's name, a phone number (whole) or its last four digits."""
        text = text.strip()
        parameters: dict[str, object] = {}
        if text:
            parameters["number"] = text
            parameters["name"] = "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
            digits = "".join(ch for ch in text if ch.isdigit())
            if len(digits) == 4 and digits == text:
                parameters["tail"] = "%" + digits
            try:
                parameters["phone_hash"] = self.personal.phone_hash(text)
            except InvalidRequest:
                pass  # not a phone number
        if first is not None:
            parameters["first"] = _day_start(first, self.zone)
        if last is not None:
            parameters["last"] = _day_start(last + dt.timedelta(days=1), self.zone)
        if leader_id is not None:
            parameters["leader_id"] = leader_id
        if states:
            parameters["states"] = [s.value for s in states]
        async with self.db.read() as connection:
            return await appointment_records(connection, _search_query(frozenset(parameters)), parameters)


@functools.cache
def _search_query(given: frozenset[str]) -> Select:
    """The search's statement for this set of filters, built once: its parameters are bound at execution, so
    SQLAlchemy's compiled-statement cache finds it without walking its fifty columns again."""
    query = records_query()
    if "number" in given:
        conditions = [
            AppointmentRow.number == bindparam("number"),
            PetitionerRow.name.like(bindparam("name"), escape="/"),
        ]
        if "tail" in given:
            conditions.append(PetitionerRow.phone_masked.like(bindparam("tail")))
        if "phone_hash" in given:
            conditions.append(PetitionerRow.phone_hash == bindparam("phone_hash"))
        query = query.where(or_(*conditions))
    if "first" in given:
        query = query.where(AppointmentRow.starts_at >= bindparam("first"))
    if "last" in given:
        query = query.where(AppointmentRow.starts_at < bindparam("last"))
    if "leader_id" in given:
        query = query.where(AppointmentRow.leader_id == bindparam("leader_id"))
    if "states" in given:
        query = query.where(AppointmentRow.state.in_(bindparam("states", expanding=True)))
    return query.order_by(AppointmentRow.starts_at).limit(SEARCH_LIMIT)


def _text(value: str, what: str, shortest: int, longest: int) -> str:
    value = (value or "").strip()
    if not shortest <= len(value) <= longest:
        raise InvalidRequest(f"{what} has {shortest} to {longest} characters")
    return value


def _clock(moment: dt.datetime, zone: ZoneInfo) -> str:
    return f"{as_utc(moment).astimezone(zone):%m-%d %H:%M}"


def _day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)
