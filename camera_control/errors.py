"""The camera package's errors. The web edge maps them to HTTP statuses and translated pages by `code`.

Messages are written for the security officer who reads them on a page: what went wrong with which
camera, and what to check. They never contain a password, a digest or a URI with credentials.
"""

from __future__ import annotations


class CameraError(Exception):
    """Root of every error camera_control raises on purpose."""

    code = "camera_error"

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class CameraUnreachable(CameraError):
    """Nothing answers at the camera's address: connection refused, unknown name, no route."""

    code = "camera_unreachable"


class CameraTimeout(CameraError):
    """The camera accepted the connection (or not) but never answered in time."""

    code = "camera_timeout"


class CameraAuthFailed(CameraError):
    """The camera refused the user name or password."""

    code = "camera_auth_failed"


class CameraProtocolError(CameraError):
    """The camera answered with something that is not a usable ONVIF answer (broken XML, wrong shape)."""

    code = "camera_protocol_error"


class PtzNotSupported(CameraError):
    """The camera (or this profile) cannot pan, tilt or zoom, or not in the way asked."""

    code = "ptz_not_supported"


class PresetNotFound(CameraError):
    """The camera has no preset with that token."""

    code = "preset_not_found"


class CameraNotFound(CameraError):
    """No camera with that id is registered."""

    code = "camera_not_found"


class CameraOperationFailed(CameraError):
    """The camera understood the request and refused it; `reason` is the camera's own words."""

    code = "camera_operation_failed"

    def __init__(self, message: str, *, host: str | None = None, reason: str = "") -> None:
        super().__init__(message, host=host)
        self.reason = reason


class CameraExists(CameraError):
    """A camera at that address is registered already."""

    code = "camera_exists"


class DeskTaken(CameraError):
    """That desk already has a camera preset."""

    code = "desk_taken"


class StreamNotAvailable(CameraError):
    """The camera offers no stream of the kind asked for (no media profile, no sub stream)."""

    code = "stream_not_available"
