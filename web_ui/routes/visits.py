"""The petitioner's side, with no account: the SMS link's page data, the ticket into the waiting room, the
rating; and, where the bureau allows it, booking from the phone.

The link's key travels in the path (it is what the SMS carries). The phone that first asks for a ticket gets a
device cookie; the link then works only with it, so a forwarded or overheard link cannot take the petitioner's
place.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from scheduler import AppointmentRecord, PetitionerDetails, State
from scheduler.errors import InvalidRequest, PublicBookingClosed
from scheduler.personal import mask_name, mask_phone, normalise_phone
from web_ui.deps import ServicesDep, client_address
from web_ui.identity.roles import Role
from web_ui.routes.appointments import NewAppointment
from web_ui.services import Services

router = APIRouter(prefix="/api", tags=["visits"])
LinkKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{16,64}$", description="the key in the SMS link")]
DEVICE_COOKIE = "hall_device"


class TicketRequest(BaseModel):
    consent: bool = Field(description="the petitioner agreed to the recording notice")


class RatingBody(BaseModel):
    score: int = Field(ge=1, le=5, description="1 very dissatisfied .. 5 very satisfied")
    comment: str = Field(default="", max_length=500)


def visit_view(services: Services, record: AppointmentRecord) -> dict[str, Any]:
    """What the petitioner's own page shows: nothing of anyone else, and their phone masked."""
    opens = dt.timedelta(minutes=services.settings.scheduler.room_opens_minutes)
    return {
        "number": record.number,
        "state": record.state.value,
        "leader": {"name": record.leader.name, "title": record.leader.title},
        "petitioner_name": record.petitioner_name,
        "phone_masked": record.phone_masked,
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "opens_at": record.starts_at - opens,
        "time_zone": services.settings.server.time_zone,
        "rated": record.rating is not None,
    }


@router.get("/visits/{link_key}", summary="The petitioner's appointment, for their phone page")
async def visit(link_key: LinkKey, services: ServicesDep) -> dict[str, Any]:
    return visit_view(services, await services.scheduler.reception.visit(link_key))


@router.post("/visits/{link_key}/ticket", summary="Leave to enter the waiting room (single use, this phone only)")
async def ticket(
    link_key: LinkKey, body: TicketRequest, request: Request, response: Response, services: ServicesDep
) -> dict[str, Any]:
    if not body.consent:
        raise InvalidRequest("the reception is recorded: agree to the notice to join")
    scheduler = services.scheduler
    granted = await scheduler.reception.claim_ticket(link_key, request.cookies.get(DEVICE_COOKIE))
    now = scheduler.clock.now()
    ttl = max(
        10, min(int((granted.valid_until - now).total_seconds()), services.settings.auth.join_token_max_ttl_seconds)
    )
    token = services.tokens.issue_join(
        granted.room_id, Role.PETITIONER, granted.name, ttl, token_id=granted.ticket_id, ticket=True
    )
    response.set_cookie(
        DEVICE_COOKIE,
        granted.device_secret,
        max_age=2 * 86400,
        path=f"/api/visits/{link_key}",
        httponly=True,
        samesite="strict",
        secure=services.settings.public_url.startswith("https://"),
    )
    await services.audit.record(
        actor=mask_name(granted.name),
        role=Role.PETITIONER.value,
        action="reception_ticket_issued",
        target=f"appointment/{granted.appointment_id}",
        client=client_address(request),
        detail={"consent": True},
    )
    return {
        "token": token,
        "room_id": granted.room_id,
        "expires_at": int(now.timestamp()) + ttl,
        "admitted": granted.admitted,
    }


@router.post("/visits/{link_key}/rating", summary="Rate the reception (满意度), once, from the phone that took part")
async def rate(link_key: LinkKey, body: RatingBody, request: Request, services: ServicesDep) -> dict[str, Any]:
    record = await services.scheduler.reception.rate(
        link_key, score=body.score, comment=body.comment, device_secret=request.cookies.get(DEVICE_COOKIE)
    )
    return visit_view(services, record)


# ---------------------------------------------------------------------------------------- booking by phone


def _public_booking(services: Services) -> None:
    if not services.settings.scheduler.public_booking:
        raise PublicBookingClosed("this hall takes bookings through its staff: please call the reception hall")


@router.get("/public/reception-days", summary="Slots petitioners may book themselves (when the hall allows it)")
async def public_days(services: ServicesDep) -> list[dict[str, Any]]:
    _public_booking(services)
    first = services.scheduler.today()
    last = first + dt.timedelta(days=services.settings.scheduler.booking_days_ahead)
    days = await services.scheduler.bookings.days(first, last, public_only=True)
    now = services.scheduler.clock.now()
    return [
        {
            "id": day.id,
            "leader": {"name": day.leader.name, "title": day.leader.title},
            "day": day.day,
            "slots": [
                {"id": s.id, "starts_at": s.starts_at, "ends_at": s.ends_at, "free": s.capacity - s.booked}
                for s in day.slots
                if s.starts_at > now
            ],
        }
        for day in days
    ]


@router.post("/public/appointments", status_code=201, summary="Book from the phone; staff confirm it")
async def public_book(body: NewAppointment, request: Request, services: ServicesDep) -> dict[str, Any]:
    _public_booking(services)
    services.booking_throttle.check(client_address(request))  # rationed per address, apart from sign-ins
    booking = await services.scheduler.bookings.book(
        body.slot_id,
        PetitionerDetails(body.name, body.phone, body.id_number),
        body.subject,
        channel="phone",
        actor="petitioner",
    )
    record = booking.appointment
    await services.audit.record(
        actor=mask_name(body.name),
        role=Role.PETITIONER.value,
        action="appointment_requested",
        target=f"appointment/{record.number}",
        client=client_address(request),
    )
    # Only what was typed in, and the slot: whoever knows an ID number learns nothing of its holder here.
    view = visit_view(services, record)
    return {
        "number": record.number,
        "state": State.REQUESTED.value,
        "leader": view["leader"],
        "petitioner_name": body.name.strip(),
        "phone_masked": mask_phone(normalise_phone(body.phone)),
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "time_zone": view["time_zone"],
    }
