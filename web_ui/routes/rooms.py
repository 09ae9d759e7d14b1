"""Rooms over REST: create, list, read the roster, close, and issue join links."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from media_server import UNSET
from scheduler import RECEPTION_ROOM_PREFIX
from web_ui.deps import Forbidden, Principal, ServicesDep, audit_staff, require_roles
from web_ui.identity.roles import ROOM_DIRECTORS, ROOM_MEMBERS, ROOM_OPENERS, ROOM_READERS, Role
from web_ui.services import Services

router = APIRouter(prefix="/api/rooms", tags=["rooms"])
ReaderDep = Annotated[Principal, Depends(require_roles(*ROOM_READERS))]
OpenerDep = Annotated[Principal, Depends(require_roles(*ROOM_OPENERS))]
MemberDep = Annotated[Principal, Depends(require_roles(*ROOM_MEMBERS))]
DirectorDep = Annotated[Principal, Depends(require_roles(*ROOM_DIRECTORS))]
ROOM_ID = r"^[A-Za-z0-9_\-]{1,64}$"


def general_room(room_id: Annotated[str, Path(pattern=ROOM_ID, description="letters, digits, '_' and '-'")]) -> str:
    """A room of the general kind. Reception rooms belong to their appointments: who may see, enter, invite
    into or direct one is decided by the appointment (the leader's own, staff), never by role alone here."""
    if room_id.startswith(RECEPTION_ROOM_PREFIX):
        raise Forbidden("a reception room is entered through its appointment (the reception console)")
    return room_id


RoomId = Annotated[str, Depends(general_room)]

# Who may invite whom: nobody hands out a role above their own.
RANK = {Role.PETITIONER: 0, Role.OBSERVER: 0, Role.STAFF: 1, Role.LEADER: 2, Role.ADMIN: 3}


class NewRoom(BaseModel):
    id: str = Field(pattern=ROOM_ID, description="the room id used in links and WHIP/WHEP URLs")


class NewJoinToken(BaseModel):
    role: Role = Field(description="the role the holder has in the room")
    name: str = Field(min_length=1, max_length=64, description="display name shown to others")
    ttl_seconds: int | None = Field(default=None, ge=10, description="lifetime; the settings' default when unset")


class ProgramDirection(BaseModel):
    """Fields left out stay as they are; `shown: null` shows everyone who publishes."""

    model_config = ConfigDict(extra="forbid")

    layout: str | None = Field(
        default=None,
        max_length=16,
        description="auto, speaker (1), side_by_side, pip, 2x2, 3x3, 4x4, 1+5 or 1+7",
    )
    shown: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=16, description="participant ids in tile order; null: everyone, as they joined"
    )
    caption: str | None = Field(default=None, max_length=48, description="text over the picture, e.g. a case number")


def apply_direction(
    services: Services, room_id: str, direction: ProgramDirection
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Direct the program with the fields the client sent; returns the program and the changes (to audit)."""
    changes = direction.model_dump(include=direction.model_fields_set)
    info = services.media.direct_program(
        room_id,
        layout=changes.get("layout"),
        shown=changes.get("shown", UNSET),
        caption=changes.get("caption", UNSET),
    )
    return info, changes


class JoinToken(BaseModel):
    token: str
    url: str
    expires_at: int
    role: Role


@router.get("", summary="Open rooms (reception rooms are listed on the reception console)")
async def list_rooms(principal: ReaderDep, services: ServicesDep) -> list[dict[str, object]]:
    return [room.info() for room in services.media.rooms.values() if not room.id.startswith(RECEPTION_ROOM_PREFIX)]


@router.post("", status_code=201, summary="Open a room")
async def create_room(
    body: NewRoom, request: Request, principal: OpenerDep, services: ServicesDep
) -> dict[str, object]:
    general_room(body.id)
    room = services.media.open_room(body.id, opened_by=principal.username)
    await audit_staff(services, request, principal, "room_opened", room.id)
    return room.info()


@router.get("/{room_id}", summary="A room and its roster")
async def get_room(room_id: RoomId, principal: ReaderDep, services: ServicesDep) -> dict[str, object]:
    room = services.media.room(room_id)
    return {**room.info(), "roster": room.roster()}


@router.delete("/{room_id}", status_code=204, summary="Close a room: everyone in it is disconnected")
async def close_room(room_id: RoomId, request: Request, principal: OpenerDep, services: ServicesDep) -> None:
    await services.media.close_room(room_id)
    await audit_staff(services, request, principal, "room_closed", room_id)


@router.get("/{room_id}/program", summary="The room's program: layout, who is shown, caption, viewers")
async def get_program(room_id: RoomId, principal: ReaderDep, services: ServicesDep) -> dict[str, object]:
    return services.media.program_info(room_id)


@router.put("/{room_id}/program", summary="Direct the room's program (leader, staff, admin)")
async def direct_program(
    room_id: RoomId, body: ProgramDirection, request: Request, principal: DirectorDep, services: ServicesDep
) -> dict[str, object]:
    info, changes = apply_direction(services, room_id, body)
    await audit_staff(services, request, principal, "program_directed", room_id, changes)
    return info


@router.post("/{room_id}/tokens", status_code=201, response_model=JoinToken, summary="Issue a join link")
async def issue_token(
    room_id: RoomId, body: NewJoinToken, request: Request, principal: OpenerDep, services: ServicesDep
) -> JoinToken:
    if body.role not in ROOM_MEMBERS:
        raise Forbidden(f"role '{body.role.value}' cannot join rooms")
    if RANK[body.role] > RANK.get(principal.role, 0):
        raise Forbidden(f"a {principal.role.value} cannot invite a {body.role.value}")
    result = _join_token(services, request, room_id, body.role, body.name, body.ttl_seconds)
    await audit_staff(
        services,
        request,
        principal,
        "join_link_issued",
        room_id,
        {"role": body.role.value, "expires_at": result.expires_at},
    )
    return result


@router.post("/{room_id}/join", response_model=JoinToken, summary="A join token for the signed-in account")
async def join_self(room_id: RoomId, request: Request, principal: MemberDep, services: ServicesDep) -> JoinToken:
    if room_id not in services.media.rooms and principal.role not in ROOM_OPENERS:
        services.media.room(room_id)  # raises RoomNotFound: only openers may open a room by joining it
    return _join_token(services, request, room_id, principal.role, principal.display_name, None)


def _join_token(
    services: ServicesDep, request: Request, room_id: str, role: Role, name: str, ttl: int | None
) -> JoinToken:
    auth = services.settings.auth
    ttl = min(ttl or auth.join_token_ttl_seconds, auth.join_token_max_ttl_seconds)
    token = services.tokens.issue_join(room_id, role, name, ttl)
    base = services.settings.server.public_url or str(request.base_url).rstrip("/")
    return JoinToken(
        token=token,
        url=f"{base.rstrip('/')}/rooms/{room_id}#token={token}",
        expires_at=int(time.time()) + ttl,
        role=role,
    )
