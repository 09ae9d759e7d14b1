"""The reception itself: the petitioner's link and ticket, arrival in the waiting room, admission, the end with
its outcome, and the petitioner's rating.

The SMS link is bound to the phone that opens it first (a device secret kept in that browser). From it the
petitioner gets a ticket: leave to join their reception room once, from the room's opening to the slot's end
plus grace. The web edge turns the ticket into a join token whose id is the ticket's; the first connection
redeems it, a second is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.clock import Clock, as_utc
from scheduler.errors import (
    AlreadyRated,
    InvalidRequest,
    InvalidTransition,
    LinkInUse,
    NotYourReception,
    TicketUsed,
    TooEarly,
    TooLate,
    UnknownLink,
)
from scheduler.records import AppointmentRecord, HostPass, Ticket
from scheduler.settings import SchedulerSettings
from scheduler.states import State
from scheduler.store import SessionSource, appointment_record, appointment_row, link_hash, room_id_of, transition
from scheduler.tables import AppointmentRow, LeaderRow, OutcomeRow, PetitionerRow, RatingRow, SlotRow

RESULTS = ("answered", "accepted", "referred", "other")  # 当场答复, 受理, 转办, 其他
HOSTS_EARLY = dt.timedelta(minutes=30)  # a leader may join their room this long before it opens to petitioners


class Reception:
    def __init__(self, db: SessionSource, settings: SchedulerSettings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    @property
    def _opens_before(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.settings.room_opens_minutes)

    @property
    def _grace(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.settings.join_grace_minutes)

    async def visit(self, link_key: str) -> AppointmentRecord:
        """What the petitioner's page shows: their appointment (found by the link's key)."""
        async with self.db.session() as session:
            return await appointment_record(session, await _by_link(session, link_key))

    async def claim_ticket(self, link_key: str, device_secret: str | None) -> Ticket:
        """A ticket for the petitioner's phone, if the room is open and the link is theirs."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await _by_link(session, link_key, lock=True)
            state = State(row.state)
            starts_at, ends_at = as_utc(row.starts_at), as_utc(row.ends_at)
            if state not in (State.CONFIRMED, State.WAITING, State.IN_SESSION, State.NO_SHOW):
                raise InvalidTransition(_not_joinable(state))
            slot = await session.get(SlotRow, row.slot_id)
            assert slot is not None
            opens_at = starts_at - self._opens_before
            if now < opens_at or slot.room_opened_at is None:
                raise TooEarly(f"the reception room opens at {opens_at.isoformat()}")
            # A session that overruns its slot goes on until the leader ends it: its petitioner may come back.
            if state is not State.IN_SESSION and (now >= ends_at + self._grace or slot.room_closed_at is not None):
                raise TooLate("this reception's time is over")
            if row.device_hash is None:
                device_secret = device_secret or secrets.token_urlsafe(24)
                row.device_hash = _sha256(device_secret)
            elif device_secret is None or not _same_phone(row, device_secret):
                raise LinkInUse("this link is already in use on another phone")
            row.ticket_id = secrets.token_urlsafe(12)
            row.ticket_used_at = None
            return Ticket(
                appointment_id=row.id,
                room_id=room_id_of(row.slot_id),
                ticket_id=row.ticket_id,
                name=await _petitioner_name(session, row),
                valid_until=max(ends_at + self._grace, now + self._grace),
                device_secret=device_secret,
                admitted=state is State.IN_SESSION,
            )

    async def release_link(self, appointment_id: int) -> AppointmentRecord:
        """Free the link for another phone (opened first in another app, a cleared browser, a new phone): the
        next phone to open it takes it, and a ticket already handed out no longer works."""
        async with self.db.transaction() as session:
            row = await appointment_row(session, appointment_id, lock=True)
            if State(row.state) not in (State.CONFIRMED, State.WAITING, State.IN_SESSION, State.NO_SHOW):
                raise InvalidTransition(_not_joinable(State(row.state)))
            row.device_hash = None
            row.ticket_id = None
            return await appointment_record(session, row)

    async def redeem_ticket(self, ticket_id: str, room_id: str) -> AppointmentRecord:
        """The petitioner connects: the ticket is used up, and they are waiting (or back in their session)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            used = await session.execute(
                update(AppointmentRow)
                .where(AppointmentRow.ticket_id == ticket_id, AppointmentRow.ticket_used_at.is_(None))
                .values(ticket_used_at=now)
                .execution_options(synchronize_session=False)
            )
            row = await session.scalar(
                select(AppointmentRow)
                .where(AppointmentRow.ticket_id == ticket_id)
                .execution_options(populate_existing=True)
            )
            if getattr(used, "rowcount", 0) != 1 or row is None or room_id_of(row.slot_id) != room_id:
                raise TicketUsed("this join link has been used already: open the SMS link again")
            state = State(row.state)
            if state in (State.CONFIRMED, State.NO_SHOW):
                if now >= as_utc(row.ends_at) + self._grace:
                    raise TooLate("this reception's time is over")
                late = "arrived late" if state is State.NO_SHOW else "arrived"
                await transition(session, row, State.WAITING, actor="petitioner", at=now, reason=late)
                row.arrived_at = row.arrived_at or now
            elif state not in (State.WAITING, State.IN_SESSION):
                raise InvalidTransition(_not_joinable(state))
            return await appointment_record(session, row, full=True)

    async def host_pass(self, appointment_id: int, *, username: str, role: str) -> HostPass:
        """Leave for the appointment's leader, or staff (to sit in), to join its room."""
        now = self.clock.now()
        async with self.db.session() as session:
            row = await appointment_row(session, appointment_id)
            await _check_host(session, row, username, role)
            starts_at, ends_at = as_utc(row.starts_at), as_utc(row.ends_at)
            if now < starts_at - self._opens_before - HOSTS_EARLY:
                raise TooEarly(f"the reception room opens at {(starts_at - self._opens_before).isoformat()}")
            state = State(row.state)
            if state not in (State.CONFIRMED, State.WAITING, State.IN_SESSION, State.NO_SHOW):
                raise InvalidTransition(_not_joinable(state))
            slot = await session.get(SlotRow, row.slot_id)
            if slot is not None and slot.room_closed_at is not None and state is not State.IN_SESSION:
                # Closed by the scheduler after the slot: joining would open it again, and nothing would close it.
                raise TooLate("this reception's room has closed")
            # A session may overrun its slot: the leader stays in until they end it.
            valid_until = max(ends_at + self._grace, now) + dt.timedelta(hours=1)
            return HostPass(row.id, room_id_of(row.slot_id), valid_until)

    async def admit(self, appointment_id: int, *, username: str, role: str) -> AppointmentRecord:
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await appointment_row(session, appointment_id, lock=True)
            await _check_host(session, row, username, role)
            if row.state == State.IN_SESSION.value:
                return await appointment_record(session, row)  # back after a dropped connection
            await transition(session, row, State.IN_SESSION, actor=username, at=now)
            row.admitted_at = now
            row.admitted_by = username
            return await appointment_record(session, row)

    async def end(self, appointment_id: int, *, username: str, role: str, result: str, notes: str) -> AppointmentRecord:
        """The leader ends the session and writes its outcome."""
        if result not in RESULTS:
            raise InvalidRequest(f"the outcome is one of {', '.join(RESULTS)}")
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await appointment_row(session, appointment_id, lock=True)
            await _check_host(session, row, username, role)
            await transition(session, row, State.COMPLETED, actor=username, at=now)
            row.ended_at = now
            session.add(
                OutcomeRow(
                    appointment_id=row.id, result=result, notes=notes[:5000], written_by=username, written_at=now
                )
            )
            return await appointment_record(session, row, full=True)

    async def rate(self, link_key: str, *, score: int, comment: str, device_secret: str | None) -> AppointmentRecord:
        """The petitioner rates the reception (满意度), once, after it ends, from the phone that took part: a
        forwarded link cannot rate someone else's reception."""
        if not 1 <= score <= 5:
            raise InvalidRequest("a rating is 1 to 5")
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await _by_link(session, link_key, lock=True)
            if row.state != State.COMPLETED.value:
                raise InvalidTransition("a reception can be rated once it has ended")
            if row.device_hash is not None and (device_secret is None or not _same_phone(row, device_secret)):
                raise LinkInUse("only the phone that took part in this reception can rate it")
            if await session.get(RatingRow, row.id) is not None:
                raise AlreadyRated("this reception has been rated already: thank you")
            session.add(RatingRow(appointment_id=row.id, score=score, comment=comment.strip()[:500], rated_at=now))
            await session.flush()
            return await appointment_record(session, row)


def _same_phone(row: AppointmentRow, device_secret: str) -> bool:
    """Whether the device secret is the one of the phone the link is bound to."""
    return row.device_hash is not None and hmac.compare_digest(row.device_hash, _sha256(device_secret))


async def _by_link(session: AsyncSession, link_key: str, *, lock: bool = False) -> AppointmentRow:
    if not link_key or len(link_key) > 64:
        raise UnknownLink("this link is not valid")
    query = select(AppointmentRow).where(AppointmentRow.link_hash == link_hash(link_key))
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise UnknownLink("this link is not valid")
    if row.state == State.RESCHEDULED.value:
        raise UnknownLink("this appointment was moved: use the link in the newest SMS")
    return row


async def _check_host(session: AsyncSession, row: AppointmentRow, username: str, role: str) -> None:
    """Staff and admins host any reception; a leader hosts their own."""
    if role in ("staff", "admin"):
        return
    leader = await session.get(LeaderRow, row.leader_id)
    if role != "leader" or leader is None or leader.username != username:
        raise NotYourReception("this reception belongs to another leader")


async def _petitioner_name(session: AsyncSession, row: AppointmentRow) -> str:
    person = await session.get(PetitionerRow, row.petitioner_id)
    assert person is not None
    return person.name


def _not_joinable(state: State) -> str:
    return {
        State.REQUESTED: "this appointment is not confirmed yet: the hall will send an SMS when it is",
        State.COMPLETED: "this reception has ended",
        State.CANCELLED: "this appointment was cancelled",
        State.RESCHEDULED: "this appointment was moved: use the link in the newest SMS",
    }.get(state, f"this appointment is {state.value}")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
