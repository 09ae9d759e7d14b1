"""the hall's cameras: registry, presets (with reception desks), motion events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("location", sa.String(64), nullable=False, server_default=""),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("manufacturer", sa.String(64), nullable=False, server_default=""),
        sa.Column("model", sa.String(64), nullable=False, server_default=""),
        sa.Column("firmware", sa.String(64), nullable=False, server_default=""),
        sa.Column("serial", sa.String(64), nullable=False, server_default=""),
        sa.Column("profiles", sa.JSON, nullable=False),
        sa.Column("main_profile", sa.String(64), nullable=False),
        sa.Column("sub_profile", sa.String(64), nullable=False),
        sa.Column("main_uri", sa.String(512), nullable=False),
        sa.Column("sub_uri", sa.String(512), nullable=False),
        sa.Column("ptz", sa.JSON, nullable=True),
        sa.Column("onvif_events", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("motion_detection", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("motion_masks", sa.JSON, nullable=False, server_default="[]"),
        sa.Column("clock_offset", sa.Float, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_cameras"),
        sa.UniqueConstraint("host", "port", name="uq_cameras_host"),
    )
    op.create_table(
        "camera_presets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("camera_id", sa.Integer, nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("desk", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_camera_presets"),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name="fk_camera_presets_camera_id_cameras", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("desk", name="uq_camera_presets_desk"),
        sa.UniqueConstraint("camera_id", "token", name="uq_camera_presets_camera_id"),
    )
    op.create_index("ix_camera_presets_camera_id", "camera_presets", ["camera_id"])
    op.create_table(
        "camera_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("camera_id", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False, server_default=""),
        sa.Column("score", sa.Float, nullable=False, server_default="0"),
        sa.Column("boxes", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_camera_events"),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name="fk_camera_events_camera_id_cameras", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_camera_events_camera_id", "camera_events", ["camera_id"])
    op.create_index("ix_camera_events_started_at", "camera_events", ["started_at"])


def downgrade() -> None:
    op.drop_table("camera_events")
    op.drop_table("camera_presets")
    op.drop_table("cameras")
