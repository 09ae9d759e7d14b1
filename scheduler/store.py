"""What the scheduler's modules share: where sessions come from, rows into records, the history of a
transition, and queueing a message in the outbox (in the same transaction as the change it reports)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, event, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from scheduler.clock import as_utc
from scheduler.errors import AppointmentNotFound, InvalidTransition
from scheduler.personal import PersonalData
from scheduler.records import (
    AppointmentRecord,
    EarlierVisit,
    HistoryEntry,
    LeaderRecord,
    Outcome,
    Rating,
    SlotRecord,
)
from scheduler.states import State, check_transition
from scheduler.tables import (
    AppointmentEventRow,
    AppointmentRow,
    LeaderRow,
    NotificationRow,
    OutcomeRow,
    PetitionerRow,
    RatingRow,
    SlotRow,
)
from scheduler.templates import hall_time, render

SYSTEM = "scheduler"  # the actor of what the scheduler does by itself


class Appointment(Protocol):
    """What messages, links and a new record read of an appointment: its row, or one just inserted."""

    @property
    def id(self) -> int: ...
    @property
    def number(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def leader_id(self) -> int: ...
    @property
    def petitioner_id(self) -> int: ...
    @property
    def starts_at(self) -> dt.datetime: ...
    @property
    def ends_at(self) -> dt.datetime: ...
    @property
    def subject(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def created_by(self) -> str: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def link_salt(self) -> str: ...
    @property
    def rescheduled_from_id(self) -> int | None: ...


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, for statements that need no ORM."""
    table: Table = model.__table__
    return table


class SessionSource(Protocol):
    """Where database sessions come from (the web edge's Database)."""

    def session(self) -> AbstractAsyncContextManager[AsyncSession]: ...

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session in one transaction, committed at its end; writers take turns where the database needs it."""
        ...

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A plain connection for reading, without the ORM's bookkeeping: for lists read many times a second."""
        ...


RECEPTION_ROOM_PREFIX = "visit-"
"""Reception rooms' ids: reserved for the scheduler, entered only through an appointment."""


def room_id_of(slot_id: int) -> str:
    """One reception room per slot: a slot with room for several petitioners is a joint reception."""
    return f"{RECEPTION_ROOM_PREFIX}{slot_id}"


def link_hash(link_key: str) -> str:
    return hashlib.sha256(link_key.encode()).hexdigest()


def leader_record(row: LeaderRow) -> LeaderRecord:
    return LeaderRecord(row.id, row.name, row.title, row.username, row.desk, row.active)


def slot_record(row: SlotRow) -> SlotRecord:
    return SlotRecord(row.id, as_utc(row.starts_at), as_utc(row.ends_at), row.capacity, row.booked, room_id_of(row.id))


def _maybe(moment: dt.datetime | None) -> dt.datetime | None:
    return as_utc(moment) if moment is not None else None


async def appointment_row(session: AsyncSession, appointment_id: int, *, lock: bool = False) -> AppointmentRow:
    query = select(AppointmentRow).where(AppointmentRow.id == appointment_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise AppointmentNotFound(f"appointment {appointment_id} does not exist")
    return row


_RECORD_TABLES = {
    "a": AppointmentRow.__table__,
    "l": LeaderRow.__table__,
    "p": PetitionerRow.__table__,
    "o": OutcomeRow.__table__,
    "r": RatingRow.__table__,
}
# Plain columns, not ORM objects: a day's list builds its records without the identity map's bookkeeping.
_RECORD_COLUMNS = [column.label(f"{key}_{column.name}") for key, table in _RECORD_TABLES.items() for column in table.c]


_RECORDS = (
    select(*_RECORD_COLUMNS)
    .select_from(AppointmentRow)
    .join(LeaderRow, LeaderRow.id == AppointmentRow.leader_id)
    .join(PetitionerRow, PetitionerRow.id == AppointmentRow.petitioner_id)
    .outerjoin(OutcomeRow, OutcomeRow.appointment_id == AppointmentRow.id)
    .outerjoin(RatingRow, RatingRow.appointment_id == AppointmentRow.id)
)


def records_query() -> Select:
    """Appointments with everything a record shows, in one query: add the filters, then `appointment_records`.
    (Built once: a Select is immutable, and its 50 columns cost more to build than the query costs to run.)"""
    return _RECORDS


async def appointment_records(
    connection: AsyncConnection, query: Select, parameters: dict[str, object]
) -> list[AppointmentRecord]:
    return [_record_of(row) for row in (await connection.execute(query, parameters)).mappings()]


def _record_of(row: Any) -> AppointmentRecord:
    return AppointmentRecord(
        id=row["a_id"],
        number=row["a_number"],
        state=State(row["a_state"]),
        leader=LeaderRecord(
            row["l_id"], row["l_name"], row["l_title"], row["l_username"], row["l_desk"], row["l_active"]
        ),
        slot_id=row["a_slot_id"],
        room_id=room_id_of(row["a_slot_id"]),
        starts_at=as_utc(row["a_starts_at"]),
        ends_at=as_utc(row["a_ends_at"]),
        petitioner_id=row["a_petitioner_id"],
        petitioner_name=row["p_name"],
        phone_masked=row["p_phone_masked"],
        subject=row["a_subject"],
        channel=row["a_channel"],
        created_by=row["a_created_by"],
        created_at=as_utc(row["a_created_at"]),
        arrived_at=_maybe(row["a_arrived_at"]),
        admitted_at=_maybe(row["a_admitted_at"]),
        ended_at=_maybe(row["a_ended_at"]),
        rescheduled_from_id=row["a_rescheduled_from_id"],
        rescheduled_to_id=row["a_rescheduled_to_id"],
        outcome=Outcome(row["o_result"], row["o_notes"], row["o_written_by"], as_utc(row["o_written_at"]))
        if row["o_appointment_id"] is not None
        else None,
        rating=Rating(row["r_score"], row["r_comment"], as_utc(row["r_rated_at"]))
        if row["r_appointment_id"] is not None
        else None,
    )


async def appointment_record(
    session: AsyncSession, row: AppointmentRow, *, full: bool = False, new: bool = False
) -> AppointmentRecord:
    """The record of one appointment; `full` adds its history and the petitioner's earlier visits. A `new` one
    has no outcome or rating yet: they are not looked for."""
    leader = await session.get(LeaderRow, row.leader_id)
    petitioner = await session.get(PetitionerRow, row.petitioner_id)
    assert leader is not None and petitioner is not None  # foreign keys
    outcome = None if new else await session.get(OutcomeRow, row.id)
    rating = None if new else await session.get(RatingRow, row.id)
    if not full:
        return _record(row, leader, petitioner, outcome, rating)
    events = await session.scalars(
        select(AppointmentEventRow).where(AppointmentEventRow.appointment_id == row.id).order_by(AppointmentEventRow.id)
    )
    history = tuple(
        HistoryEntry(as_utc(e.at), State(e.from_state) if e.from_state else None, State(e.to_state), e.actor, e.reason)
        for e in events
    )
    earlier = await _earlier_visits(session, row)
    return _record(row, leader, petitioner, outcome, rating, history, earlier)


def new_record(
    appointment: Appointment, leader: LeaderRecord, petitioner_name: str, phone_masked: str
) -> AppointmentRecord:
    """The record of an appointment just made, from what is in hand: no outcome, no rating, nothing to read."""
    return AppointmentRecord(
        id=appointment.id,
        number=appointment.number,
        state=State(appointment.state),
        leader=leader,
        slot_id=appointment.slot_id,
        room_id=room_id_of(appointment.slot_id),
        starts_at=as_utc(appointment.starts_at),
        ends_at=as_utc(appointment.ends_at),
        petitioner_id=appointment.petitioner_id,
        petitioner_name=petitioner_name,
        phone_masked=phone_masked,
        subject=appointment.subject,
        channel=appointment.channel,
        created_by=appointment.created_by,
        created_at=as_utc(appointment.created_at),
        arrived_at=None,
        admitted_at=None,
        ended_at=None,
        rescheduled_from_id=appointment.rescheduled_from_id,
        rescheduled_to_id=None,
        outcome=None,
        rating=None,
    )


def _record(
    row: AppointmentRow,
    leader: LeaderRow,
    petitioner: PetitionerRow,
    outcome: OutcomeRow | None,
    rating: RatingRow | None,
    history: tuple[HistoryEntry, ...] = (),
    earlier: tuple[EarlierVisit, ...] = (),
) -> AppointmentRecord:
    """The record from ORM rows, through the same builder as a list's plain columns (`_record_of`)."""
    columns: dict[str, Any] = {}
    for key, found in (("a", row), ("l", leader), ("p", petitioner), ("o", outcome), ("r", rating)):
        for column in _RECORD_TABLES[key].c:
            columns[f"{key}_{column.name}"] = getattr(found, column.key) if found is not None else None
    return dataclasses.replace(_record_of(columns), history=history, earlier_visits=earlier)


async def _earlier_visits(session: AsyncSession, row: AppointmentRow) -> tuple[EarlierVisit, ...]:
    """The same petitioner's other appointments before this one (recognised by the ID number's hash)."""
    rows = await session.execute(
        select(AppointmentRow, LeaderRow.name, OutcomeRow.result)
        .join(LeaderRow, LeaderRow.id == AppointmentRow.leader_id)
        .outerjoin(OutcomeRow, OutcomeRow.appointment_id == AppointmentRow.id)
        .where(
            AppointmentRow.petitioner_id == row.petitioner_id,
            AppointmentRow.id != row.id,
            AppointmentRow.starts_at < row.starts_at,
            AppointmentRow.state != State.RESCHEDULED.value,
        )
        .order_by(AppointmentRow.starts_at.desc())
        .limit(20)
    )
    return tuple(
        EarlierVisit(a.id, a.number, State(a.state), as_utc(a.starts_at), leader_name, a.subject, result)
        for a, leader_name, result in rows
    )


async def transition(
    session: AsyncSession, row: AppointmentRow, wanted: State, *, actor: str, at: dt.datetime, reason: str = ""
) -> None:
    """Move an appointment to `wanted` (if the state machine allows it) and write the history.

    The UPDATE is conditional on the state read, so two hands moving one appointment at once (a leader
    admitting as the scheduler marks a no-show, two scheduler passes) cannot both succeed."""
    current = State(row.state)
    check_transition(current, wanted)
    moved = await session.execute(
        update(AppointmentRow)
        .where(AppointmentRow.id == row.id, AppointmentRow.state == current.value)
        .values(state=wanted.value)
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) != 1:
        raise InvalidTransition(f"appointment {row.number} was changed meanwhile: look again")
    set_committed_value(row, "state", wanted.value)
    session.add(
        AppointmentEventRow(
            appointment_id=row.id, at=at, from_state=current.value, to_state=wanted.value, actor=actor, reason=reason
        )
    )


_QUEUE = {
    name: dialect_insert(table_of(NotificationRow)).on_conflict_do_nothing()
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


class Messages:
    """Queues a petitioner's messages in the outbox; the Notifier sends them."""

    def __init__(self, personal: PersonalData, zone: ZoneInfo, public_url: str) -> None:
        self.personal = personal
        self.zone = zone
        self.public_url = public_url.rstrip("/")
        # Told once a transaction that queued a message due now has committed (the scheduler's loop sends it).
        self.on_due: Callable[[], None] | None = None

    def link(self, row: Appointment) -> str:
        return f"{self.public_url}/v/{self.personal.link_key(row.link_salt)}"

    async def queue(
        self,
        session: AsyncSession,
        row: Appointment,
        kind: str,
        *,
        now: dt.datetime,
        due_at: dt.datetime | None = None,
        reason: str = "",
    ) -> None:
        """Queue one message. Its dedupe key makes asking twice harmless: one reminder is queued once."""
        await self.queue_all(session, row, [(kind, due_at or now)], now=now, reason=reason)

    async def queue_all(
        self,
        session: AsyncSession,
        row: Appointment,
        messages: list[tuple[str, dt.datetime]],
        *,
        now: dt.datetime,
        reason: str = "",
        to: tuple[str, str] | None = None,
    ) -> None:
        """Queue (kind, due) messages in one statement; a dedupe key queued before is skipped: never two copies.
        `to` is (the petitioner's name, the leader's name and title) when the caller has them in hand."""
        if not messages:
            return
        if to is None:
            leader = await session.get(LeaderRow, row.leader_id)
            petitioner = await session.get(PetitionerRow, row.petitioner_id)
            assert leader is not None and petitioner is not None
            to = (petitioner.name, f"{leader.name}{leader.title}")
        starts_at = as_utc(row.starts_at)
        params = {
            "name": to[0],
            "leader": to[1],
            "time": hall_time(starts_at, self.zone),
            "number": row.number,
            "link": self.link(row),
        }
        values = []
        for kind, due in messages:
            own = {**params, "reason": reason or "接访安排有变"} if kind == "cancelled" else params
            values.append(
                {
                    "appointment_id": row.id,
                    "petitioner_id": row.petitioner_id,
                    "kind": kind,
                    "dedupe_key": f"{row.id}:{kind}:{starts_at:%Y%m%dT%H%M}",
                    "params": json.dumps(own, ensure_ascii=False),
                    "text": render(kind, own),
                    "due_at": due,
                    "expires_at": self._expiry(kind, row, now),
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": due,
                    "created_at": now,
                }
            )
        # Parameters apart from the statement, built once: compiled once, whatever the number of messages.
        await session.execute(_QUEUE[session.get_bind().dialect.name], values)
        if self.on_due is not None and any(due <= now for _, due in messages):
            # After the commit, not now: before it, the sender would not see the message.
            event.listen(session.sync_session, "after_commit", self._committed, once=True)

    def _committed(self, _session: object) -> None:
        if self.on_due is not None:
            self.on_due()

    def _expiry(self, kind: str, row: Appointment, now: dt.datetime) -> dt.datetime:
        """A reminder after the start is noise, and "tomorrow" is wrong once the day has come; a cancellation
        (also "the slot ended before you were received") still matters for a day."""
        starts_at = as_utc(row.starts_at)
        if kind == "cancelled":
            return max(as_utc(row.ends_at), now) + dt.timedelta(days=1)
        if kind == "reminder_day":
            local = starts_at.astimezone(self.zone)
            return dt.datetime.combine(local.date(), dt.time(0), self.zone).astimezone(dt.UTC)
        return starts_at

    async def drop_pending(self, session: AsyncSession, appointment_id: int) -> None:
        """The appointment changed: messages not yet sent no longer hold."""
        await session.execute(
            update(NotificationRow)
            .where(NotificationRow.appointment_id == appointment_id, NotificationRow.state == "pending")
            .values(state="dropped", last_error="the appointment changed before it was sent")
            .execution_options(synchronize_session=False)
        )

    def reminders(
        self, row: Appointment, *, now: dt.datetime, day_before: dt.time, hour_before: dt.timedelta
    ) -> list[tuple[str, dt.datetime]]:
        """The reminders still ahead: the evening before at `day_before` (hall time), and `hour_before` the start.
        Booked after a reminder's time, the confirmation says it all."""
        starts_at = as_utc(row.starts_at)
        eve = starts_at.astimezone(self.zone).date() - dt.timedelta(days=1)
        evening = dt.datetime.combine(eve, day_before, self.zone).astimezone(dt.UTC)
        due = [("reminder_day", evening), ("reminder_hour", starts_at - hour_before)]
        return [(kind, when) for kind, when in due if when > now]
