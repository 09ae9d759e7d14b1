"""The media section of the settings tree: networking, limits and forwarding knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class IceServer(BaseModel):
    """A STUN or TURN server handed to clients (and optionally used by the server itself)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _header_safe(self) -> IceServer:
        # These go into quoted Link header parameters (RFC 9725): no quotes, backslashes or line breaks.
        for value in [*self.urls, self.username or "", self.credential or ""]:
            if any(c in value for c in '"\\\r\n'):
                raise ValueError("ICE server URLs and credentials may not contain quotes, backslashes or line breaks")
        return self

    urls: list[str] = Field(description="stun:, turn: or turns: URLs, e.g. turn:turn.example.cn:3478")
    username: str | None = Field(default=None, description="TURN username")
    credential: str | None = Field(default=None, description="TURN password (never logged)")


class ProgramSettings(BaseModel):
    """Each room's program feed: the composed picture and the mixed sound."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(default=1280, ge=160, le=3840, multiple_of=2, description="program picture width (even)")
    height: int = Field(default=720, ge=120, le=2160, multiple_of=2, description="program picture height (even)")
    fps: int = Field(default=25, ge=1, le=60, description="program frame rate")
    video_bitrate: int = Field(default=2_000_000, ge=100_000, le=20_000_000, description="program video bits/s")
    video_codec: Literal["H264", "VP8"] = Field(
        default="H264",
        description="codec of the program picture for a viewer that takes both: H.264 costs the server about"
        " half of VP8's encode (for 0.1-0.7 dB less PSNR at the same rate), phones and set-top boxes decode it"
        " in hardware, and it is what recordings and links to other conference systems carry",
    )
    audio_bitrate: int = Field(default=64_000, ge=16_000, le=256_000, description="program Opus bits/s")
    time_zone: str = Field(default="Asia/Shanghai", description="time zone of the clock drawn in the picture")
    clock: bool = Field(default=True, description="draw the date and time in the top right corner")
    font_path: str | None = Field(
        default=None, description="font file for labels; default: a Chinese font found through fontconfig"
    )
    idle_timeout: float = Field(
        default=5.0, ge=0, le=600, description="seconds the program keeps decoding after its last viewer leaves"
    )


class MediaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    udp_port_min: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="lowest UDP port for media; 0 with udp_port_max 0 lets the OS choose",
    )
    udp_port_max: int = Field(default=0, ge=0, le=65535, description="highest UDP port for media")
    interfaces: list[str] = Field(
        default_factory=list,
        description="IP addresses to gather host candidates on; empty means every non-loopback one",
    )
    advertised_addresses: list[str] = Field(
        default_factory=list,
        description="public addresses announced as host candidates for 1:1 NAT (like Janus nat_1_1_mapping)",
    )
    ice_servers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN servers handed to browsers and WHIP/WHEP clients",
    )
    server_uses_ice_servers: bool = Field(
        default=False,
        description="also gather server-reflexive/relayed candidates on the server",
    )
    ice_consent_interval: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="seconds between ICE consent checks (RFC 7675); a vanished peer is dropped after"
        " interval x failures",
    )
    ice_consent_failures: int = Field(
        default=6, ge=1, le=100, description="missed consent checks before a peer is dropped"
    )
    connect_timeout: float = Field(
        default=30.0,
        gt=0,
        le=300,
        description="seconds a new peer connection has to connect before its session is dropped",
    )
    max_sessions_per_participant: int = Field(
        default=40,
        ge=2,
        le=1000,
        description="peer connections one participant may hold (publish + subscriptions)",
    )
    max_viewers_per_feed: int = Field(
        default=64, ge=1, le=10000, description="WHEP viewers one feed (a camera stream) may have at once"
    )
    max_participants_per_room: int = Field(default=32, ge=1, le=1000, description="a full room refuses joins")
    subscriber_send_buffer_bytes: int = Field(
        default=64 * 1024,
        ge=4096,
        le=16 * 1024 * 1024,
        description="bytes backed up in a subscriber's send buffer before it skips to the next keyframe",
    )
    keyframe_request_interval: float = Field(
        default=0.5,
        ge=0.05,
        le=10,
        description="seconds between keyframe requests (PLI) sent to one publisher",
    )
    max_sdp_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024, description="largest SDP accepted")
    preferred_video_codec: Literal["VP8", "H264"] = Field(
        default="VP8",
        description="codec chosen when a publisher offers several",
    )
    program: ProgramSettings = Field(default_factory=ProgramSettings, description="each room's program feed")

    @model_validator(mode="after")
    def _port_range(self) -> MediaSettings:
        if (self.udp_port_min == 0) != (self.udp_port_max == 0):
            raise ValueError("set both udp_port_min and udp_port_max, or neither")
        if self.udp_port_min > self.udp_port_max:
            raise ValueError("udp_port_min is above udp_port_max")
        return self

    @property
    def port_range(self) -> tuple[int, int] | None:
        if self.udp_port_min == 0:
            return None
        return (self.udp_port_min, self.udp_port_max)
