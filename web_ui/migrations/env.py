"""Alembic environment: runs on the connection the app hands it (see web_ui/db.py)."""

from __future__ import annotations

from alembic import context

from camera_control.tables import Base as CameraBase
from scheduler.tables import Base as SchedulerBase
from web_ui.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through web_ui.db.Database.upgrade()")
# Every package's tables, so that autogenerate compares the whole schema.
metadata = [Base.metadata, CameraBase.metadata, SchedulerBase.metadata]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
