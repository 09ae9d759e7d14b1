"""The scheduler's settings: the booking rules, the reception's timing, and where SMS go."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from scheduler.sms.settings import AliyunSmsSettings, TencentSmsSettings, WebhookSettings


class SmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["log", "webhook", "aliyun", "tencent"] = Field(
        default="log",
        description="log: the outbox and the log only (shown on the schedule page); or a carrier",
    )
    max_attempts: int = Field(default=6, ge=1, le=20, description="tries before a message is given up")
    retry_base_seconds: float = Field(default=30, ge=0.1, le=3600, description="first retry delay; doubles")
    retry_max_seconds: float = Field(default=1800, ge=1, le=86400, description="longest retry delay")
    aliyun: AliyunSmsSettings = Field(default_factory=AliyunSmsSettings)
    tencent: TencentSmsSettings = Field(default_factory=TencentSmsSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tick_seconds: float = Field(default=15, gt=0, le=300, description="how often the scheduler looks at the clock")
    room_opens_minutes: int = Field(default=10, ge=0, le=120, description="the room opens this long before a slot")
    join_grace_minutes: int = Field(
        default=10, ge=0, le=120, description="a petitioner's link works until this long after the slot's end"
    )
    no_show_minutes: int = Field(
        default=15, ge=1, le=240, description="not arrived this long after the start: marked no-show"
    )
    booking_days_ahead: int = Field(default=30, ge=1, le=365, description="how far ahead a slot can be booked")
    booking_lead_minutes: int = Field(
        default=0, ge=0, le=7 * 1440, description="a slot starting sooner than this cannot be booked"
    )
    max_open_per_petitioner: int = Field(
        default=2, ge=1, le=20, description="appointments one petitioner may hold at a time"
    )
    public_booking: bool = Field(
        default=False, description="let petitioners book on the phone page (on reception days that allow it)"
    )
    reminder_day_at: dt.time = Field(
        default=dt.time(18, 0), description="the first reminder: this time (hall time) on the evening before"
    )
    reminder_hour_minutes: int = Field(default=60, ge=5, le=240, description="the second reminder, before the start")
    personal_key: SecretStr | None = Field(
        default=None,
        description="secret for phone encryption and ID hashes; generated into the data dir when unset",
    )
    sms: SmsSettings = Field(default_factory=SmsSettings)
