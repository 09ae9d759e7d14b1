"""Rooms and who is in them: Room, Participant, Publication, Subscription, and their events.

The vocabulary is LiveKit's. These objects hold state only; `MediaNode` (node.py) owns the peer
connections and keeps the objects here in step with them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from typing import Any, Literal

from media_server.forwarding import TrackForwarder

logger = logging.getLogger(__name__)

RoomEventType = Literal[
    "participant_joined",
    "participant_left",
    "participant_updated",
    "participant_removed",
    "track_published",
    "track_unpublished",
    "program_updated",
    "room_closed",
]

RoomListener = Callable[["RoomEvent"], None]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(9)}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class RoomEvent:
    type: RoomEventType
    room_id: str
    participant: dict[str, Any] | None = None
    publication: dict[str, Any] | None = None
    program: dict[str, Any] | None = None

    def as_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"type": self.type, "room_id": self.room_id}
        if self.participant is not None:
            message["participant"] = self.participant
        if self.publication is not None:
            message["publication"] = self.publication
        if self.program is not None:
            message["program"] = self.program
        return message


AUTO_LAYOUT = "auto"  # the layout follows the number of people shown


@dataclasses.dataclass
class ProgramState:
    """How the room's program is directed. Lives on the Room, so it outlasts an idle program."""

    layout: str = AUTO_LAYOUT
    shown: list[str] | None = None  # participant ids in tile order; None: everyone who publishes
    caption: str | None = None  # over the picture, e.g. the case number
    recording: bool = False  # set by whoever records: draws the 「录像中 REC」 notice

    def info(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(eq=False)
class Publication:
    id: str
    participant: Participant
    kind: str
    forwarder: TrackForwarder
    created_at: dt.datetime = dataclasses.field(default_factory=utcnow)

    def info(self) -> dict[str, Any]:
        codec = self.forwarder.codec
        return {
            "id": self.id,
            "participant_id": self.participant.id,
            "kind": self.kind,
            "codec": codec.name if codec else None,
            "subscribers": len(self.forwarder.tracks),
        }


@dataclasses.dataclass(eq=False)
class Subscription:
    id: str
    subscriber: Participant
    publication: Publication


@dataclasses.dataclass(eq=False)
class Participant:
    id: str
    room: Room
    name: str
    role: str
    # A transient participant exists for one WHIP or WHEP session and leaves when it ends.
    transient: bool = False
    joined_at: dt.datetime = dataclasses.field(default_factory=utcnow)
    publications: dict[str, Publication] = dataclasses.field(default_factory=dict)
    subscriptions: dict[str, Subscription] = dataclasses.field(default_factory=dict)
    audio_muted: bool = False
    video_muted: bool = False
    # In the waiting room: no media to or from anyone until admitted (see MediaNode.admit).
    waiting: bool = False
    # What the application tags a participant with (e.g. the appointment it came for); shown in the roster.
    attributes: dict[str, str] = dataclasses.field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "joined_at": self.joined_at.isoformat(),
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "waiting": self.waiting,
            "attributes": dict(self.attributes),
            "publications": [p.info() for p in self.publications.values()],
        }


class Room:
    def __init__(self, room_id: str, *, opened_by: str, max_participants: int) -> None:
        self.id = room_id
        self.opened_by = opened_by
        self.max_participants = max_participants
        self.created_at = utcnow()
        self.participants: dict[str, Participant] = {}
        self.closed = False
        self.program = ProgramState()
        self._listeners: list[RoomListener] = []

    def add_listener(self, listener: RoomListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: RoomListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, event: RoomEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not stop the others hearing it
                logger.exception("%s: listener failed on %s", self.id, event.type)

    def roster(self) -> list[dict[str, Any]]:
        return [p.info() for p in self.participants.values()]

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "opened_by": self.opened_by,
            "created_at": self.created_at.isoformat(),
            "participants": len(self.participants),
            "max_participants": self.max_participants,
            "closed": self.closed,
        }
