"""The scheduler as the web edge sees it: one object, built in the app's lifespan, started and stopped there."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from scheduler.bookings import Bookings
from scheduler.clock import Clock, SystemClock
from scheduler.figures import Figures, count_figures
from scheduler.lifecycle import DeskCamera, Lifecycle, RoomHost
from scheduler.notifier import Notifier, sms_backend
from scheduler.personal import PersonalData
from scheduler.reception import Reception
from scheduler.settings import SchedulerSettings
from scheduler.sms import SmsBackend
from scheduler.store import Messages, SessionSource


class Scheduler:
    """Bookings (leaders, reception days, appointments), the reception (tickets, admission, outcome, rating),
    the loop that runs the day, the notifier, and the figures."""

    def __init__(
        self,
        db: SessionSource,
        settings: SchedulerSettings,
        *,
        data_dir: Path,
        time_zone: str,
        public_url: str,
        rooms: RoomHost,
        desk_camera: DeskCamera | None = None,
        clock: Clock | None = None,
        sms: SmsBackend | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.zone = ZoneInfo(time_zone)
        self.clock = clock or SystemClock()
        key = settings.personal_key.get_secret_value() if settings.personal_key else None
        self.personal = PersonalData.from_data_dir(data_dir, key)
        self.messages = Messages(self.personal, self.zone, public_url)
        self.bookings = Bookings(db, settings, self.personal, self.messages, self.clock, self.zone)
        self.reception = Reception(db, settings, self.clock)
        self.notifier = Notifier(db, sms or sms_backend(settings.sms), self.personal, settings.sms)
        self.lifecycle = Lifecycle(db, settings, self.clock, self.notifier, self.messages, rooms, desk_camera)

    async def start(self) -> None:
        await self.lifecycle.start()

    async def close(self) -> None:
        await self.lifecycle.stop()
        await self.notifier.close()

    async def figures(self, first: dt.date, last: dt.date) -> tuple[Figures, list[Figures]]:
        return await count_figures(self.db, self.zone, first, last)

    def today(self) -> dt.date:
        return self.clock.now().astimezone(self.zone).date()
