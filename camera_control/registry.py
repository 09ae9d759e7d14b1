"""The camera registry: what the hall knows of each camera, with its password encrypted at rest.

Rows never leave this module: callers get frozen records. A record carries no password and no URI
with credentials; `password()` decrypts on demand for the adapter and the ingest, and nothing here
logs it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from camera_control.errors import CameraError, CameraExists, CameraNotFound, DeskTaken, PresetNotFound
from camera_control.tables import CameraRow, MotionEventRow, PresetRow

logger = logging.getLogger(__name__)


class SessionSource(Protocol):
    """Where database sessions come from (the web edge's Database)."""

    def session(self) -> AbstractAsyncContextManager[AsyncSession]: ...


# ---------------------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True, slots=True)
class StreamProfile:
    token: str
    name: str
    encoding: str
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class PresetRecord:
    token: str
    name: str
    desk: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CameraRecord:
    id: int
    name: str
    location: str
    host: str
    port: int
    username: str
    manufacturer: str
    model: str
    firmware: str
    serial: str
    profiles: tuple[StreamProfile, ...]
    main_profile: str
    sub_profile: str
    main_uri: str  # as the camera gave it, with every credential taken out (onvif.uris.storable)
    sub_uri: str
    ptz: dict[str, bool] | None  # capabilities; None: no PTZ
    onvif_events: bool
    motion_detection: bool
    motion_masks: list[list[list[float]]]  # polygons of [x, y] fractions of the picture, not watched
    clock_offset: float
    presets: tuple[PresetRecord, ...]

    def profile(self, which: str) -> StreamProfile | None:
        token = self.main_profile if which == "main" else self.sub_profile
        return next((p for p in self.profiles if p.token == token), None)

    def uri(self, which: str) -> str:
        return self.main_uri if which == "main" else self.sub_uri


@dataclasses.dataclass(frozen=True, slots=True)
class NewCamera:
    """Everything the registry stores of a camera that was checked and found working."""

    name: str
    location: str
    host: str
    port: int
    username: str
    password: str = dataclasses.field(repr=False)
    manufacturer: str
    model: str
    firmware: str
    serial: str
    profiles: tuple[StreamProfile, ...]
    main_profile: str
    sub_profile: str
    main_uri: str
    sub_uri: str
    ptz: dict[str, bool] | None
    onvif_events: bool
    clock_offset: float
    motion_detection: bool = True
    motion_masks: list[list[list[float]]] = dataclasses.field(default_factory=list)
    presets: tuple[PresetRecord, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class MotionEventRecord:
    id: int
    camera_id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    source: str
    topic: str
    score: float
    boxes: list[list[float]]


UPDATABLE = frozenset(
    {"name", "location", "motion_detection", "motion_masks", "main_profile", "sub_profile", "main_uri", "sub_uri"}
)


# ---------------------------------------------------------------------------------------- encryption


class CredentialCipher:
    """Camera passwords at rest: Fernet (AES-128-CBC with HMAC-SHA256), one key for the hall."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise CameraError("a camera password cannot be decrypted: the credential key changed") from None

    @classmethod
    def from_settings(cls, key: str | None, data_dir: Path) -> CredentialCipher:
        """The key from settings (the environment), else generated once into the data dir (mode 0600)."""
        if key:
            return cls(key.encode("ascii"))
        path = data_dir / "camera_key"
        if path.exists():
            return cls(path.read_bytes().strip())
        data_dir.mkdir(parents=True, exist_ok=True)
        generated = Fernet.generate_key()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(generated + b"\n")
        logger.info("generated a new camera credential key in %s", path)
        return cls(generated)


# ---------------------------------------------------------------------------------------- the registry


class CameraRegistry:
    def __init__(self, db: SessionSource, cipher: CredentialCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def add(self, camera: NewCamera) -> CameraRecord:
        row = CameraRow(
            name=camera.name,
            location=camera.location,
            host=camera.host,
            port=camera.port,
            username=camera.username,
            secret=self._cipher.encrypt(camera.password),
            manufacturer=camera.manufacturer[:64],
            model=camera.model[:64],
            firmware=camera.firmware[:64],
            serial=camera.serial[:64],
            profiles=[dataclasses.asdict(p) for p in camera.profiles],
            main_profile=camera.main_profile,
            sub_profile=camera.sub_profile,
            main_uri=camera.main_uri,
            sub_uri=camera.sub_uri,
            ptz=camera.ptz,
            onvif_events=camera.onvif_events,
            motion_detection=camera.motion_detection,
            motion_masks=camera.motion_masks,
            clock_offset=camera.clock_offset,
        )
        async with self._db.session() as session:
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise CameraExists(f"a camera at {camera.host}:{camera.port} is registered already") from None
            for preset in camera.presets:
                session.add(PresetRow(camera_id=row.id, token=preset.token, name=preset.name[:64]))
            await session.commit()
            camera_id = row.id
        logger.info("camera %d added: %s at %s:%d", camera_id, camera.name, camera.host, camera.port)
        return await self.get(camera_id)

    async def get(self, camera_id: int) -> CameraRecord:
        async with self._db.session() as session:
            row = await session.get(CameraRow, camera_id)
            if row is None:
                raise CameraNotFound(f"camera {camera_id} does not exist")
            presets = await self._presets(session, camera_id)
            return _record(row, presets)

    async def cameras(self) -> list[CameraRecord]:
        async with self._db.session() as session:
            rows = (await session.execute(select(CameraRow).order_by(CameraRow.id))).scalars().all()
            presets = (await session.execute(select(PresetRow).order_by(PresetRow.id))).scalars().all()
            by_camera: dict[int, list[PresetRow]] = {}
            for preset in presets:
                by_camera.setdefault(preset.camera_id, []).append(preset)
            return [_record(row, by_camera.get(row.id, [])) for row in rows]

    async def update(self, camera_id: int, **fields: Any) -> CameraRecord:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {', '.join(sorted(unknown))}")
        async with self._db.session() as session:
            row = await session.get(CameraRow, camera_id)
            if row is None:
                raise CameraNotFound(f"camera {camera_id} does not exist")
            for name, value in fields.items():
                setattr(row, name, value)
            await session.commit()
        return await self.get(camera_id)

    async def set_password(self, camera_id: int, username: str, password: str) -> None:
        async with self._db.session() as session:
            row = await session.get(CameraRow, camera_id)
            if row is None:
                raise CameraNotFound(f"camera {camera_id} does not exist")
            row.username = username
            row.secret = self._cipher.encrypt(password)
            await session.commit()

    async def delete(self, camera_id: int) -> None:
        async with self._db.session() as session:
            row = await session.get(CameraRow, camera_id)
            if row is None:
                raise CameraNotFound(f"camera {camera_id} does not exist")
            # Children first: SQLite enforces ON DELETE CASCADE only with foreign_keys on, PostgreSQL always.
            await session.execute(delete(PresetRow).where(PresetRow.camera_id == camera_id))
            await session.execute(delete(MotionEventRow).where(MotionEventRow.camera_id == camera_id))
            await session.delete(row)
            await session.commit()
        logger.info("camera %d deleted", camera_id)

    async def password(self, camera_id: int) -> str:
        async with self._db.session() as session:
            row = await session.get(CameraRow, camera_id)
            if row is None:
                raise CameraNotFound(f"camera {camera_id} does not exist")
            return self._cipher.decrypt(row.secret)

    # ------------------------------------------------------------------ presets

    async def save_preset(self, camera_id: int, token: str, name: str, desk: str | None = None) -> PresetRecord:
        """Store (or rename) a preset; `desk` ties it to a reception desk the scheduler turns cameras to."""
        async with self._db.session() as session:
            if await session.get(CameraRow, camera_id) is None:
                raise CameraNotFound(f"camera {camera_id} does not exist")
            row = (
                await session.execute(
                    select(PresetRow).where(PresetRow.camera_id == camera_id, PresetRow.token == token)
                )
            ).scalar_one_or_none()
            if row is None:
                row = PresetRow(camera_id=camera_id, token=token, name=name[:64], desk=desk or None)
                session.add(row)
            else:
                row.name, row.desk = name[:64], desk or None
            try:
                await session.commit()
            except IntegrityError:
                raise DeskTaken(f"desk {desk} already has a camera preset") from None
            return PresetRecord(row.token, row.name, row.desk)

    async def sync_presets(self, camera_id: int, presets: list[PresetRecord]) -> tuple[PresetRecord, ...]:
        """Match the stored presets to the camera's list: keep our names and desks, drop what the camera lost."""
        async with self._db.session() as session:
            stored = {p.token: p for p in await self._presets(session, camera_id)}
            seen = set()
            for preset in presets:
                seen.add(preset.token)
                if preset.token not in stored:
                    session.add(PresetRow(camera_id=camera_id, token=preset.token, name=preset.name[:64]))
            for token, row in stored.items():
                if token not in seen:
                    await session.delete(row)
            await session.commit()
            return tuple(_preset(p) for p in await self._presets(session, camera_id))

    async def remove_preset(self, camera_id: int, token: str) -> None:
        async with self._db.session() as session:
            result = await session.execute(
                delete(PresetRow).where(PresetRow.camera_id == camera_id, PresetRow.token == token)
            )
            if not getattr(result, "rowcount", 0):
                raise PresetNotFound(f"camera {camera_id} has no preset {token}")
            await session.commit()

    async def desk_preset(self, desk: str) -> tuple[int, PresetRecord]:
        async with self._db.session() as session:
            row = (await session.execute(select(PresetRow).where(PresetRow.desk == desk))).scalar_one_or_none()
            if row is None:
                raise PresetNotFound(f"no camera preset is set for desk {desk}")
            return row.camera_id, _preset(row)

    # ------------------------------------------------------------------ motion events

    async def add_event(
        self, camera_id: int, *, started_at: dt.datetime, source: str, topic: str, score: float, boxes: list
    ) -> int:
        async with self._db.session() as session:
            row = MotionEventRow(
                camera_id=camera_id, started_at=started_at, source=source, topic=topic[:128], score=score, boxes=boxes
            )
            session.add(row)
            await session.commit()
            return row.id

    async def end_event(self, event_id: int, *, ended_at: dt.datetime, score: float, boxes: list) -> None:
        async with self._db.session() as session:
            row = await session.get(MotionEventRow, event_id)
            if row is not None:
                row.ended_at = ended_at
                row.score = max(row.score, score)
                if boxes:
                    row.boxes = boxes
                await session.commit()

    async def events(self, camera_id: int | None = None, limit: int = 100) -> list[MotionEventRecord]:
        query = select(MotionEventRow).order_by(MotionEventRow.started_at.desc(), MotionEventRow.id.desc())
        if camera_id is not None:
            query = query.where(MotionEventRow.camera_id == camera_id)
        async with self._db.session() as session:
            rows = (await session.execute(query.limit(limit))).scalars().all()
            return [_event(row) for row in rows]

    async def prune_events(self, before: dt.datetime) -> int:
        async with self._db.session() as session:
            result = await session.execute(delete(MotionEventRow).where(MotionEventRow.started_at < before))
            await session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    # ------------------------------------------------------------------ internals

    @staticmethod
    async def _presets(session: AsyncSession, camera_id: int) -> list[PresetRow]:
        query = select(PresetRow).where(PresetRow.camera_id == camera_id).order_by(PresetRow.id)
        return list((await session.execute(query)).scalars().all())


def _preset(row: PresetRow) -> PresetRecord:
    return PresetRecord(row.token, row.name, row.desk)


def _record(row: CameraRow, presets: list[PresetRow]) -> CameraRecord:
    return CameraRecord(
        id=row.id,
        name=row.name,
        location=row.location,
        host=row.host,
        port=row.port,
        username=row.username,
        manufacturer=row.manufacturer,
        model=row.model,
        firmware=row.firmware,
        serial=row.serial,
        profiles=tuple(StreamProfile(**p) for p in row.profiles),
        main_profile=row.main_profile,
        sub_profile=row.sub_profile,
        main_uri=row.main_uri,
        sub_uri=row.sub_uri,
        ptz=row.ptz,
        onvif_events=row.onvif_events,
        motion_detection=row.motion_detection,
        motion_masks=row.motion_masks or [],
        clock_offset=row.clock_offset,
        presets=tuple(_preset(p) for p in presets),
    )


def _event(row: MotionEventRow) -> MotionEventRecord:
    return MotionEventRecord(
        id=row.id,
        camera_id=row.camera_id,
        started_at=_aware(row.started_at),
        ended_at=_aware(row.ended_at) if row.ended_at is not None else None,
        source=row.source,
        topic=row.topic,
        score=row.score,
        boxes=row.boxes,
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
