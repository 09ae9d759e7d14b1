"""The scheduler's tables. Schema changes go through web_ui/migrations (the one migration history of the hall).

Times are UTC. A petitioner's phone number is kept encrypted (it is needed to send the SMS) next to its
masked form (the only form pages and logs see); an ID number is never kept, only its keyed hash.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The hall's one naming convention (camera_control.tables.NAMING; sibling packages do not import each other).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class LeaderRow(Base):
    __tablename__ = "leaders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(64), default="")  # e.g. 局长
    username: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)  # the leader's account
    desk: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the desk camera preset, e.g. 接待室1号台
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReceptionDayRow(Base):
    __tablename__ = "reception_days"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id"), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)  # in the hall's time zone
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    slot_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    desk: Mapped[str | None] = mapped_column(String(64), nullable=True)
    public_booking: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class SlotRow(Base):
    __tablename__ = "reception_slots"
    __table_args__ = (UniqueConstraint("day_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day_id: Mapped[int] = mapped_column(ForeignKey("reception_days.id", ondelete="CASCADE"), index=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    # Taken places, kept by a conditional UPDATE so two bookings can never both take the last one.
    booked: Mapped[int] = mapped_column(Integer, default=0)
    room_opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    room_closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PetitionerRow(Base):
    __tablename__ = "petitioners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 of the ID number, hex
    name: Mapped[str] = mapped_column(String(64))
    phone_secret: Mapped[bytes] = mapped_column(LargeBinary)  # the phone number, encrypted (Fernet)
    phone_masked: Mapped[str] = mapped_column(String(16))  # 138****5678
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)  # to find a petitioner by phone
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AppointmentRow(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # what people quote: 20261123-0007
    slot_id: Mapped[int] = mapped_column(ForeignKey("reception_slots.id"), index=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id"), index=True)
    petitioner_id: Mapped[int] = mapped_column(ForeignKey("petitioners.id"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")  # 事由, in the petitioner's words
    channel: Mapped[str] = mapped_column(String(16))  # staff | phone
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The SMS link's key is derived from this salt and the personal-data secret (so staff can show it again);
    # it is looked up by its SHA-256.
    link_salt: Mapped[str] = mapped_column(String(32))
    link_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rescheduled_from_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), nullable=True)
    rescheduled_to_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), nullable=True)
    # The petitioner's join ticket: one device holds the link, one join token is good for one connection.
    device_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ticket_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    ticket_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    arrived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    admitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    admitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AppointmentEventRow(Base):
    """The appointment's history: every transition, with who and why. Never updated."""

    __tablename__ = "appointment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200), default="")


class OutcomeRow(Base):
    __tablename__ = "reception_outcomes"

    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), primary_key=True)
    result: Mapped[str] = mapped_column(String(16))  # answered | accepted | referred | other
    notes: Mapped[str] = mapped_column(Text, default="")
    written_by: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RatingRow(Base):
    __tablename__ = "reception_ratings"

    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)  # 1 (very dissatisfied) .. 5 (very satisfied)
    comment: Mapped[str] = mapped_column(String(500), default="")
    rated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class NotificationRow(Base):
    """The outbox. `dedupe_key` is unique: one reminder is queued once, however often it is asked for."""

    __tablename__ = "notifications"
    # The notifier's question: pending, and due by now (reminders for weeks ahead wait among them).
    __table_args__ = (Index("ix_notifications_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    petitioner_id: Mapped[int] = mapped_column(ForeignKey("petitioners.id"))
    kind: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(96), unique=True)
    params: Mapped[str] = mapped_column(Text)  # JSON of the template's variables
    text: Mapped[str] = mapped_column(Text)  # the rendered message, as the petitioner reads it
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Not sent after this (a reminder for a time already past is noise).
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | sending | sent | failed | dropped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    backend: Mapped[str | None] = mapped_column(String(16), nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
