"""The cameras' section of the hall's settings ([cameras] in the TOML file, HALL_CAMERAS__* in the environment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class CameraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that encrypts camera passwords at rest; generated into the data dir when unset",
    )
    onvif_timeout: float = Field(default=5.0, gt=0, le=60, description="seconds an ONVIF call may take")
    rtsp_timeout: float = Field(default=5.0, gt=0, le=60, description="seconds to open an RTSP stream or wait for data")
    reconnect_min: float = Field(default=0.5, gt=0, le=60, description="first wait before reconnecting a lost stream")
    reconnect_max: float = Field(default=10.0, gt=0, le=600, description="longest wait between reconnects")
    idle_stop: float = Field(
        default=5.0, ge=0, le=600, description="seconds a stream keeps running after the last viewer leaves"
    )
    health_interval: float = Field(
        default=15.0, gt=0, le=3600, description="seconds between checks that a camera answers"
    )
    motion_fps: float = Field(default=5.0, gt=0, le=30, description="pictures a second motion detection looks at")
    motion_hold: float = Field(
        default=3.0, ge=0, le=600, description="seconds without motion before a motion event ends"
    )
    event_retention_days: int = Field(default=90, ge=1, le=3650, description="days motion events are kept")
