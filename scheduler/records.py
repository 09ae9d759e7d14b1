"""What the scheduler hands out: frozen records. Rows never leave the package."""

from __future__ import annotations

import dataclasses
import datetime as dt

from scheduler.states import State


@dataclasses.dataclass(frozen=True, slots=True)
class LeaderRecord:
    id: int
    name: str
    title: str
    username: str | None
    desk: str | None
    active: bool


@dataclasses.dataclass(frozen=True, slots=True)
class SlotRecord:
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int
    room_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class DayRecord:
    id: int
    leader: LeaderRecord
    day: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    slot_minutes: int
    capacity: int
    desk: str | None
    public_booking: bool
    note: str
    cancelled: bool
    slots: tuple[SlotRecord, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class PetitionerDetails:
    """What staff (or the petitioner) type in. Checked before anything is stored."""

    name: str
    phone: str = dataclasses.field(repr=False)
    id_number: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: dt.datetime
    from_state: State | None
    to_state: State
    actor: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    result: str
    notes: str
    written_by: str
    written_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Rating:
    score: int
    comment: str
    rated_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class AppointmentRecord:
    id: int
    number: str
    state: State
    leader: LeaderRecord
    slot_id: int
    room_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    petitioner_id: int
    petitioner_name: str
    phone_masked: str
    subject: str
    channel: str
    created_by: str
    created_at: dt.datetime
    arrived_at: dt.datetime | None
    admitted_at: dt.datetime | None
    ended_at: dt.datetime | None
    rescheduled_from_id: int | None
    rescheduled_to_id: int | None
    outcome: Outcome | None = None
    rating: Rating | None = None
    history: tuple[HistoryEntry, ...] = ()
    earlier_visits: tuple[EarlierVisit, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class EarlierVisit:
    """A returning petitioner's earlier appointment, as the leader sees it before receiving them."""

    id: int
    number: str
    state: State
    starts_at: dt.datetime
    leader_name: str
    subject: str
    result: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Booking:
    appointment: AppointmentRecord
    link_key: str  # the key in the petitioner's SMS link


@dataclasses.dataclass(frozen=True, slots=True)
class Ticket:
    """Leave to join one reception room as its petitioner, for one connection."""

    appointment_id: int
    room_id: str
    ticket_id: str  # the join token's id; good for one connection
    name: str
    valid_until: dt.datetime
    device_secret: str = dataclasses.field(repr=False)  # binds the link to the phone that opened it first
    admitted: bool = False  # already received (a reconnect mid-session): no second wait


@dataclasses.dataclass(frozen=True, slots=True)
class HostPass:
    """Leave for a leader or a staff member to join a reception room."""

    appointment_id: int
    room_id: str
    valid_until: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    appointment_id: int
    appointment_number: str
    kind: str
    phone_masked: str
    text: str
    state: str
    attempts: int
    due_at: dt.datetime
    sent_at: dt.datetime | None
    backend: str | None
    last_error: str | None
