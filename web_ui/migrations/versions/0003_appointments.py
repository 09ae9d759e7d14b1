"""appointments: leaders, reception days and slots, petitioners, appointments and their history, outcomes,
ratings, and the notification outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leaders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("desk", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leaders"),
        sa.UniqueConstraint("username", name="uq_leaders_username"),
    )
    op.create_table(
        "petitioners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("phone_secret", sa.LargeBinary(), nullable=False),
        sa.Column("phone_masked", sa.String(length=16), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_petitioners"),
        sa.UniqueConstraint("id_hash", name="uq_petitioners_id_hash"),
    )
    op.create_index("ix_petitioners_phone_hash", "petitioners", ["phone_hash"], unique=False)
    op.create_table(
        "reception_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("leader_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("desk", sa.String(length=64), nullable=True),
        sa.Column("public_booking", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["leader_id"], ["leaders.id"], name="fk_reception_days_leader_id_leaders"),
        sa.PrimaryKeyConstraint("id", name="pk_reception_days"),
    )
    op.create_index("ix_reception_days_day", "reception_days", ["day"], unique=False)
    op.create_index("ix_reception_days_leader_id", "reception_days", ["leader_id"], unique=False)
    op.create_table(
        "reception_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day_id", sa.Integer(), nullable=False),
        sa.Column("leader_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("room_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("room_closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["day_id"], ["reception_days.id"], name="fk_reception_slots_day_id_reception_days", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["leader_id"], ["leaders.id"], name="fk_reception_slots_leader_id_leaders"),
        sa.PrimaryKeyConstraint("id", name="pk_reception_slots"),
        sa.UniqueConstraint("day_id", "starts_at", name="uq_reception_slots_day_id"),
    )
    op.create_index("ix_reception_slots_day_id", "reception_slots", ["day_id"], unique=False)
    op.create_index("ix_reception_slots_leader_id", "reception_slots", ["leader_id"], unique=False)
    op.create_index("ix_reception_slots_starts_at", "reception_slots", ["starts_at"], unique=False)
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("leader_id", sa.Integer(), nullable=False),
        sa.Column("petitioner_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("link_salt", sa.String(length=32), nullable=False),
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("rescheduled_from_id", sa.Integer(), nullable=True),
        sa.Column("rescheduled_to_id", sa.Integer(), nullable=True),
        sa.Column("device_hash", sa.String(length=64), nullable=True),
        sa.Column("ticket_id", sa.String(length=32), nullable=True),
        sa.Column("ticket_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("admitted_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["leader_id"], ["leaders.id"], name="fk_appointments_leader_id_leaders"),
        sa.ForeignKeyConstraint(
            ["petitioner_id"], ["petitioners.id"], name="fk_appointments_petitioner_id_petitioners"
        ),
        sa.ForeignKeyConstraint(
            ["rescheduled_from_id"], ["appointments.id"], name="fk_appointments_rescheduled_from_id_appointments"
        ),
        sa.ForeignKeyConstraint(
            ["rescheduled_to_id"], ["appointments.id"], name="fk_appointments_rescheduled_to_id_appointments"
        ),
        sa.ForeignKeyConstraint(["slot_id"], ["reception_slots.id"], name="fk_appointments_slot_id_reception_slots"),
        sa.PrimaryKeyConstraint("id", name="pk_appointments"),
        sa.UniqueConstraint("link_hash", name="uq_appointments_link_hash"),
        sa.UniqueConstraint("number", name="uq_appointments_number"),
        sa.UniqueConstraint("ticket_id", name="uq_appointments_ticket_id"),
    )
    op.create_index("ix_appointments_leader_id", "appointments", ["leader_id"], unique=False)
    op.create_index("ix_appointments_petitioner_id", "appointments", ["petitioner_id"], unique=False)
    op.create_index("ix_appointments_slot_id", "appointments", ["slot_id"], unique=False)
    op.create_index("ix_appointments_starts_at", "appointments", ["starts_at"], unique=False)
    op.create_index("ix_appointments_state", "appointments", ["state"], unique=False)
    op.create_table(
        "appointment_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name="fk_appointment_events_appointment_id_appointments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_appointment_events"),
    )
    op.create_index("ix_appointment_events_appointment_id", "appointment_events", ["appointment_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("petitioner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=96), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name="fk_notifications_appointment_id_appointments"
        ),
        sa.ForeignKeyConstraint(
            ["petitioner_id"], ["petitioners.id"], name="fk_notifications_petitioner_id_petitioners"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )
    op.create_index("ix_notifications_appointment_id", "notifications", ["appointment_id"], unique=False)
    op.create_index("ix_notifications_due_at", "notifications", ["due_at"], unique=False)
    op.create_index("ix_notifications_next_attempt_at", "notifications", ["next_attempt_at"], unique=False)
    op.create_index("ix_notifications_state", "notifications", ["state"], unique=False)
    op.create_table(
        "reception_outcomes",
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name="fk_reception_outcomes_appointment_id_appointments"
        ),
        sa.PrimaryKeyConstraint("appointment_id", name="pk_reception_outcomes"),
    )
    op.create_table(
        "reception_ratings",
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name="fk_reception_ratings_appointment_id_appointments"
        ),
        sa.PrimaryKeyConstraint("appointment_id", name="pk_reception_ratings"),
    )


def downgrade() -> None:
    for table in (
        "reception_ratings",
        "reception_outcomes",
        "notifications",
        "appointment_events",
        "appointments",
        "reception_slots",
        "reception_days",
        "petitioners",
        "leaders",
    ):
        op.drop_table(table)
