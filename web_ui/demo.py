"""The demo's reception schedule: two leaders, a reception day running now with petitioners booked into it (their
links printed in the banner), and a few weeks of past receptions for the reports.

The past is made the way it happened: the scheduler's own booking, ticket, admission, end and rating, driven
by a clock set back in time. Nothing is written around the rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from zoneinfo import ZoneInfo

from media_server import MediaNode
from scheduler import LogSms, PetitionerDetails, Scheduler
from scheduler.personal import ID_CHECK, ID_WEIGHTS
from web_ui.db import Database
from web_ui.settings import HallSettings

logger = logging.getLogger(__name__)

DESK = "接待室1号台"
# Made-up petitioners: names, 11-digit numbers of the reserved 1380000xxxx kind, ID numbers made valid below.
PEOPLE = [
    ("张桂兰", "13800000001", "41010219580312004"),
    ("李建国", "13800000002", "41010519650721003"),
    ("王秀英", "13800000003", "41010319720209002"),
    ("刘志强", "13800000004", "41010419801115005"),
    ("陈玉梅", "13800000005", "41010219690430006"),
    ("赵德明", "13800000006", "41010619550618007"),
]
SUBJECTS = [
    "宅基地界址纠纷",
    "拆迁补偿款未到位",
    "养老保险待遇核定",
    "拖欠农民工工资",
    "物业维修基金使用",
    "低保资格复核",
]
PAST = [  # days ago, hour, how it went: completed with a score, or a no-show
    (20, 9, 5),
    (20, 10, 4),
    (13, 9, None),
    (13, 10, 5),
    (6, 9, 3),
    (6, 10, 5),
]


@dataclasses.dataclass
class DemoClock:
    moment: dt.datetime

    def now(self) -> dt.datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class DemoVisit:
    name: str
    starts_at: dt.datetime
    link: str


def id_number(base: str) -> str:
    """A 17-digit base with its GB 11643 check character."""
    total = sum(int(digit) * weight for digit, weight in zip(base, ID_WEIGHTS, strict=True))
    return base + ID_CHECK[total % 11]


def person(index: int) -> PetitionerDetails:
    name, phone, base = PEOPLE[index % len(PEOPLE)]
    return PetitionerDetails(name, phone, id_number(base))


async def seed_schedule(settings: HallSettings, db: Database) -> list[DemoVisit]:
    """Seed once (when there are no leaders yet); returns today's petitioners and their links."""
    zone = ZoneInfo(settings.server.time_zone)
    clock = DemoClock(dt.datetime.now(dt.UTC))
    scheduler = Scheduler(
        db,
        settings.scheduler,
        data_dir=settings.server.data_dir,
        time_zone=settings.server.time_zone,
        public_url=settings.public_url,
        rooms=MediaNode(settings.media),
        clock=clock,
        sms=LogSms(),  # the demo's people are made up: whatever the settings say, nothing leaves the log
    )
    bookings = scheduler.bookings
    if await bookings.leaders():
        return []
    leader = await bookings.add_leader("王局长", title="局长", username="leader", desk=DESK)
    deputy = await bookings.add_leader("李副局长", title="副局长")
    await _past(scheduler, clock, zone, leader.id)
    now = dt.datetime.now(dt.UTC)
    clock.moment = now
    # Today's day starts at the next five minutes: its first room opens at once.
    start = (now.astimezone(zone) + dt.timedelta(minutes=5)).replace(second=0, microsecond=0)
    start -= dt.timedelta(minutes=start.minute % 5)
    day, end = start.date(), min(start + dt.timedelta(hours=3), start.replace(hour=23, minute=59))
    visits = []
    if (end - start) >= dt.timedelta(minutes=40):
        today = await bookings.open_day(
            leader.id, day, start.time(), end.time(), slot_minutes=20, actor="demo", public_booking=True
        )
        for index, slot in enumerate(today.slots[:2]):
            booking = await bookings.book(slot.id, person(index), SUBJECTS[index], actor="staff")
            link = f"{settings.public_url}/v/{booking.link_key}"
            visits.append(DemoVisit(booking.appointment.petitioner_name, slot.starts_at, link))
    tomorrow = (now.astimezone(zone) + dt.timedelta(days=1)).date()
    await bookings.open_day(
        deputy.id, tomorrow, dt.time(9), dt.time(11, 30), slot_minutes=30, actor="demo", public_booking=True
    )
    await scheduler.close()
    return visits


async def _past(scheduler: Scheduler, clock: DemoClock, zone: ZoneInfo, leader_id: int) -> None:
    today = dt.datetime.now(zone).date()
    slots: dict[dt.datetime, int] = {}
    for ago in sorted({ago for ago, _, _ in PAST}, reverse=True):
        day = today - dt.timedelta(days=ago)
        hours = [hour for when, hour, _ in PAST if when == ago]
        clock.moment = dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC) - dt.timedelta(days=2)
        opened = await scheduler.bookings.open_day(
            leader_id, day, dt.time(min(hours)), dt.time(max(hours) + 1), slot_minutes=60, actor="demo"
        )
        slots.update({slot.starts_at: slot.id for slot in opened.slots})
    for index, (ago, hour, score) in enumerate(PAST):
        starts = dt.datetime.combine(today - dt.timedelta(days=ago), dt.time(hour), zone).astimezone(dt.UTC)
        clock.moment = starts - dt.timedelta(days=1, hours=1)
        booking = await scheduler.bookings.book(slots[starts], person(index + 2), SUBJECTS[index], actor="staff")
        appointment = booking.appointment.id
        clock.moment = starts - dt.timedelta(minutes=6)
        await scheduler.lifecycle.run_once()  # the room opens
        if score is None:
            clock.moment = starts + dt.timedelta(minutes=30)
            await scheduler.lifecycle.run_once()  # nobody came: a no-show
            continue
        ticket = await scheduler.reception.claim_ticket(booking.link_key, None)
        await scheduler.reception.redeem_ticket(ticket.ticket_id, ticket.room_id)
        clock.moment = starts + dt.timedelta(minutes=2 + index)
        await scheduler.reception.admit(appointment, username="leader", role="leader")
        clock.moment = starts + dt.timedelta(minutes=25)
        await scheduler.reception.end(appointment, username="leader", role="leader", result="accepted", notes="已受理")
        await scheduler.reception.rate(booking.link_key, score=score, comment="", device_secret=ticket.device_secret)
        clock.moment = starts + dt.timedelta(minutes=75)
        await scheduler.lifecycle.run_once()  # the room closes
