"""The camera's media profiles, and the fixed tokens its answers are made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

from camera_control.sim.onvif.envelope import invalid

# The tokens of the camera's fixed configurations, with the Hikvision captures' names.

VIDEO_SOURCE_TOKEN = "VideoSource_1"
VIDEO_SOURCE_CONFIG_TOKEN = "VideoSourceToken"
ANALYTICS_CONFIG_TOKEN = "VideoAnalyticsToken"
MOTION_RULE = "MyMotionDetectorRule"


class StreamProfile(NamedTuple):
    """One media profile and the RTSP stream behind it."""

    token: str
    name: str
    path: str
    width: int
    height: int
    fps: int
    encoding: Literal["H264", "H265"]
    bitrate_kbps: int

    @property
    def gov_length(self) -> int:
        return 2 * self.fps  # a key frame every two seconds, the usual factory setting


DEFAULT_STREAMS = (
    StreamProfile("Profile_1", "MainStream", "main", 1920, 1080, 25, "H264", 4096),
    StreamProfile("Profile_2", "SubStream", "sub", 640, 360, 10, "H264", 512),
)


def find_stream(streams: Sequence[StreamProfile], token: str | None) -> StreamProfile:
    """The profile with this token, or the NoProfile fault."""
    stream = next((stream for stream in streams if stream.token == token), None)
    if stream is None:
        raise invalid(f"no profile {token!r}", "ter:NoProfile")
    return stream
