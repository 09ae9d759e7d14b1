"""The camera registry on SQLite and on a real PostgreSQL server: passwords encrypted at rest, presets tied to
desks, motion events kept and pruned, and a removed camera taking its presets and events with it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from camera_control.errors import CameraError, CameraExists, CameraNotFound, DeskTaken, PresetNotFound
from camera_control.registry import CameraRegistry, CredentialCipher, NewCamera, PresetRecord, StreamProfile
from web_ui.db import Database

PASSWORD = "Camera-Secret-7!"


def new_camera(host: str = "10.1.2.3", **changes) -> NewCamera:
    fields = dict(
        name="大厅东南角",
        location="接待大厅",
        host=host,
        port=80,
        username="admin",
        password=PASSWORD,
        manufacturer="Hikvision",
        model="DS-2DE4425IW",
        firmware="V5.5.3",
        serial="DS1234",
        profiles=(
            StreamProfile("Profile_1", "MainStream", "H264", 1920, 1080, 25.0, 4096),
            StreamProfile("Profile_2", "SubStream", "H264", 640, 360, 10.0, 512),
        ),
        main_profile="Profile_1",
        sub_profile="Profile_2",
        main_uri="rtsp://10.1.2.3:554/Streaming/Channels/101",
        sub_uri="rtsp://10.1.2.3:554/Streaming/Channels/102",
        ptz={"continuous": True, "absolute": True, "relative": True, "presets": True, "home": True, "zoom": True},
        onvif_events=True,
        clock_offset=-3600.0,
        presets=(PresetRecord("1", "Preset1"),),
    )
    fields.update(changes)
    return NewCamera(**fields)


async def exercise(db: Database, tmp_path) -> None:
    await db.upgrade()
    cipher = CredentialCipher.from_settings(None, tmp_path)
    registry = CameraRegistry(db, cipher)
    camera = await registry.add(new_camera())
    assert camera.name == "大厅东南角" and camera.profile("sub").width == 640 and camera.presets[0].token == "1"
    assert PASSWORD not in repr(camera)
    async with db.engine.connect() as connection:
        secret = (await connection.execute(text("SELECT secret FROM cameras"))).scalar_one()
    assert PASSWORD.encode() not in secret
    assert await registry.password(camera.id) == PASSWORD
    # The key stays in the data dir: a restarted hall reads the same passwords.
    assert await CameraRegistry(db, CredentialCipher.from_settings(None, tmp_path)).password(camera.id) == PASSWORD
    assert oct((tmp_path / "camera_key").stat().st_mode & 0o777) == "0o600"

    with pytest.raises(CameraExists):
        await registry.add(new_camera(name="again"))
    other = await registry.add(new_camera(host="10.1.2.4", presets=()))

    preset = await registry.save_preset(camera.id, "1", "1号台", desk="接待室1号台")
    assert preset == PresetRecord("1", "1号台", "接待室1号台")
    with pytest.raises(DeskTaken):
        await registry.save_preset(other.id, "7", "别处", desk="接待室1号台")
    assert await registry.desk_preset("接待室1号台") == (camera.id, preset)
    with pytest.raises(PresetNotFound):
        await registry.desk_preset("接待室9号台")
    # The camera lost preset 1 and gained 2: our name goes with the lost one, the new one comes in.
    synced = await registry.sync_presets(camera.id, [PresetRecord("2", "Preset2")])
    assert synced == (PresetRecord("2", "Preset2"),)

    now = dt.datetime.now(dt.UTC)
    old = await registry.add_event(
        camera.id,
        started_at=now - dt.timedelta(days=120),
        source="camera",
        topic="tns1:VideoSource/MotionAlarm",
        score=1.0,
        boxes=[],
    )
    recent = await registry.add_event(
        camera.id, started_at=now, source="detector", topic="detector", score=0.02, boxes=[[0.1, 0.2, 0.3, 0.4]]
    )
    await registry.end_event(recent, ended_at=now + dt.timedelta(seconds=4), score=0.05, boxes=[[0.1, 0.2, 0.3, 0.5]])
    events = await registry.events(camera.id)
    assert [e.id for e in events] == [recent, old]
    assert events[0].score == 0.05 and events[0].ended_at is not None and events[0].started_at.tzinfo is not None
    assert await registry.prune_events(now - dt.timedelta(days=90)) == 1
    assert [e.id for e in await registry.events()] == [recent]

    await registry.delete(camera.id)
    with pytest.raises(CameraNotFound):
        await registry.get(camera.id)
    assert await registry.events() == []
    assert [c.id for c in await registry.cameras()] == [other.id]


async def test_registry_on_sqlite(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hall.db'}")
    try:
        await exercise(db, tmp_path)
    finally:
        await db.dispose()


async def test_registry_on_postgres(tmp_path, postgres_url):
    db = Database(postgres_url)
    try:
        await exercise(db, tmp_path)
    finally:
        await db.dispose()


def test_a_changed_key_is_a_clear_error(tmp_path):
    token = CredentialCipher.from_settings(None, tmp_path / "a").encrypt(PASSWORD)
    with pytest.raises(CameraError, match="credential key changed"):
        CredentialCipher.from_settings(None, tmp_path / "b").decrypt(token)
