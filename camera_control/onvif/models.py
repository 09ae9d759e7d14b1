"""What callers of the adapter see: small frozen dataclasses, never a zeep object."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Literal

NormalizedTopic = Literal["motion", "person", "vehicle", "animal", "intrusion"]


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class Resolution:
    width: int
    height: int


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    token: str
    name: str
    encoding: str | None  # "H264", "H265", "JPEG", "MPEG4"...; None when the camera does not say
    resolution: Resolution | None
    fps: float | None
    bitrate_kbps: int | None  # None when unlimited or not said
    video_source_token: str | None
    ptz: bool  # the profile has a PTZ configuration: PTZ calls can use its token


@dataclasses.dataclass(frozen=True, slots=True)
class PtzCapabilities:
    continuous: bool
    absolute: bool
    relative: bool
    presets: bool
    home: bool
    zoom: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PtzPreset:
    token: str
    name: str
    pan: float | None
    tilt: float | None
    zoom: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class PtzStatus:
    pan: float | None
    tilt: float | None
    zoom: float | None
    moving: bool | None  # None when the camera does not report its move status


@dataclasses.dataclass(frozen=True, slots=True)
class MotionEvent:
    topic: NormalizedTopic
    raw_topic: str  # the topic as the camera wrote it
    source: str  # video source (configuration) token, or the rule's name when the camera gives no source
    active: bool
    at: dt.datetime  # UTC, corrected for the camera's clock offset
    rule: str | None = None  # the analytics rule that fired, when the camera names one


@dataclasses.dataclass(frozen=True, slots=True)
class CameraInfo:
    device: DeviceInfo
    profiles: tuple[Profile, ...]
    ptz: PtzCapabilities | None
    events: bool  # the camera offers an event service (PullPoint is tried: see `MotionSubscription`)
    clock_offset: float  # seconds the camera's clock is ahead of ours (negative: behind)


class SubscriptionState(enum.Enum):
    IDLE = "idle"
    SUBSCRIBING = "subscribing"
    PULLING = "pulling"
    RECOVERING = "recovering"  # the subscription was lost; waiting before subscribing again
    STOPPING = "stopping"
    STOPPED = "stopped"
