"""The room page's signalling: `/ws/rooms/{room_id}?token=<join token>`, JSON messages both ways.

Connecting joins the room. The client then sends, each with an optional `request_id` echoed back:
  {"type": "publish", "sdp": offer}                      -> {"type": "published", "sdp", "session_id"}
  {"type": "subscribe", "participant_id", "sdp": offer}  -> {"type": "subscribed", "participant_id", "sdp",
                                                             "session_id"}
  {"type": "end_session", "session_id"}                  -> {"type": "session_ended", "session_id"}
  {"type": "mute", "audio": bool?, "video": bool?}       -> a participant_updated event to everyone
  {"type": "program", "layout"?, "shown"?, "caption"?}   -> {"type": "program_directed", "program"}, and a
                                                            program_updated event to everyone (leader, staff
                                                            and admin only; see PUT /api/rooms/{id}/program)
  {"type": "screen_link"}                                -> {"type": "screen_link", "token", "expires_at"}: a
                                                            watch-only token for the big screen (directors)
  {"type": "ping"}                                       -> {"type": "pong"}
  {"type": "leave"}                                      -> the socket closes
A petitioner's reception ticket puts them in the waiting room: their welcome says `"waiting": true` and
carries no roster; they hear nothing of the room until {"type": "admitted", ...} (a welcome, with the roster),
and may send only ping and leave until then. {"type": "removed"} means the reception was ended for them.
The server pushes room events (participant_joined, participant_left, participant_updated, track_published,
track_unpublished, program_updated, room_closed) and {"type": "error", "code", "message", "request_id"} on a
refused request.
A refused connection gets an error message, then a close code: 4401 bad token, 4403 wrong role,
4404 no such room, 4409 room full, 4410 room closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from media_server import MediaError, Participant, RoomEvent, RoomNotFound
from scheduler import SchedulerError, State
from web_ui.deps import Forbidden, NotAuthenticated, join_claims
from web_ui.errors import status_of
from web_ui.identity.roles import ROOM_DIRECTORS, ROOM_MEMBERS, ROOM_OPENERS, ROOM_PUBLISHERS, Role
from web_ui.identity.tokens import JoinClaims, TokenError
from web_ui.routes.appointments import APPOINTMENT_ATTRIBUTE
from web_ui.routes.rooms import ROOM_ID, ProgramDirection, apply_direction
from web_ui.services import Services

logger = logging.getLogger(__name__)
router = APIRouter()

SCREEN_NAME = "大屏"  # how the big screen appears in the roster
OUTBOX_LIMIT = 500  # messages queued for a client that stopped reading; then it is disconnected
MESSAGES_PER_SECOND = 20.0  # a page sends a handful; more is a runaway script
MESSAGE_BURST = 40
ROOM_ID_PATTERN = re.compile(ROOM_ID)
CLOSE_CODES = {401: 4401, 403: 4403, 404: 4404, 409: 4409, 410: 4410}


class BadRequest(Exception):
    pass


@router.websocket("/ws/rooms/{room_id}")
async def room_socket(websocket: WebSocket, room_id: str) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    participant: Participant | None = None
    try:
        if not ROOM_ID_PATTERN.match(room_id):
            raise RoomNotFound("a room id has 1 to 64 letters, digits, '_' or '-'")
        token = websocket.query_params.get("token")
        claims = join_claims(services, token, room_id, frozenset(ROOM_MEMBERS), tickets=True)
        attributes: dict[str, str] = {}
        waiting = False
        if claims.ticket:
            # A petitioner's reception ticket: used up now, and into the waiting room (unless already received).
            appointment = await services.scheduler.reception.redeem_ticket(claims.token_id, room_id)
            attributes[APPOINTMENT_ATTRIBUTE] = str(appointment.id)
            waiting = appointment.state is not State.IN_SESSION
        participant = services.media.join(
            room_id,
            name=claims.name,
            role=claims.role.value,
            may_open=claims.role in ROOM_OPENERS,
            waiting=waiting,
            attributes=attributes,
        )
    except (NotAuthenticated, TokenError, Forbidden, MediaError, SchedulerError) as exc:
        status, code = status_of(exc)
        await websocket.send_json({"type": "error", "code": code, "message": str(exc)})
        await websocket.close(CLOSE_CODES.get(status, 4400), reason=code)
        return
    client = websocket.client.host if websocket.client else None
    try:
        await services.audit.record(
            actor=claims.name,
            role=claims.role.value,
            action="room_join",
            target=f"{room_id}/{participant.id}",
            client=client,
        )
        await RoomConnection(services, websocket, claims, participant).run()
    finally:
        await services.media.leave(participant)
        await services.audit.record(
            actor=claims.name,
            role=claims.role.value,
            action="room_leave",
            target=f"{room_id}/{participant.id}",
            client=client,
        )


class RoomConnection:
    def __init__(self, services: Services, websocket: WebSocket, claims: JoinClaims, participant: Participant) -> None:
        self.services = services
        self.websocket = websocket
        self.claims = claims
        self.participant = participant
        self.outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX_LIMIT)
        self.sessions: set[str] = set()
        self.waiting = participant.waiting
        self._allowance = float(MESSAGE_BURST)
        self._allowance_at = time.monotonic()

    def on_event(self, event: RoomEvent) -> None:
        about_me = event.participant is not None and event.participant["id"] == self.participant.id
        if event.type == "participant_joined" and about_me:
            return  # our own join was announced in the welcome message
        if event.type == "participant_removed":
            if about_me:  # e.g. the leader ended the reception: the page turns to the rating
                self.send({"type": "removed"})
                self.close_soon()
            return  # the others hear participant_left
        if self.waiting:
            # The waiting room hears nothing of the room but its own admission and the room's end.
            if (
                event.type == "participant_updated"
                and about_me
                and event.participant
                and not event.participant["waiting"]
            ):
                self.waiting = False
                self.send(self.welcome("admitted"))
            elif event.type == "room_closed":
                self.send(event.as_message())
                self.close_soon()
            return
        self.send(event.as_message())
        if event.type == "room_closed":
            self.close_soon()

    def welcome(self, kind: str) -> dict[str, Any]:
        room = self.participant.room
        if self.waiting:
            return {
                "type": kind,
                "waiting": True,
                "participant": self.participant.info(),
                "room": {"id": room.id},
                "roster": [],
                "ice_servers": [],
                "permissions": {"publish": False, "open": False, "direct": False},
            }
        return {
            "type": kind,
            "waiting": False,
            "participant": self.participant.info(),
            "room": room.info(),
            "roster": room.roster(),
            "ice_servers": [s.model_dump(exclude_none=True) for s in self.services.settings.media.ice_servers],
            "permissions": {
                "publish": self.claims.role in ROOM_PUBLISHERS,
                "open": self.claims.role in ROOM_OPENERS,
                "direct": self.claims.role in ROOM_DIRECTORS,
            },
        }

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            logger.warning(
                "%s: participant %s stopped reading; disconnecting", self.participant.room.id, self.participant.id
            )
            self.close_soon()

    def close_soon(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait(None)

    async def run(self) -> None:
        room = self.participant.room
        self.send(self.welcome("welcome"))
        room.add_listener(self.on_event)
        writer = asyncio.create_task(self._write())
        try:
            await self._read()
        finally:
            room.remove_listener(self.on_event)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await writer
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close()

    async def _write(self) -> None:
        while True:
            message = await self.outbox.get()
            if message is None:
                await self.websocket.close(1000)
                return
            await self.websocket.send_json(message)

    async def _read(self) -> None:
        while True:
            try:
                text = await self.websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            request_id: Any = None
            if not self._take_allowance():
                self.send({"type": "error", "code": "too_many_messages", "message": "slow down: message ignored"})
                continue
            try:
                message = json.loads(text)
                if not isinstance(message, dict):
                    raise BadRequest("a message is a JSON object")
                request_id = message.get("request_id")
                if message.get("type") == "leave":
                    return
                reply = await self.handle(message)
            except json.JSONDecodeError:
                self.send({"type": "error", "code": "bad_request", "message": "a message is a JSON object"})
                continue
            except (BadRequest, Forbidden, MediaError) as exc:
                code = "bad_request" if isinstance(exc, BadRequest) else status_of(exc)[1]
                self.send({"type": "error", "code": code, "message": str(exc), "request_id": request_id})
                continue
            if reply is not None:
                if request_id is not None:
                    reply["request_id"] = request_id
                self.send(reply)
            if self.outbox.full():
                return

    def _take_allowance(self) -> bool:
        now = time.monotonic()
        self._allowance = min(MESSAGE_BURST, self._allowance + (now - self._allowance_at) * MESSAGES_PER_SECOND)
        self._allowance_at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    async def handle(self, message: dict[str, Any]) -> dict[str, Any] | None:
        kind = message.get("type")
        media = self.services.media
        if kind == "ping":
            return {"type": "pong"}
        if self.waiting:
            raise Forbidden("you are in the waiting room: the leader will let you in")
        if self.participant.id not in self.participant.room.participants:
            raise Forbidden("you are no longer in this room")  # removed (the reception ended): nothing more opens
        if kind == "publish":
            if self.claims.role not in ROOM_PUBLISHERS:
                raise Forbidden(f"role '{self.claims.role.value}' may not publish")
            session = await media.publish(self.participant, _text(message, "sdp"))
            self.sessions.add(session.id)
            return {"type": "published", "sdp": session.answer_sdp, "session_id": session.id}
        if kind == "subscribe":
            source = _text(message, "participant_id")
            session = await media.subscribe(self.participant, source, _text(message, "sdp"))
            self.sessions.add(session.id)
            return {"type": "subscribed", "participant_id": source, "sdp": session.answer_sdp, "session_id": session.id}
        if kind == "end_session":
            session_id = _text(message, "session_id")
            if session_id not in self.sessions:
                raise BadRequest("not one of this connection's sessions")
            self.sessions.discard(session_id)
            if session_id in media.sessions:
                await media.end_session(session_id)
            return {"type": "session_ended", "session_id": session_id}
        if kind == "mute":
            audio, video = message.get("audio"), message.get("video")
            if not all(v is None or isinstance(v, bool) for v in (audio, video)):
                raise BadRequest("audio and video are true or false")
            media.set_muted(self.participant, audio=audio, video=video)
            return None
        if kind == "program":
            return await self._direct_program(message)
        if kind == "screen_link":
            return await self._screen_link()
        raise BadRequest(f"unknown message type '{kind}'")

    async def _screen_link(self) -> dict[str, Any]:
        """A watch-only token for the big screen: never the director's own, which could publish and direct."""
        if self.claims.role not in ROOM_DIRECTORS:
            raise Forbidden(f"role '{self.claims.role.value}' may not make a big-screen link")
        room_id = self.participant.room.id
        ttl = self.services.settings.auth.join_token_max_ttl_seconds  # a screen stays on all day
        token = self.services.tokens.issue_join(room_id, Role.OBSERVER, SCREEN_NAME, ttl)
        await self.services.audit.record(
            actor=self.claims.name,
            role=self.claims.role.value,
            action="screen_link_issued",
            target=room_id,
            client=self.websocket.client.host if self.websocket.client else None,
        )
        return {"type": "screen_link", "token": token, "expires_at": int(time.time()) + ttl}

    async def _direct_program(self, message: dict[str, Any]) -> dict[str, Any] | None:
        if self.claims.role not in ROOM_DIRECTORS:
            raise Forbidden(f"role '{self.claims.role.value}' may not direct the program")
        fields = {key: message[key] for key in ("layout", "shown", "caption") if key in message}
        try:
            direction = ProgramDirection.model_validate(fields)
        except ValidationError as exc:
            raise BadRequest(f"invalid program direction: {exc.errors()[0]['msg']}") from None
        info, changes = apply_direction(self.services, self.participant.room.id, direction)
        await self.services.audit.record(
            actor=self.claims.name,
            role=self.claims.role.value,
            action="program_directed",
            target=self.participant.room.id,
            client=self.websocket.client.host if self.websocket.client else None,
            detail=changes,
        )
        return {"type": "program_directed", "program": info}


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{key}' is required")
    return value
