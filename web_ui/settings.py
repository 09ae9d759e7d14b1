"""One settings tree for the whole hall: a TOML file, then HALL_* environment variables, then the CLI.

Environment variables name nested fields with double underscores, e.g. HALL_MEDIA__UDP_PORT_MIN=40000
or HALL_AUTH__SECRET_KEY=... (secrets belong in the environment, not in the file).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from camera_control.settings import CameraSettings
from media_server import MediaSettings
from scheduler import SchedulerSettings


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="address the HTTP server listens on")
    port: int = Field(default=8080, ge=1, le=65535, description="HTTP(S) port")
    data_dir: Path = Field(default=Path("data"), description="SQLite database, secret key and recordings")
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain for HTTPS")
    tls_key: Path | None = Field(default=None, description="PEM private key for HTTPS")
    self_signed: bool = Field(default=False, description="generate a self-signed certificate for a LAN trial")
    public_url: str | None = Field(default=None, description="the URL people open, used in printed links")
    time_zone: str = Field(default="Asia/Shanghai", description="the hall's time zone for display")
    default_language: Literal["zh-CN", "en"] = Field(default="zh-CN", description="page language by default")
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="origins allowed to call WHIP/WHEP from a browser (WHIP clients send a bearer token)",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None or self.self_signed


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret_key: SecretStr | None = Field(
        default=None,
        description="signing key for tokens; generated into the data dir when unset",
    )
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 86400, description="staff sign-in lifetime")
    join_token_ttl_seconds: int = Field(
        default=2 * 3600, ge=10, le=7 * 86400, description="default join-token lifetime"
    )
    join_token_max_ttl_seconds: int = Field(
        default=24 * 3600, ge=60, le=30 * 86400, description="longest join token issued"
    )
    max_failed_logins: int = Field(default=5, ge=1, le=100, description="failed sign-ins before a pause")
    lockout_seconds: int = Field(default=300, ge=1, le=86400, description="pause after too many failed sign-ins")


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite in the data dir. PostgreSQL:"
        " postgresql+asyncpg://user@host/db",
    )


class HallSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HALL_", env_nested_delimiter="__", extra="forbid")

    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    cameras: CameraSettings = Field(default_factory=CameraSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @property
    def public_url(self) -> str:
        """The URL people open (SMS links, printed links): the configured one, else where the server listens."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        scheme = "https" if self.server.tls else "http"
        host = "127.0.0.1" if self.server.host in ("0.0.0.0", "::") else self.server.host
        return f"{scheme}://{host}:{self.server.port}"

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.server.data_dir / 'hall.db').resolve()}"


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(config_file: Path | None = None, **overrides: Any) -> HallSettings:
    """Settings from a TOML file (or $HALL_CONFIG), the environment, then `overrides` (nested dicts)."""
    values: dict[str, Any] = {}
    path = config_file or (Path(os.environ["HALL_CONFIG"]) if os.environ.get("HALL_CONFIG") else None)
    if path is not None:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    # The environment beats the file; explicit overrides (the CLI) beat both.
    from_env = HallSettings().model_dump(exclude_unset=True)
    return HallSettings(**_merge(_merge(values, from_env), overrides))
