"""A test clock, a recording SMS backend and desk camera, and a scheduler on a real database."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from media_server import MediaNode, MediaSettings
from scheduler import PetitionerDetails, Scheduler, SchedulerSettings, SmsSettings
from scheduler.sms import SendReceipt, SmsMessage
from web_ui.db import Database

HALL = ZoneInfo("Asia/Shanghai")
# Valid 18-digit ID numbers (GB 11643 check characters), made up.
ID_NUMBERS = (
    "11010519491231002X",
    "440524188001010014",
    "110101199003074477",
    "320106198501010018",
    "510107197803150021",
    "230102196508110031",
)


def hall_time(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), HALL).astimezone(dt.UTC)


class ManualClock:
    """Time moves when the test says so; `sleep` yields until then."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = start
        self._moved = asyncio.Event()

    def now(self) -> dt.datetime:
        return self._now

    def set(self, moment: dt.datetime) -> None:
        self._now = moment
        self._moved.set()

    def advance(self, **delta: float) -> dt.datetime:
        self.set(self._now + dt.timedelta(**delta))
        return self._now

    async def sleep(self, seconds: float) -> None:
        self._moved.clear()
        await self._moved.wait()


class RecordingSms:
    """Stands in for an SMS carrier: keeps every message it was given."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[SmsMessage] = []

    async def send(self, message: SmsMessage) -> SendReceipt:
        self.sent.append(message)
        return SendReceipt(provider_id=f"p-{len(self.sent)}", backend=self.name)

    async def close(self) -> None:
        return None

    def kinds(self) -> list[str]:
        return [m.template for m in self.sent]


class RecordingDesk:
    """Stands in for camera_control's desk interface: records which desks it was asked to face."""

    def __init__(self) -> None:
        self.pointed: list[str] = []

    async def point_at_desk(self, desk: str) -> None:
        self.pointed.append(desk)


def petitioner(index: int = 0, name: str = "张三", phone: str = "13812345678") -> PetitionerDetails:
    return PetitionerDetails(name=name, phone=phone, id_number=ID_NUMBERS[index])


def build_scheduler(
    db: Database,
    data_dir: Path,
    clock: ManualClock,
    *,
    sms: RecordingSms | None = None,
    desk: RecordingDesk | None = None,
    rooms: MediaNode | None = None,
    sms_settings: dict[str, object] | None = None,
    **settings: object,
) -> Scheduler:
    return Scheduler(
        db,
        SchedulerSettings(**settings, sms=SmsSettings(**(sms_settings or {}))),  # type: ignore[arg-type]
        data_dir=data_dir,
        time_zone="Asia/Shanghai",
        public_url="https://hall.example.cn",
        rooms=rooms or MediaNode(MediaSettings()),
        desk_camera=desk,
        clock=clock,
        sms=sms or RecordingSms(),
    )
