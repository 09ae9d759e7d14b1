"""The services the web edge uses, built once in the app's lifespan and reached through dependencies."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from pathlib import Path

from camera_control.service import CameraService
from media_server import MediaNode
from scheduler import Clock, Scheduler
from web_ui.audit import AuditLog
from web_ui.db import Database
from web_ui.identity.sessions import SessionRevocations
from web_ui.identity.throttle import LoginThrottle
from web_ui.identity.tokens import TokenService
from web_ui.identity.users import UserStore
from web_ui.settings import HallSettings

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Services:
    settings: HallSettings
    db: Database
    users: UserStore
    audit: AuditLog
    tokens: TokenService
    media: MediaNode
    cameras: CameraService
    scheduler: Scheduler
    revocations: SessionRevocations
    login_throttle: LoginThrottle = dataclasses.field(default_factory=LoginThrottle)
    booking_throttle: LoginThrottle = dataclasses.field(default_factory=lambda: LoginThrottle("bookings"))

    async def close(self) -> None:
        await self.scheduler.close()
        await self.cameras.close()
        await self.media.close()
        await self.db.dispose()


def secret_key(settings: HallSettings) -> str:
    """The signing key: from settings (the environment), else generated once into the data dir."""
    if settings.auth.secret_key is not None:
        return settings.auth.secret_key.get_secret_value()
    path = settings.server.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    _write_private(path, key)
    logger.info("generated a new secret key in %s", path)
    return key


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")


async def build_services(settings: HallSettings, *, clock: Clock | None = None) -> Services:
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    await db.upgrade()
    tokens = TokenService(secret_key(settings), max_join_ttl=settings.auth.join_token_max_ttl_seconds)
    users = UserStore(
        db, max_failed_logins=settings.auth.max_failed_logins, lockout_seconds=settings.auth.lockout_seconds
    )
    media = MediaNode(settings.media)
    cameras = CameraService(db, media, settings.cameras, settings.server.data_dir)
    await cameras.start()
    scheduler = Scheduler(
        db,
        settings.scheduler,
        data_dir=settings.server.data_dir,
        time_zone=settings.server.time_zone,
        public_url=settings.public_url,
        rooms=media,
        desk_camera=cameras,
        clock=clock,
    )
    return Services(settings, db, users, AuditLog(db), tokens, media, cameras, scheduler, SessionRevocations(db))
