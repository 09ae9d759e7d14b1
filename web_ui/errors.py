"""HTTP statuses are chosen here, at the edge; the domain raises its own errors."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import camera_control.errors as cameras
import media_server.errors as media
import scheduler.errors as scheduling
from web_ui.deps import Forbidden, NotAuthenticated
from web_ui.identity import users as identity
from web_ui.identity.throttle import TooManyAttempts
from web_ui.identity.tokens import TokenError
from web_ui.redaction import redact

logger = logging.getLogger(__name__)


class UnsupportedMediaType(Exception):
    """The body is not of the content type the route takes (415)."""


class PayloadTooLarge(Exception):
    """The body is larger than the route takes (413)."""


class BadSdpEncoding(Exception):
    """The body is not text (400)."""


class NotWaiting(Exception):
    """Admitting a petitioner who is not in the waiting room (409)."""


class CameraRejected(Exception):
    """Adding or re-checking a camera failed: the camera's own error, answered 422 with its code."""

    def __init__(self, cause: cameras.CameraError) -> None:
        super().__init__(str(cause))
        self.code = cause.code


# A code of None: the error carries its own `code` (the cameras' errors do).
STATUS: list[tuple[type[Exception], int, str | None]] = [
    (NotAuthenticated, 401, "not_authenticated"),
    (TokenError, 401, "invalid_token"),
    (identity.InvalidCredentials, 401, "invalid_credentials"),
    (Forbidden, 403, "forbidden"),
    (UnsupportedMediaType, 415, "unsupported_media_type"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (BadSdpEncoding, 400, "invalid_sdp"),
    (identity.AccountLocked, 429, "account_locked"),
    (TooManyAttempts, 429, "too_many_attempts"),
    (media.SessionLimit, 429, "too_many_sessions"),
    (identity.UserExists, 409, "user_exists"),
    (identity.UserNotFound, 404, "user_not_found"),
    (identity.IdentityError, 400, "invalid_request"),
    (media.InvalidOffer, 400, "invalid_sdp"),
    (media.UnsupportedCodecs, 422, "unsupported_codecs"),
    (media.CodecMismatch, 422, "codec_mismatch"),
    (media.NegotiationFailed, 400, "negotiation_failed"),
    (media.RoomNotFound, 404, "room_not_found"),
    (media.ParticipantNotFound, 404, "participant_not_found"),
    (media.SessionNotFound, 404, "session_not_found"),
    (media.ProgramNotAvailable, 503, "program_not_available"),
    (media.InvalidProgram, 422, "invalid_program"),
    (media.NothingToSubscribe, 409, "nothing_published"),
    (media.RoomFull, 409, "room_full"),
    (media.RoomClosed, 410, "room_closed"),
    (media.NotAdmitted, 403, "not_admitted"),
    (media.FeedNotFound, 404, "feed_not_found"),
    (media.MediaError, 400, "media_error"),
    (NotWaiting, 409, "not_waiting"),
    (scheduling.NotYourReception, 403, None),
    (scheduling.UnknownLink, 404, None),
    (scheduling.NotFound, 404, None),
    (scheduling.InvalidRequest, 422, None),
    (scheduling.TooLate, 410, None),
    (scheduling.TicketRefused, 409, None),
    (scheduling.Refused, 409, None),
    (scheduling.SchedulerError, 400, None),
    (CameraRejected, 422, None),
    (cameras.CameraNotFound, 404, None),
    (cameras.PresetNotFound, 404, None),
    (cameras.CameraExists, 409, None),
    (cameras.DeskTaken, 409, None),
    (cameras.PtzNotSupported, 409, None),
    (cameras.StreamNotAvailable, 409, None),
    (cameras.CameraAuthFailed, 502, None),  # the hall's stored password no longer works: the camera's side
    (cameras.CameraUnreachable, 503, None),
    (cameras.CameraTimeout, 504, None),
    (cameras.CameraError, 502, None),
]


def status_of(exc: Exception) -> tuple[int, str]:
    for kind, status, code in STATUS:
        if isinstance(exc, kind):
            return status, code or str(getattr(exc, "code", "error"))
    return 500, "internal_error"


def install(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status, code = status_of(exc)
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if isinstance(exc, TokenError) else "Bearer"
        logger.info("%s %s -> %d %s: %s", request.method, redact(request.url.path), status, code, exc)
        return JSONResponse({"error": code, "message": str(exc)}, status_code=status, headers=headers)

    for kind, _status, _code in STATUS:
        app.add_exception_handler(kind, handle)
