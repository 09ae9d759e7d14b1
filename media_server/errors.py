"""The media server's errors. The web edge maps them to HTTP statuses and socket messages."""

from __future__ import annotations


class MediaError(Exception):
    """Root of every error media_server raises on purpose."""


class InvalidOffer(MediaError):
    """The SDP offer is malformed, hostile or of the wrong shape."""


class UnsupportedCodecs(MediaError):
    """No offered codec is one this server forwards."""


class CodecMismatch(MediaError):
    """The subscriber cannot receive the publisher's codec, and forwarding never transcodes."""


class RoomNotFound(MediaError):
    pass


class RoomClosed(MediaError):
    pass


class RoomFull(MediaError):
    pass


class ParticipantNotFound(MediaError):
    pass


class SessionNotFound(MediaError):
    pass


class FeedNotFound(MediaError):
    pass


class NothingToSubscribe(MediaError):
    """The participant publishes no media yet."""


class ProgramNotAvailable(MediaError):
    """The room's program feed cannot run on this server (no font for its labels)."""


class NegotiationFailed(MediaError):
    """aiortc could not complete the offer/answer."""


class SessionLimit(MediaError):
    """The participant holds as many peer connections as it may."""


class InvalidProgram(MediaError):
    """A program direction that cannot be followed (a participant shown twice, an empty caption list...)."""


class UnknownLayout(InvalidProgram):
    """A program layout name the compositor does not know."""


class NotAdmitted(MediaError):
    """A participant still in the waiting room sends or receives no media until someone admits them."""
