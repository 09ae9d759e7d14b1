"""Cameras over REST and WHEP, and the wall's live socket.

Security, staff and admin only; every view and every move goes to the audit log with the user's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, model_validator

from camera_control.discovery import probe
from camera_control.errors import CameraError, StreamNotAvailable
from camera_control.registry import CameraRecord, MotionEventRecord, PresetRecord
from camera_control.service import CameraDraft
from media_server import SessionNotFound
from web_ui.deps import (
    SESSION_COOKIE,
    Forbidden,
    NotAuthenticated,
    Principal,
    ServicesDep,
    audit_staff,
    client_address,
    require_roles,
    staff_session,
)
from web_ui.errors import CameraRejected
from web_ui.identity.roles import CAMERA_KEEPERS, CAMERA_VIEWERS
from web_ui.identity.tokens import TokenError
from web_ui.routes.whip import SDP, cors_headers, created, read_offer
from web_ui.services import Services

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
whep_router = APIRouter(tags=["whip-whep"])
socket_router = APIRouter()
ViewerDep = Annotated[Principal, Depends(require_roles(*CAMERA_VIEWERS))]
KeeperDep = Annotated[Principal, Depends(require_roles(*CAMERA_KEEPERS))]
CameraId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PresetToken = Annotated[str, Path(min_length=1, max_length=64)]
SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
HOST = r"^[A-Za-z0-9.\-:\[\]]{1,255}$"
Point = Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=2, max_length=2)]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=32, description="[x, y] fractions of the picture")]


class NewCameraBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="shown on the wall, e.g. 大厅东南角")
    location: str = Field(default="", max_length=64, description="where it hangs, e.g. 接待室1号台")
    host: str = Field(pattern=HOST, description="the camera's address (name or IP)")
    port: int = Field(default=80, ge=1, le=65535, description="the camera's ONVIF (HTTP) port")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(max_length=128)
    motion_detection: bool = Field(default=True, description="watch for motion (the camera's events, or ours)")
    motion_masks: list[Polygon] = Field(
        default_factory=list, max_length=16, description="parts of the picture motion detection ignores"
    )


class CameraChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    location: str | None = Field(default=None, max_length=64)
    motion_detection: bool | None = None
    motion_masks: list[Polygon] | None = Field(default=None, max_length=16)
    username: str | None = Field(default=None, min_length=1, max_length=64, description="new credentials (checked)")
    password: str | None = Field(default=None, max_length=128)
    main_profile: str | None = Field(default=None, max_length=64)
    sub_profile: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _password_with_user(self) -> CameraChange:
        if self.username is not None and self.password is None:
            raise ValueError("give the password with the user name")
        return self


class PtzMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pan: float = Field(default=0.0, ge=-1, le=1, description="speed: negative left, positive right")
    tilt: float = Field(default=0.0, ge=-1, le=1, description="speed: negative down, positive up")
    zoom: float = Field(default=0.0, ge=-1, le=1, description="speed: negative out, positive in")
    timeout: float | None = Field(default=None, gt=0, le=60, description="stop by itself after this many seconds")


class PresetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="e.g. 1号台")
    desk: str | None = Field(
        default=None, max_length=64, description="the reception desk this preset looks at, e.g. 接待室1号台"
    )


class DiscoverBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, pattern=HOST, description="probe this address only (unicast)")
    port: int = Field(default=3702, ge=1, le=65535)
    timeout: float = Field(default=2.0, gt=0, le=10)


# ---------------------------------------------------------------------------------------- views


def camera_view(record: CameraRecord, status: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of a camera: never its password, never a URI with credentials."""
    return {
        "id": record.id,
        "name": record.name,
        "location": record.location,
        "host": record.host,
        "port": record.port,
        "username": record.username,
        "device": {
            "manufacturer": record.manufacturer,
            "model": record.model,
            "firmware": record.firmware,
            "serial": record.serial,
        },
        "profiles": [
            {
                "token": p.token,
                "name": p.name,
                "encoding": p.encoding,
                "width": p.width,
                "height": p.height,
                "fps": p.fps,
                "bitrate_kbps": p.bitrate_kbps,
            }
            for p in record.profiles
        ],
        "main_profile": record.main_profile,
        "sub_profile": record.sub_profile,
        "ptz": record.ptz,
        "presets": [preset_view(p) for p in record.presets],
        "onvif_events": record.onvif_events,
        "motion_detection": record.motion_detection,
        "motion_masks": record.motion_masks,
        "clock_offset_seconds": round(record.clock_offset, 1),
        **status,
    }


def preset_view(preset: PresetRecord) -> dict[str, Any]:
    return {"token": preset.token, "name": preset.name, "desk": preset.desk}


def event_view(event: MotionEventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "camera_id": event.camera_id,
        "started_at": event.started_at.isoformat(),
        "ended_at": event.ended_at.isoformat() if event.ended_at else None,
        "source": event.source,
        "topic": event.topic,
        "score": event.score,
        "boxes": event.boxes,
    }


async def checked(operation: Any) -> Any:
    """Run a call that talks to a camera a person just described: its failure is their input's fault (422)."""
    try:
        return await operation
    except CameraError as exc:
        if exc.code in {"camera_exists", "camera_not_found"}:
            raise
        raise CameraRejected(exc) from None


# ---------------------------------------------------------------------------------------- REST


@router.get("", summary="The hall's cameras, with their status")
async def list_cameras(principal: ViewerDep, services: ServicesDep) -> list[dict[str, Any]]:
    return [camera_view(record, status) for record, status in await services.cameras.cameras()]


@router.post("", status_code=201, summary="Add a camera (it is checked first: nothing is saved if it fails)")
async def add_camera(body: NewCameraBody, request: Request, principal: KeeperDep, services: ServicesDep) -> dict:
    draft = CameraDraft(**body.model_dump())
    try:
        record = await checked(services.cameras.add(draft))
    except (CameraError, CameraRejected) as exc:
        await audit_staff(
            services, request, principal, "camera_add_failed", f"{body.host}:{body.port}", {"error": str(exc)[:200]}
        )
        raise
    await audit_staff(services, request, principal, "camera_added", str(record.id), {"name": record.name})
    return camera_view(record, services.cameras.status(record.id))


@router.get("/events", summary="Motion events, newest first")
async def list_events(
    principal: ViewerDep,
    services: ServicesDep,
    camera_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [event_view(e) for e in await services.cameras.events(camera_id, limit)]


@router.post("/discover", summary="Look for ONVIF cameras on the network (WS-Discovery)")
async def discover(body: DiscoverBody, request: Request, principal: KeeperDep, services: ServicesDep) -> list[dict]:
    found = await probe(timeout=body.timeout, address=body.address, port=body.port)
    target = body.address or "multicast"
    await audit_staff(services, request, principal, "camera_discovery", target, {"found": len(found)})
    known = {(r.host, r.port) for r, _ in await services.cameras.cameras()}
    return [
        {
            "host": c.host,
            "port": c.port,
            "name": c.name,
            "hardware": c.hardware,
            "location": c.location,
            "xaddrs": list(c.xaddrs),
            "registered": (c.host, c.port) in known,
        }
        for c in found
    ]


@router.get("/{camera_id}", summary="A camera: profiles, PTZ capabilities, presets, status")
async def get_camera(camera_id: CameraId, principal: ViewerDep, services: ServicesDep) -> dict[str, Any]:
    record, status = await services.cameras.get(camera_id)
    return camera_view(record, status)


@router.patch("/{camera_id}", summary="Change a camera's name, place, streams or motion detection")
async def update_camera(
    camera_id: CameraId, body: CameraChange, request: Request, principal: KeeperDep, services: ServicesDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    username, password = changes.pop("username", None), changes.pop("password", None)
    record, _ = await services.cameras.get(camera_id)
    tokens = {p.token for p in record.profiles}
    for field in ("main_profile", "sub_profile"):
        if field in changes and changes[field] not in tokens:
            raise CameraRejected(_unknown_profile(changes[field]))
    if username is not None or password is not None:
        assert password is not None  # the model insists
        record = await checked(services.cameras.set_credentials(camera_id, username or record.username, password))
        await audit_staff(services, request, principal, "camera_credentials_changed", str(camera_id))
    if "main_profile" in changes or "sub_profile" in changes:
        changes.update(await services.cameras.stream_uris(camera_id, changes))
    if changes:
        record = await services.cameras.update(camera_id, **changes)
    changed = body.model_dump(exclude_unset=True, exclude={"password"})
    await audit_staff(services, request, principal, "camera_updated", str(camera_id), changed)
    return camera_view(record, services.cameras.status(camera_id))


@router.delete("/{camera_id}", status_code=204, summary="Remove a camera (its presets and events go with it)")
async def delete_camera(camera_id: CameraId, request: Request, principal: KeeperDep, services: ServicesDep) -> None:
    await services.cameras.delete(camera_id)
    await audit_staff(services, request, principal, "camera_removed", str(camera_id))


@router.post("/{camera_id}/ptz/move", status_code=204, summary="Pan, tilt and zoom at a speed until stopped")
async def ptz_move(
    camera_id: CameraId, body: PtzMove, request: Request, principal: ViewerDep, services: ServicesDep
) -> None:
    await services.cameras.move(camera_id, body.pan, body.tilt, body.zoom, body.timeout)
    await audit_staff(services, request, principal, "ptz_move", str(camera_id), body.model_dump())


@router.post("/{camera_id}/ptz/stop", status_code=204, summary="Stop moving")
async def ptz_stop(camera_id: CameraId, request: Request, principal: ViewerDep, services: ServicesDep) -> None:
    await services.cameras.stop(camera_id)
    await audit_staff(services, request, principal, "ptz_stop", str(camera_id))


@router.post("/{camera_id}/ptz/home", status_code=204, summary="Go to the home position")
async def ptz_home(camera_id: CameraId, request: Request, principal: ViewerDep, services: ServicesDep) -> None:
    await services.cameras.home(camera_id)
    await audit_staff(services, request, principal, "ptz_home", str(camera_id))


@router.get("/{camera_id}/presets", summary="The camera's presets, read from the camera")
async def list_presets(camera_id: CameraId, principal: ViewerDep, services: ServicesDep) -> list[dict[str, Any]]:
    presets = await services.cameras.refresh_presets(camera_id)
    return [preset_view(p) for p in presets]


@router.post("/{camera_id}/presets", status_code=201, summary="Save where the camera looks now as a preset")
async def set_preset(
    camera_id: CameraId, body: PresetBody, request: Request, principal: ViewerDep, services: ServicesDep
) -> dict[str, Any]:
    preset = await services.cameras.set_preset(camera_id, body.name, body.desk)
    await audit_staff(services, request, principal, "preset_set", f"{camera_id}/{preset.token}", body.model_dump())
    return preset_view(preset)


@router.put("/{camera_id}/presets/{token}", summary="Rename a preset, or tie it to a reception desk")
async def rename_preset(
    camera_id: CameraId,
    token: PresetToken,
    body: PresetBody,
    request: Request,
    principal: ViewerDep,
    services: ServicesDep,
) -> dict[str, Any]:
    preset = await services.cameras.rename_preset(camera_id, token, body.name, body.desk)
    await audit_staff(services, request, principal, "preset_renamed", f"{camera_id}/{token}", body.model_dump())
    return preset_view(preset)


@router.post("/{camera_id}/presets/{token}/goto", status_code=204, summary="Turn the camera to a preset")
async def goto_preset(
    camera_id: CameraId, token: PresetToken, request: Request, principal: ViewerDep, services: ServicesDep
) -> None:
    await services.cameras.goto_preset(camera_id, token)
    await audit_staff(services, request, principal, "ptz_preset", f"{camera_id}/{token}")


@router.delete("/{camera_id}/presets/{token}", status_code=204, summary="Remove a preset from the camera")
async def remove_preset(
    camera_id: CameraId, token: PresetToken, request: Request, principal: ViewerDep, services: ServicesDep
) -> None:
    await services.cameras.remove_preset(camera_id, token)
    await audit_staff(services, request, principal, "preset_removed", f"{camera_id}/{token}")


@router.get(
    "/{camera_id}/snapshot",
    summary="A still picture from the camera",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def snapshot(camera_id: CameraId, request: Request, principal: ViewerDep, services: ServicesDep) -> Response:
    picture = await services.cameras.snapshot(camera_id)
    await audit_staff(services, request, principal, "camera_snapshot", str(camera_id))
    return Response(picture, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------------------- WHEP


@whep_router.post(
    "/whep/cameras/{camera_id}",
    status_code=201,
    summary="Watch a camera live (WHEP): H.264 as the camera sends it",
    response_class=Response,
    responses={201: {"content": {SDP: {}}}},
)
async def whep_camera(
    camera_id: CameraId,
    request: Request,
    principal: ViewerDep,
    services: ServicesDep,
    stream: Annotated[Literal["main", "sub"], Query(description="main: full picture; sub: the wall's grid")] = "main",
) -> Response:
    offer = await read_offer(request)
    session = await services.cameras.watch(camera_id, stream, offer, viewer=principal.username)
    session.owner = principal.username
    target = f"{camera_id}/{stream}"
    await audit_staff(services, request, principal, "camera_watched", target)
    # The end is audited however it comes: a DELETE, a closed tab, a lost network, the camera removed.
    client = client_address(request)

    def ended() -> None:
        record = services.audit.record(
            actor=principal.username,
            role=principal.role.value,
            action="camera_watch_ended",
            target=target,
            client=client,
        )
        services.cameras.spawn(record)

    session.on_closed = ended
    return created(services, request, session, "whep", f"cameras/{camera_id}")


@whep_router.delete("/whep/cameras/{camera_id}/{session_id}", summary="Stop watching a camera")
async def whep_camera_end(
    camera_id: CameraId, session_id: SessionId, request: Request, principal: ViewerDep, services: ServicesDep
) -> Response:
    session = services.media.session(session_id)
    if session.feed is None or not session.feed.id.startswith(f"camera-{camera_id}-"):
        raise SessionNotFound(f"session {session_id} does not exist")
    if session.owner != principal.username and principal.role not in CAMERA_KEEPERS:
        raise Forbidden("only the person watching, or a camera keeper, may end this")
    await services.media.end_session(session_id)  # audited as the session ends
    return Response(status_code=200, headers=cors_headers(services, request))


# ---------------------------------------------------------------------------------------- the wall's socket


@socket_router.websocket("/ws/cameras")
async def camera_socket(websocket: WebSocket) -> None:
    """Status changes and motion events as they happen. Signed-in security, staff and admin only."""
    services: Services = websocket.app.state.services
    try:
        principal = await _socket_principal(websocket, services)
    except (NotAuthenticated, Forbidden) as exc:
        # Accepted first, so the page sees why (4401, 4403) rather than a bare failed handshake.
        await websocket.accept()
        await websocket.close(code=4401 if isinstance(exc, NotAuthenticated) else 4403, reason=str(exc)[:120])
        return
    await websocket.accept()
    with services.cameras.bus.listen() as news:
        cameras = await services.cameras.cameras()
        await websocket.send_json(
            {"type": "hello", "user": principal.display_name, "cameras": [camera_view(r, s) for r, s in cameras]}
        )
        reader = asyncio.ensure_future(_drain(websocket))
        try:
            while not reader.done():
                getter = asyncio.ensure_future(news.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await websocket.send_json(getter.result())
                else:
                    getter.cancel()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await reader


async def _drain(websocket: WebSocket) -> None:
    """The wall only listens; reading tells us when it goes."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _socket_principal(websocket: WebSocket, services: Services) -> Principal:
    token = websocket.cookies.get(SESSION_COOKIE)
    if token is None:
        raise NotAuthenticated("sign in first")
    # The sign-in cookie rides along on any site's WebSocket: only the hall's own pages may use it.
    origin = websocket.headers.get("origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != websocket.headers.get("host"):
        raise Forbidden("this socket is for the hall's own pages")
    try:
        principal = await staff_session(services, token, "cookie")
    except TokenError as exc:
        raise NotAuthenticated(str(exc)) from None
    if principal.role not in CAMERA_VIEWERS:
        raise Forbidden(f"role '{principal.role.value}' may not see cameras")
    return principal


def _unknown_profile(token: str) -> CameraError:
    return StreamNotAvailable(f"the camera has no profile '{token}'")
