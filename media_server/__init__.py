"""Rooms, participants, WebRTC peers, signalling-free selective forwarding, and the media node.

Knows nothing of appointments or cameras: it offers rooms, feeds (outside sources), and sinks.
"""

from media_server.aiortc_adapter import (
    AiortcInternalsMoved,
    CodecInfo,
    EncodedFrame,
    check_internals,
    h264_has_nal,
)
from media_server.errors import (
    CodecMismatch,
    FeedNotFound,
    InvalidOffer,
    InvalidProgram,
    MediaError,
    NegotiationFailed,
    NotAdmitted,
    NothingToSubscribe,
    ParticipantNotFound,
    ProgramNotAvailable,
    RoomClosed,
    RoomFull,
    RoomNotFound,
    SessionLimit,
    SessionNotFound,
    UnknownLayout,
    UnsupportedCodecs,
)
from media_server.feeds import FEED_H264, Feed
from media_server.forwarding import ForwardedFrame, ForwardedTrack, TrackForwarder
from media_server.node import UNSET, MediaNode, PeerSession
from media_server.program import ProgramSource
from media_server.rooms import (
    Participant,
    ProgramState,
    Publication,
    Room,
    RoomEvent,
    RoomEventType,
    Subscription,
)
from media_server.settings import IceServer, MediaSettings
from media_server.stats import MediaStats

__all__ = [
    "FEED_H264",
    "UNSET",
    "AiortcInternalsMoved",
    "CodecInfo",
    "CodecMismatch",
    "EncodedFrame",
    "Feed",
    "FeedNotFound",
    "ForwardedFrame",
    "ForwardedTrack",
    "IceServer",
    "InvalidOffer",
    "InvalidProgram",
    "MediaError",
    "MediaNode",
    "MediaSettings",
    "MediaStats",
    "NegotiationFailed",
    "NotAdmitted",
    "NothingToSubscribe",
    "Participant",
    "ParticipantNotFound",
    "PeerSession",
    "ProgramNotAvailable",
    "ProgramSource",
    "ProgramState",
    "Publication",
    "Room",
    "RoomClosed",
    "RoomEvent",
    "RoomEventType",
    "RoomFull",
    "RoomNotFound",
    "SessionLimit",
    "SessionNotFound",
    "Subscription",
    "TrackForwarder",
    "UnknownLayout",
    "UnsupportedCodecs",
    "check_internals",
    "h264_has_nal",
]
