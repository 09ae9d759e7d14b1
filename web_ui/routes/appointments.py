"""Appointments over REST: leaders, reception days, booking, the reception console's actions, the outbox and
the figures. Staff and admins keep the schedule; leaders see and receive their own petitioners."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter

from media_server import Participant
from scheduler import RESULTS, AppointmentRecord, PetitionerDetails, State
from scheduler.errors import InvalidRequest
from web_ui.deps import Forbidden, Principal, ServicesDep, audit_staff, require_roles
from web_ui.errors import NotWaiting
from web_ui.identity.roles import FIGURE_READERS, RECEPTION_HOSTS, SCHEDULE_KEEPERS, Role
from web_ui.routes.rooms import JoinToken
from web_ui.services import Services

router = APIRouter(prefix="/api", tags=["appointments"])
KeeperDep = Annotated[Principal, Depends(require_roles(*SCHEDULE_KEEPERS))]
HostDep = Annotated[Principal, Depends(require_roles(*RECEPTION_HOSTS))]
FiguresDep = Annotated[Principal, Depends(require_roles(*FIGURE_READERS))]
APPOINTMENT_ATTRIBUTE = "appointment"  # the room participant's tag naming the appointment it came for


class NewLeader(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="e.g. 王建国")
    title: str = Field(default="", max_length=64, description="e.g. 局长")
    username: str | None = Field(default=None, max_length=64, description="the leader's sign-in account")
    desk: str | None = Field(default=None, max_length=64, description="the desk camera preset, e.g. 接待室1号台")


class NewDay(BaseModel):
    leader_id: int
    day: dt.date = Field(description="the date in the hall's time zone")
    start: dt.time = Field(description="hall time, e.g. 09:00")
    end: dt.time = Field(description="hall time, e.g. 11:30")
    slot_minutes: int = Field(default=30, ge=5, le=240)
    capacity: int = Field(default=1, ge=1, le=20, description="petitioners received together in one slot")
    desk: str | None = Field(default=None, max_length=64, description="the leader's own desk when unset")
    public_booking: bool = Field(default=False, description="petitioners may book these slots on the phone page")
    note: str = Field(default="", max_length=200)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=100, description="told to the petitioner in the SMS")


class NewAppointment(BaseModel):
    slot_id: int
    name: str = Field(min_length=1, max_length=32)
    phone: str = Field(min_length=11, max_length=20, description="a mainland mobile number")
    id_number: str = Field(min_length=18, max_length=20, description="the 18-character resident ID number")
    subject: str = Field(default="", max_length=200, description="事由, in the petitioner's words")


class Move(BaseModel):
    slot_id: int
    reason: str = Field(default="", max_length=100)


class Ending(BaseModel):
    result: str = Field(description=f"one of {', '.join(RESULTS)}")
    notes: str = Field(default="", max_length=5000)


RECORD = TypeAdapter(AppointmentRecord)
RECORDS = TypeAdapter(list[AppointmentRecord])


def appointment_view(record: AppointmentRecord, **extra: Any) -> dict[str, Any]:
    # pydantic's serializer (compiled) rather than dataclasses.asdict, which deep-copies: a day's list is 5x faster.
    return {**RECORD.dump_python(record, mode="json"), **extra}


async def leader_scope(services: Services, principal: Principal) -> int | None:
    """A leader sees their own receptions only; staff and admins see all."""
    if principal.role is not Role.LEADER:
        return None
    leader = await services.scheduler.bookings.leader_of(principal.username)
    if leader is None:
        raise Forbidden("this account is not linked to a leader: ask the hall's staff")
    return leader.id


async def own_appointment(services: Services, principal: Principal, appointment_id: int) -> AppointmentRecord:
    record = await services.scheduler.bookings.appointment(appointment_id)
    scope = await leader_scope(services, principal)
    if scope is not None and record.leader.id != scope:
        raise Forbidden("this reception belongs to another leader")
    return record


def room_participants(services: Services, record: AppointmentRecord) -> list[Participant]:
    room = services.media.rooms.get(record.room_id)
    if room is None:
        return []
    return [p for p in room.participants.values() if p.attributes.get(APPOINTMENT_ATTRIBUTE) == str(record.id)]


def presence(services: Services, record: AppointmentRecord) -> str | None:
    """Where the petitioner is right now: waiting (in the lobby), in_room, or not connected (None)."""
    here = room_participants(services, record)
    if not here:
        return None
    return "waiting" if any(p.waiting for p in here) else "in_room"


# ---------------------------------------------------------------------------------------- leaders and days


@router.get("/leaders", summary="Leaders who receive petitioners")
async def list_leaders(principal: HostDep, services: ServicesDep) -> list[dict[str, Any]]:
    return [dataclasses.asdict(leader) for leader in await services.scheduler.bookings.leaders()]


@router.post("/leaders", status_code=201, summary="Add a leader")
async def add_leader(body: NewLeader, request: Request, principal: KeeperDep, services: ServicesDep) -> dict[str, Any]:
    leader = await services.scheduler.bookings.add_leader(
        body.name, title=body.title, username=body.username, desk=body.desk
    )
    await audit_staff(services, request, principal, "leader_added", f"leader/{leader.id}", {"name": leader.name})
    return dataclasses.asdict(leader)


@router.get("/reception-days", summary="Reception days (接访日) with their slots")
async def list_days(
    principal: HostDep,
    services: ServicesDep,
    first: Annotated[dt.date | None, Query(description="from this day (hall time); today when unset")] = None,
    last: Annotated[dt.date | None, Query(description="to this day; 14 days on when unset")] = None,
    leader_id: int | None = None,
) -> list[dict[str, Any]]:
    first = first or services.scheduler.today()
    last = last or first + dt.timedelta(days=14)
    if (last - first).days > 366:
        raise InvalidRequest("ask for at most a year at a time")
    scope = await leader_scope(services, principal)
    days = await services.scheduler.bookings.days(first, last, leader_id=scope or leader_id)
    return [dataclasses.asdict(day) for day in days]


@router.post("/reception-days", status_code=201, summary="Open a leader's reception day")
async def open_day(body: NewDay, request: Request, principal: KeeperDep, services: ServicesDep) -> dict[str, Any]:
    day = await services.scheduler.bookings.open_day(
        body.leader_id,
        body.day,
        body.start,
        body.end,
        slot_minutes=body.slot_minutes,
        capacity=body.capacity,
        desk=body.desk,
        public_booking=body.public_booking,
        note=body.note,
        actor=principal.username,
    )
    await audit_staff(
        services, request, principal, "reception_day_opened", f"reception-day/{day.id}", {"slots": len(day.slots)}
    )
    return dataclasses.asdict(day)


@router.post("/reception-days/{day_id}/cancel", summary="Cancel a reception day; its petitioners are told")
async def cancel_day(
    day_id: int, body: Reason, request: Request, principal: KeeperDep, services: ServicesDep
) -> dict[str, Any]:
    count = await services.scheduler.bookings.cancel_day(day_id, actor=principal.username, reason=body.reason)
    await audit_staff(services, request, principal, "reception_day_cancelled", f"reception-day/{day_id}")
    return {"cancelled_appointments": count}


# ---------------------------------------------------------------------------------------- appointments


@router.get(
    "/appointments",
    summary="Find appointments: by number, name, phone or its last four digits",
    response_model=list[AppointmentRecord],
)
async def search(
    principal: HostDep,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=64)] = "",
    first: dt.date | None = None,
    last: dt.date | None = None,
    leader_id: int | None = None,
    state: Annotated[list[State] | None, Query()] = None,
) -> Response:
    scope = await leader_scope(services, principal)
    records = await services.scheduler.bookings.search(
        text=q, first=first, last=last, leader_id=scope or leader_id, states=state or ()
    )
    # Serialised once, by pydantic's compiled serializer: the schedule and the consoles ask for lists all day.
    return Response(RECORDS.dump_json(records), media_type="application/json")


@router.post("/appointments", status_code=201, summary="Book a petitioner into a slot (confirmed; the SMS goes out)")
async def book(body: NewAppointment, request: Request, principal: KeeperDep, services: ServicesDep) -> dict[str, Any]:
    booking = await services.scheduler.bookings.book(
        body.slot_id,
        PetitionerDetails(body.name, body.phone, body.id_number),
        body.subject,
        channel="staff",
        actor=principal.username,
    )
    record = booking.appointment
    await audit_staff(services, request, principal, "appointment_booked", f"appointment/{record.number}")
    return appointment_view(record)


@router.get("/appointments/{appointment_id}", summary="An appointment with its history and the earlier visits")
async def get_appointment(appointment_id: int, principal: HostDep, services: ServicesDep) -> dict[str, Any]:
    record = await own_appointment(services, principal, appointment_id)
    return appointment_view(record, presence=presence(services, record))


@router.get("/appointments/{appointment_id}/link", summary="The petitioner's link, to read out or send again")
async def petitioner_link(
    appointment_id: int, request: Request, principal: KeeperDep, services: ServicesDep
) -> dict[str, str]:
    url = await services.scheduler.bookings.link_of(appointment_id)
    await audit_staff(services, request, principal, "petitioner_link_viewed", f"appointment/{appointment_id}")
    return {"url": url}


@router.post("/appointments/{appointment_id}/release-link", summary="Let the petitioner's link work on another phone")
async def release_link(
    appointment_id: int, request: Request, principal: KeeperDep, services: ServicesDep
) -> dict[str, Any]:
    record = await services.scheduler.reception.release_link(appointment_id)
    await audit_staff(services, request, principal, "petitioner_link_released", f"appointment/{record.number}")
    return appointment_view(record)


@router.post("/appointments/{appointment_id}/confirm", summary="Confirm a petitioner's own booking")
async def confirm(appointment_id: int, request: Request, principal: KeeperDep, services: ServicesDep) -> dict[str, Any]:
    record = await services.scheduler.bookings.confirm(appointment_id, actor=principal.username)
    await audit_staff(services, request, principal, "appointment_confirmed", f"appointment/{record.number}")
    return appointment_view(record)


@router.post("/appointments/{appointment_id}/cancel", summary="Cancel; the petitioner is told why")
async def cancel(
    appointment_id: int, body: Reason, request: Request, principal: KeeperDep, services: ServicesDep
) -> dict[str, Any]:
    record = await services.scheduler.bookings.cancel(appointment_id, actor=principal.username, reason=body.reason)
    await audit_staff(
        services, request, principal, "appointment_cancelled", f"appointment/{record.number}", {"reason": body.reason}
    )
    return appointment_view(record)


@router.post(
    "/appointments/{appointment_id}/reschedule", summary="Move to another slot; the petitioner gets a new link"
)
async def reschedule(
    appointment_id: int, body: Move, request: Request, principal: KeeperDep, services: ServicesDep
) -> dict[str, Any]:
    booking = await services.scheduler.bookings.reschedule(
        appointment_id, body.slot_id, actor=principal.username, reason=body.reason
    )
    record = booking.appointment
    await audit_staff(
        services,
        request,
        principal,
        "appointment_rescheduled",
        f"appointment/{record.number}",
        {"from": appointment_id},
    )
    return appointment_view(record)


# ---------------------------------------------------------------------------------------- the reception


@router.get("/reception/today", summary="Today's receptions for the console, with who is waiting")
async def today(
    principal: HostDep, services: ServicesDep, leader_id: int | None = None, day: dt.date | None = None
) -> dict[str, Any]:
    scope = await leader_scope(services, principal)
    day = day or services.scheduler.today()
    records = await services.scheduler.bookings.search(first=day, last=day, leader_id=scope or leader_id)
    return {
        "day": day.isoformat(),
        "time_zone": services.settings.server.time_zone,
        "appointments": [
            appointment_view(r, presence=presence(services, r)) for r in records if r.state is not State.RESCHEDULED
        ],
    }


@router.post("/appointments/{appointment_id}/join", response_model=JoinToken, summary="Join the reception room")
async def join(appointment_id: int, request: Request, principal: HostDep, services: ServicesDep) -> JoinToken:
    scheduler = services.scheduler
    host = await scheduler.reception.host_pass(appointment_id, username=principal.username, role=principal.role.value)
    ttl = int((host.valid_until - scheduler.clock.now()).total_seconds())
    ttl = max(60, min(ttl, services.settings.auth.join_token_max_ttl_seconds))
    token = services.tokens.issue_join(host.room_id, principal.role, principal.display_name, ttl)
    if host.room_id not in services.media.rooms:  # the scheduler opens it; a host early for the slot may too
        services.media.open_room(host.room_id, opened_by=principal.username)
    await audit_staff(services, request, principal, "reception_joined", f"appointment/{appointment_id}")
    return JoinToken(
        token=token,
        url=f"{services.settings.public_url}/rooms/{host.room_id}#token={token}",
        expires_at=int(scheduler.clock.now().timestamp()) + ttl,
        role=principal.role,
    )


@router.post("/appointments/{appointment_id}/admit", summary="Admit the waiting petitioner")
async def admit(appointment_id: int, request: Request, principal: HostDep, services: ServicesDep) -> dict[str, Any]:
    record = await own_appointment(services, principal, appointment_id)
    if not any(p.waiting for p in room_participants(services, record)) and record.state is not State.IN_SESSION:
        raise NotWaiting("the petitioner is not in the waiting room yet")
    record = await services.scheduler.reception.admit(
        appointment_id, username=principal.username, role=principal.role.value
    )
    # Looked up again after the database: a phone that reconnected meanwhile is let in too.
    for participant in room_participants(services, record):
        services.media.admit(participant)
    await audit_staff(services, request, principal, "petitioner_admitted", f"appointment/{record.number}")
    return appointment_view(record, presence=presence(services, record))


@router.post("/appointments/{appointment_id}/end", summary="End the reception and write its outcome")
async def end(
    appointment_id: int, body: Ending, request: Request, principal: HostDep, services: ServicesDep
) -> dict[str, Any]:
    await own_appointment(services, principal, appointment_id)
    record = await services.scheduler.reception.end(
        appointment_id, username=principal.username, role=principal.role.value, result=body.result, notes=body.notes
    )
    for participant in room_participants(services, record):
        await services.media.remove(participant)  # their page turns to the rating
    await audit_staff(
        services, request, principal, "reception_ended", f"appointment/{record.number}", {"result": body.result}
    )
    return appointment_view(record)


# ---------------------------------------------------------------------------------------- outbox and figures


@router.get("/notifications", summary="The SMS outbox: what was sent, or would be (log backend)")
async def outbox(
    request: Request, principal: KeeperDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[dict[str, Any]]:
    # The texts carry petitioners' links: who read them is on record.
    await audit_staff(services, request, principal, "outbox_viewed")
    return [dataclasses.asdict(n) for n in await services.scheduler.notifier.outbox(limit=limit)]


@router.get("/figures", summary="Receptions held, no-show rate, average wait and satisfaction, per leader and month")
async def figures(
    principal: FiguresDep,
    services: ServicesDep,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> dict[str, Any]:
    last = last or services.scheduler.today()
    first = first or last.replace(month=1, day=1)
    if first > last or (last - first).days > 3 * 366:
        raise InvalidRequest("give a period of at most three years, first before last")
    total, rows = await services.scheduler.figures(first, last)
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "total": dataclasses.asdict(total),
        "rows": [dataclasses.asdict(row) for row in rows],
    }
