"""The hall's cameras: ONVIF control, discovery, the registry, RTSP ingest, motion events, and a simulator.

The rest of the hall uses `CameraService` (built once per process by the web edge). Other parts call
`CameraService.point_at_desk(desk)` to turn a reception desk's camera to its preset before a session.
"""

from camera_control.errors import (
    CameraAuthFailed,
    CameraError,
    CameraExists,
    CameraNotFound,
    CameraProtocolError,
    CameraTimeout,
    CameraUnreachable,
    DeskTaken,
    PresetNotFound,
    PtzNotSupported,
    StreamNotAvailable,
)
from camera_control.registry import CameraRecord, MotionEventRecord, PresetRecord
from camera_control.service import CameraDraft, CameraService
from camera_control.settings import CameraSettings

__all__ = [
    "CameraAuthFailed",
    "CameraDraft",
    "CameraError",
    "CameraExists",
    "CameraNotFound",
    "CameraProtocolError",
    "CameraRecord",
    "CameraService",
    "CameraSettings",
    "CameraTimeout",
    "CameraUnreachable",
    "DeskTaken",
    "MotionEventRecord",
    "PresetNotFound",
    "PresetRecord",
    "PtzNotSupported",
    "StreamNotAvailable",
]
