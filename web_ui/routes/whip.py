"""WHIP (RFC 9725) ingest and WHEP egress: the standard edges any encoder, player or other hall uses.

POST an SDP offer with `Authorization: Bearer <join token>`; the answer comes back with 201, the session
resource in `Location`, the participant in `X-Participant-Id`, and the ICE servers in `Link` headers.
DELETE on the resource ends it. Trickle ICE and ICE restarts are not supported (PATCH -> 405).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from media_server import Participant, PeerSession, SessionNotFound
from web_ui.deps import Forbidden, ServicesDep, bearer_token, client_address, join_claims
from web_ui.errors import BadSdpEncoding, PayloadTooLarge, UnsupportedMediaType
from web_ui.identity.roles import ROOM_MEMBERS, ROOM_OPENERS, ROOM_PUBLISHERS
from web_ui.identity.tokens import JoinClaims
from web_ui.routes.rooms import ROOM_ID
from web_ui.services import Services

router = APIRouter(tags=["whip-whep"])
RoomId = Annotated[str, Path(pattern=ROOM_ID)]
SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
SDP = "application/sdp"
EXPOSED = "Location, Link, X-Participant-Id, Accept-Post, Content-Type"


def cors_headers(services: Services, request: Request) -> dict[str, str]:
    allowed = services.settings.server.cors_origins
    origin = request.headers.get("origin")
    if origin is None:
        return {}
    if "*" in allowed:
        value = "*"
    elif origin in allowed:
        value = origin
    else:
        return {}
    return {
        "Access-Control-Allow-Origin": value,
        "Access-Control-Expose-Headers": EXPOSED,
        "Vary": "Origin",
    }


def ice_link_headers(services: Services) -> list[str]:
    """ICE servers as Link headers (RFC 9725 section 4.6), TURN credentials included."""
    links = []
    for server in services.settings.media.ice_servers:
        for url in server.urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username is not None and server.credential is not None:
                link += f'; username="{server.username}"; credential="{server.credential}"; credential-type="password"'
            links.append(link)
    return links


async def read_offer(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != SDP:
        raise UnsupportedMediaType(f"send the SDP offer as {SDP}, not '{content_type or 'nothing'}'")
    limit = request.app.state.services.settings.media.max_sdp_bytes
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the SDP offer is larger than {limit} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSdpEncoding("the SDP offer is not UTF-8 text") from None


def created(services: Services, request: Request, session: PeerSession, kind: str, room_id: str) -> Response:
    response = Response(session.answer_sdp, status_code=201, media_type=SDP)
    response.headers["Location"] = f"/{kind}/{room_id}/{session.id}"
    if session.participant is not None:
        response.headers["X-Participant-Id"] = session.participant.id
    for link in ice_link_headers(services):
        response.headers.append("Link", link)
    response.headers.update(cors_headers(services, request))
    return response


async def start_session(
    participant: Participant, negotiation: Awaitable[PeerSession], services: Services, claims: JoinClaims
) -> PeerSession:
    """A WHIP/WHEP session for its own transient participant, who leaves if it cannot start."""
    try:
        session = await negotiation
    except Exception:
        await services.media.leave(participant)
        raise
    session.owner = claims.token_id
    return session


async def audit(services: Services, request: Request, claims: JoinClaims, action: str, target: str) -> None:
    await services.audit.record(
        actor=claims.name, role=claims.role.value, action=action, target=target, client=client_address(request)
    )


# ---------------------------------------------------------------------------------------- WHIP


@router.post(
    "/whip/{room_id}",
    status_code=201,
    summary="Publish into a room (WHIP)",
    response_class=Response,
    responses={201: {"content": {SDP: {}}}},
)
async def whip_publish(room_id: RoomId, request: Request, services: ServicesDep) -> Response:
    claims = join_claims(services, bearer_token(request), room_id, frozenset(ROOM_PUBLISHERS))
    offer = await read_offer(request)
    media = services.media
    participant = media.join(
        room_id, name=claims.name, role=claims.role.value, may_open=claims.role in ROOM_OPENERS, transient=True
    )
    session = await start_session(participant, media.publish(participant, offer), services, claims)
    await audit(services, request, claims, "whip_publish", f"{room_id}/{participant.id}")
    return created(services, request, session, "whip", room_id)


# ---------------------------------------------------------------------------------------- WHEP


@router.post(
    "/whep/{room_id}",
    status_code=201,
    summary="Watch a participant, or the room's program (WHEP)",
    response_class=Response,
    responses={201: {"content": {SDP: {}}}},
)
async def whep_subscribe(
    room_id: RoomId,
    request: Request,
    services: ServicesDep,
    participant: Annotated[str | None, Query(max_length=64, description="the participant to watch")] = None,
) -> Response:
    claims = join_claims(services, bearer_token(request), room_id, frozenset(ROOM_MEMBERS))
    offer = await read_offer(request)
    media = services.media
    media.room(room_id)
    if participant is not None:
        media.participant(room_id, participant)
    viewer = media.join(room_id, name=claims.name, role=claims.role.value, may_open=False, transient=True)
    if participant is None:
        session = await start_session(viewer, media.subscribe_program(viewer, offer), services, claims)
        await audit(services, request, claims, "whep_program", room_id)
    else:
        session = await start_session(viewer, media.subscribe(viewer, participant, offer), services, claims)
        await audit(services, request, claims, "whep_subscribe", f"{room_id}/{participant}")
    return created(services, request, session, "whep", room_id)


# ---------------------------------------------------------------------------------------- both


async def end_session(room_id: str, session_id: str, request: Request, services: Services, kind: str) -> Response:
    claims = join_claims(services, bearer_token(request), room_id, frozenset(ROOM_MEMBERS))
    session = services.media.session(session_id)
    expected = ("publish",) if kind == "whip" else ("subscribe", "program")
    participant = session.participant
    if participant is None or participant.room.id != room_id or session.purpose not in expected:
        # The same 404 as an unknown session: do not confirm that it exists.
        raise SessionNotFound(f"session {session_id} does not exist")
    if claims.token_id != session.owner and claims.role not in ROOM_OPENERS:
        raise Forbidden("only the token that started this session, or the room's hosts, may end it")
    await services.media.end_session(session_id)
    await audit(services, request, claims, f"{kind}_end", f"{room_id}/{participant.id}")
    return Response(status_code=200, headers=cors_headers(services, request))


@router.delete("/whip/{room_id}/{session_id}", summary="End a WHIP session")
async def whip_delete(room_id: RoomId, session_id: SessionId, request: Request, services: ServicesDep) -> Response:
    return await end_session(room_id, session_id, request, services, "whip")


@router.delete("/whep/{room_id}/{session_id}", summary="End a WHEP session")
async def whep_delete(room_id: RoomId, session_id: SessionId, request: Request, services: ServicesDep) -> Response:
    return await end_session(room_id, session_id, request, services, "whep")


def _preflight(request: Request, services: Services, methods: str) -> Response:
    headers = {
        **cors_headers(services, request),
        "Allow": methods,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
        "Access-Control-Max-Age": "600",
    }
    if "POST" in methods:
        headers["Accept-Post"] = SDP
    return Response(status_code=204, headers=headers)


@router.options("/whip/{room_id}", include_in_schema=False)
@router.options("/whep/{room_id}", include_in_schema=False)
async def endpoint_options(request: Request, services: ServicesDep) -> Response:
    return _preflight(request, services, "POST, OPTIONS")


@router.options("/whip/{room_id}/{session_id}", include_in_schema=False)
@router.options("/whep/{room_id}/{session_id}", include_in_schema=False)
async def resource_options(request: Request, services: ServicesDep) -> Response:
    return _preflight(request, services, "DELETE, OPTIONS")


@router.patch("/whip/{room_id}/{session_id}", include_in_schema=False)
@router.patch("/whep/{room_id}/{session_id}", include_in_schema=False)
async def resource_patch(request: Request, services: ServicesDep) -> Response:
    # RFC 9725 section 4.3.1: a resource without trickle ICE or ICE restarts answers PATCH with 405.
    return Response(status_code=405, headers={"Allow": "DELETE, OPTIONS", **cors_headers(services, request)})
