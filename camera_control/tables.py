"""The cameras' tables. Schema changes go through web_ui/migrations (the one migration history of the hall)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CameraRow(Base):
    __tablename__ = "cameras"
    __table_args__ = (UniqueConstraint("host", "port"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(64), default="")
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(64))
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # the password, encrypted (Fernet)
    manufacturer: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(64), default="")
    firmware: Mapped[str] = mapped_column(String(64), default="")
    serial: Mapped[str] = mapped_column(String(64), default="")
    profiles: Mapped[list] = mapped_column(JSON)
    main_profile: Mapped[str] = mapped_column(String(64))
    sub_profile: Mapped[str] = mapped_column(String(64))
    main_uri: Mapped[str] = mapped_column(String(512))  # without credentials
    sub_uri: Mapped[str] = mapped_column(String(512))
    ptz: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    onvif_events: Mapped[bool] = mapped_column(Boolean, default=False)
    motion_detection: Mapped[bool] = mapped_column(Boolean, default=True)
    motion_masks: Mapped[list] = mapped_column(JSON, default=list)  # polygons of (x, y) fractions
    clock_offset: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PresetRow(Base):
    __tablename__ = "camera_presets"
    __table_args__ = (UniqueConstraint("camera_id", "token"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    desk: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)  # e.g. 接待室1号台


class MotionEventRow(Base):
    __tablename__ = "camera_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # "camera" (its ONVIF events) or "detector"
    topic: Mapped[str] = mapped_column(String(128), default="")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    boxes: Mapped[list] = mapped_column(JSON)
