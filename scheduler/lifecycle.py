"""The scheduler loop: opens reception rooms before their slots, turns the desk camera, marks no-shows, closes
rooms after the slot, and sends the messages that fell due.

Every pass works from the database and the clock alone, so a pass after a restart catches up with whatever
fell due while the hall was down, and doing a step twice changes nothing (rooms are opened if missing, states
move only forward, messages are claimed before they are sent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import and_, exists, or_, select, update

from scheduler.clock import Clock
from scheduler.errors import InvalidTransition
from scheduler.notifier import Notifier
from scheduler.settings import SchedulerSettings
from scheduler.states import State
from scheduler.store import SYSTEM, Messages, SessionSource, room_id_of, transition
from scheduler.tables import AppointmentRow, ReceptionDayRow, SlotRow

logger = logging.getLogger(__name__)

ROOM_OPENER = "接访排期"  # how the scheduler appears as the opener of a reception room


class RoomHost(Protocol):
    """Where reception rooms live (media_server's MediaNode)."""

    @property
    def rooms(self) -> Mapping[str, object]: ...

    def open_room(self, room_id: str, *, opened_by: str) -> object: ...

    async def close_room(self, room_id: str) -> None: ...


class DeskCamera(Protocol):
    """Turns a desk's camera to its preset (camera_control's CameraService fills this in)."""

    async def point_at_desk(self, desk: str) -> object: ...


@dataclasses.dataclass
class Pass:
    """What one pass of the loop did (tests and the log read it)."""

    opened: list[str] = dataclasses.field(default_factory=list)
    closed: list[str] = dataclasses.field(default_factory=list)
    no_shows: list[int] = dataclasses.field(default_factory=list)
    sent: int = 0


class Lifecycle:
    def __init__(
        self,
        db: SessionSource,
        settings: SchedulerSettings,
        clock: Clock,
        notifier: Notifier,
        messages: Messages,
        rooms: RoomHost,
        desk_camera: DeskCamera | None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.notifier = notifier
        self.messages = messages
        self.rooms = rooms
        self.desk_camera = desk_camera
        self._tasks: list[asyncio.Task[None]] = []
        self._due = asyncio.Event()

    async def start(self) -> None:
        await self.notifier.recover(self.clock.now())
        self.messages.on_due = self._due.set
        self._tasks = [
            asyncio.create_task(self._run(), name="scheduler"),
            asyncio.create_task(self._deliver_when_due(), name="scheduler-sms"),
        ]

    async def stop(self) -> None:
        self.messages.on_due = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []

    async def _deliver_when_due(self) -> None:
        """A message due now (a booking's confirmation, a cancellation) goes out at once, not at the next pass.
        Nudges that come while a delivery runs make one more delivery, which takes them all."""
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self.notifier.deliver_due(self.clock.now())
            except asyncio.CancelledError:
                raise
            except Exception:  # the next pass tries again
                logger.exception("sending the messages due now failed")

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad pass must not stop the receptions of the rest of the day
                logger.exception("scheduler pass failed; trying again in %.0f s", self.settings.tick_seconds)
            await self.clock.sleep(self.settings.tick_seconds)

    async def run_once(self) -> Pass:
        now = self.clock.now()
        done = Pass()
        await self._open_rooms(now, done)
        await self._mark_no_shows(now, done)
        await self._close_rooms(now, done)
        done.sent = (await self.notifier.deliver_due(now)).sent
        if done.opened or done.closed or done.no_shows:
            logger.info("scheduler: opened %s, closed %s, no-shows %s", done.opened, done.closed, done.no_shows)
        return done

    async def _open_rooms(self, now: dt.datetime, done: Pass) -> None:
        opens = dt.timedelta(minutes=self.settings.room_opens_minutes)
        grace = dt.timedelta(minutes=self.settings.join_grace_minutes)
        booked = exists().where(and_(AppointmentRow.slot_id == SlotRow.id, AppointmentRow.state.in_(_JOINABLE)))
        in_session = exists().where(
            and_(AppointmentRow.slot_id == SlotRow.id, AppointmentRow.state == State.IN_SESSION.value)
        )
        async with self.db.transaction() as session:
            slots = await session.execute(
                select(SlotRow, ReceptionDayRow.desk)
                .join(ReceptionDayRow, ReceptionDayRow.id == SlotRow.day_id)
                .where(
                    SlotRow.starts_at <= now + opens,
                    or_(SlotRow.ends_at > now - grace, in_session),  # an overrunning session keeps its room
                    SlotRow.room_closed_at.is_(None),
                    booked,
                )
            )
            to_point: list[str] = []
            for slot, desk in slots:
                room_id = room_id_of(slot.id)
                if room_id not in self.rooms.rooms:
                    # Also after a restart: the room lived in the old process's memory.
                    self.rooms.open_room(room_id, opened_by=ROOM_OPENER)
                    done.opened.append(room_id)
                if slot.room_opened_at is None:
                    # Claimed by a conditional UPDATE: the camera turns once per slot, however many passes run.
                    claimed = await session.execute(
                        update(SlotRow)
                        .where(SlotRow.id == slot.id, SlotRow.room_opened_at.is_(None))
                        .values(room_opened_at=now)
                        .execution_options(synchronize_session=False)
                    )
                    if getattr(claimed, "rowcount", 0) == 1 and desk:
                        to_point.append(desk)
        for desk in to_point:
            await self._point(desk)

    async def _point(self, desk: str) -> None:
        if self.desk_camera is None:
            return
        try:
            await self.desk_camera.point_at_desk(desk)
        except Exception as exc:  # a camera that cannot turn must not keep the room shut
            logger.warning("desk %s: the camera could not turn to its preset: %s", desk, exc)

    async def _mark_no_shows(self, now: dt.datetime, done: Pass) -> None:
        late = dt.timedelta(minutes=self.settings.no_show_minutes)
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(AppointmentRow).where(
                    AppointmentRow.state.in_((State.CONFIRMED.value, State.REQUESTED.value)),
                    AppointmentRow.starts_at <= now - late,
                )
            )
            for row in rows:
                # Never confirmed: nobody told the petitioner to come.
                confirmed = row.state == State.CONFIRMED.value
                wanted, reason = (
                    (State.NO_SHOW, f"not arrived after {late}")
                    if confirmed
                    else (State.CANCELLED, "not confirmed in time")
                )
                try:
                    await transition(session, row, wanted, actor=SYSTEM, at=now, reason=reason)
                except InvalidTransition:
                    continue  # they arrived (or someone cancelled) a moment ago
                await self.messages.drop_pending(session, row.id)
                if confirmed:
                    done.no_shows.append(row.id)

    async def _close_rooms(self, now: dt.datetime, done: Pass) -> None:
        grace = dt.timedelta(minutes=self.settings.join_grace_minutes)
        in_session = exists().where(
            and_(AppointmentRow.slot_id == SlotRow.id, AppointmentRow.state == State.IN_SESSION.value)
        )
        async with self.db.transaction() as session:
            slots = await session.scalars(
                select(SlotRow).where(
                    SlotRow.room_opened_at.is_not(None),
                    SlotRow.room_closed_at.is_(None),
                    SlotRow.ends_at <= now - grace,
                    ~in_session,  # a session that overruns its slot goes on until the leader ends it
                )
            )
            closing = []
            for slot in slots:
                waiting = await session.scalars(
                    select(AppointmentRow).where(
                        AppointmentRow.slot_id == slot.id, AppointmentRow.state == State.WAITING.value
                    )
                )
                admitted_meanwhile = False
                for row in waiting:
                    reason = "接访时段已结束，未能接待"
                    try:
                        await transition(session, row, State.CANCELLED, actor=SYSTEM, at=now, reason=reason)
                    except InvalidTransition:
                        admitted_meanwhile = True  # the leader let them in a moment ago: the room stays
                        continue
                    await self.messages.queue(session, row, "cancelled", now=now, reason=reason)
                if not admitted_meanwhile:
                    slot.room_closed_at = now
                    closing.append(room_id_of(slot.id))
        for room_id in closing:
            if room_id in self.rooms.rooms:
                await self.rooms.close_room(room_id)
            done.closed.append(room_id)


_JOINABLE = (State.CONFIRMED.value, State.WAITING.value, State.IN_SESSION.value, State.NO_SHOW.value)
