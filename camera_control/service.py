"""The cameras as the rest of the hall sees them: add, list, PTZ, presets, snapshots, live view, motion, status.

Every camera has a runtime here while the hall runs: its ONVIF client (connected on first use), a
health check that marks it offline and back, and its motion source (the camera's own ONVIF events
when it has them, otherwise the frame core's detector on the sub-stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from camera_control.bus import CameraBus
from camera_control.errors import (
    CameraError,
    CameraNotFound,
    DeskTaken,
    PresetNotFound,
    PtzNotSupported,
    StreamNotAvailable,
)
from camera_control.ingest import AUTH_REFUSED, IngestState
from camera_control.live import LiveStreams, Which
from camera_control.motion import DetectorWatch, MotionSample, MotionTracker, OpenEvent
from camera_control.onvif import CameraInfo, MotionSubscription, OnvifCamera, Profile, SubscriptionState
from camera_control.onvif.uris import storable
from camera_control.registry import (
    CameraRecord,
    CameraRegistry,
    CredentialCipher,
    MotionEventRecord,
    NewCamera,
    PresetRecord,
    SessionSource,
    StreamProfile,
)
from camera_control.settings import CameraSettings
from media_server import MediaNode, PeerSession

logger = logging.getLogger(__name__)

Status = Literal["unknown", "online", "offline"]
BROWSER_CODECS = ("H264",)  # what reaches a browser without transcoding
MOTION_HOLDER = "motion"
# Changes that need the camera's streams and motion detection started afresh.
RESTARTING_FIELDS = frozenset(
    {"motion_detection", "motion_masks", "main_profile", "sub_profile", "main_uri", "sub_uri"}
)


@dataclasses.dataclass(frozen=True, slots=True)
class CameraDraft:
    """What a person types to add a camera."""

    name: str
    location: str
    host: str
    port: int
    username: str
    password: str = dataclasses.field(repr=False)
    motion_detection: bool = True
    motion_masks: list[list[list[float]]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(eq=False)
class CameraRuntime:
    record: CameraRecord
    client: OnvifCamera | None = None
    status: Status = "unknown"
    status_detail: str | None = None
    onvif_ok: bool | None = None
    health: asyncio.Task[None] | None = None
    detector: DetectorWatch | None = None
    subscription: MotionSubscription | None = None
    events: asyncio.Task[None] | None = None  # keeps the subscription alive
    tracker: MotionTracker | None = None
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


Connector = Callable[..., OnvifCamera]


class CameraService:
    def __init__(
        self,
        db: SessionSource,
        media: MediaNode,
        settings: CameraSettings,
        data_dir: Path,
        *,
        connector: Connector = OnvifCamera,
    ) -> None:
        key = settings.credential_key.get_secret_value() if settings.credential_key else None
        self.registry = CameraRegistry(db, CredentialCipher.from_settings(key, data_dir))
        self.settings = settings
        self.bus = CameraBus()
        self.live = LiveStreams(media, settings, on_status=self._stream_status)
        self._connector = connector
        self._runtimes: dict[int, CameraRuntime] = {}
        self._leaving: set[int] = set()  # cameras being removed: nothing may start them again
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        for record in await self.registry.cameras():
            await self._start_runtime(record)
        self._spawn(self._prune_loop())

    async def _prune_loop(self) -> None:
        """Motion events older than the retention go, once at start and then daily."""
        while True:
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.settings.event_retention_days)
            removed = await self.registry.prune_events(cutoff)
            if removed:
                logger.info("removed %d motion events older than %d days", removed, self.settings.event_retention_days)
            await asyncio.sleep(86400)

    async def close(self) -> None:
        # All cameras at once: one that does not answer must not hold up the others' goodbyes.
        await asyncio.gather(
            *(self._stop_runtime(camera_id) for camera_id in list(self._runtimes)), return_exceptions=True
        )
        await self.live.close()
        if self._tasks:  # let the last writes (ends of events and of watching) land, briefly
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ the registry

    async def add(self, draft: CameraDraft) -> CameraRecord:
        """Check the camera (it must answer, accept the password and offer a stream), then save it."""
        client = self._client(draft.host, draft.port, draft.username, draft.password)
        try:
            info = await client.connect()
            main, sub = choose_profiles(info)
            main_uri = storable(await client.stream_uri(main.token))
            sub_uri = main_uri if sub.token == main.token else storable(await client.stream_uri(sub.token))
            presets: tuple[PresetRecord, ...] = ()
            if info.ptz is not None and info.ptz.presets and main.ptz:
                presets = tuple(PresetRecord(p.token, p.name) for p in await client.presets(main.token))
        finally:
            await client.close()
        record = await self.registry.add(
            NewCamera(
                name=draft.name,
                location=draft.location,
                host=draft.host,
                port=draft.port,
                username=draft.username,
                password=draft.password,
                manufacturer=info.device.manufacturer,
                model=info.device.model,
                firmware=info.device.firmware,
                serial=info.device.serial,
                profiles=tuple(_stream_profile(p) for p in info.profiles),
                main_profile=main.token,
                sub_profile=sub.token,
                main_uri=main_uri,
                sub_uri=sub_uri,
                ptz=dataclasses.asdict(info.ptz) if info.ptz is not None and main.ptz else None,
                onvif_events=info.events,
                clock_offset=info.clock_offset,
                motion_detection=draft.motion_detection,
                motion_masks=draft.motion_masks,
                presets=presets,
            )
        )
        await self._start_runtime(record)
        self.bus.publish({"type": "camera_added", "camera_id": record.id})
        return record

    async def set_credentials(self, camera_id: int, username: str, password: str) -> CameraRecord:
        """New credentials, checked against the camera before they replace the old ones."""
        record = await self.registry.get(camera_id)
        client = self._client(record.host, record.port, username, password)
        try:
            await client.connect()
        finally:
            await client.close()
        await self.registry.set_password(camera_id, username, password)
        await self._stop_runtime(camera_id)
        await self.live.stop_camera(camera_id)
        record = await self.registry.get(camera_id)
        await self._start_runtime(record)
        self.bus.publish({"type": "camera_updated", "camera_id": camera_id})
        return record

    async def stream_uris(self, camera_id: int, changes: dict[str, Any]) -> dict[str, str]:
        """The stream URIs of newly chosen profiles, asked of the camera (stored without credentials)."""
        runtime = await self._runtime(camera_id)
        client = await self._connected(runtime)
        uris = {}
        for which in ("main", "sub"):
            token = changes.get(f"{which}_profile")
            if token is not None:
                uris[f"{which}_uri"] = storable(await client.stream_uri(token))
        return uris

    async def cameras(self) -> list[tuple[CameraRecord, dict[str, Any]]]:
        return [(record, self.status(record.id)) for record in await self.registry.cameras()]

    async def get(self, camera_id: int) -> tuple[CameraRecord, dict[str, Any]]:
        record = await self.registry.get(camera_id)
        return record, self.status(camera_id)

    async def update(self, camera_id: int, **fields: Any) -> CameraRecord:
        record = await self.registry.update(camera_id, **fields)
        if not set(fields) & RESTARTING_FIELDS:  # a new name or place: nobody's picture is cut
            await self._reload(camera_id)
            return record
        await self._stop_runtime(camera_id)
        await self.live.stop_camera(camera_id)
        await self._start_runtime(record)
        self.bus.publish({"type": "camera_updated", "camera_id": camera_id})
        return record

    async def delete(self, camera_id: int) -> None:
        await self.registry.get(camera_id)
        self._leaving.add(camera_id)
        try:
            await self._stop_runtime(camera_id)
            await self.live.stop_camera(camera_id)
            await self.registry.delete(camera_id)
        finally:
            self._leaving.discard(camera_id)
        self.bus.publish({"type": "camera_removed", "camera_id": camera_id})

    def status(self, camera_id: int) -> dict[str, Any]:
        runtime = self._runtimes.get(camera_id)
        if runtime is None:
            return {"status": "unknown", "detail": None, "streams": {}, "motion": False}
        streams = {}
        for which in ("main", "sub"):
            state = self.live.state(camera_id, which)
            if state is not None:
                streams[which] = state.value
        return {
            "status": runtime.status,
            "detail": runtime.status_detail,
            "streams": streams,
            "motion": runtime.tracker is not None and runtime.tracker.current is not None,
        }

    # ------------------------------------------------------------------ PTZ and presets

    async def move(self, camera_id: int, pan: float, tilt: float, zoom: float, timeout: float | None) -> None:
        runtime, client = await self._ptz(camera_id)
        await client.continuous_move(runtime.record.main_profile, pan, tilt, zoom, timeout)
        self._camera_moved(runtime)

    async def stop(self, camera_id: int) -> None:
        runtime, client = await self._ptz(camera_id)
        await client.stop(runtime.record.main_profile)
        self._camera_moved(runtime)

    async def home(self, camera_id: int) -> None:
        runtime, client = await self._ptz(camera_id)
        await client.goto_home(runtime.record.main_profile)
        self._camera_moved(runtime)

    async def goto_preset(self, camera_id: int, token: str) -> None:
        runtime, client = await self._ptz(camera_id)
        if not any(p.token == token for p in runtime.record.presets):
            await self.refresh_presets(camera_id)
        await client.goto_preset(runtime.record.main_profile, token)
        self._camera_moved(runtime)

    async def set_preset(self, camera_id: int, name: str, desk: str | None = None) -> PresetRecord:
        """Store the camera's current position as a preset (on the camera), named `name` here."""
        runtime, client = await self._ptz(camera_id)
        if desk:
            await self._check_desk_free(desk)  # before the camera stores anything
        # Cameras often take only ASCII preset names; the hall keeps the friendly (Chinese) name itself.
        token = await client.set_preset(runtime.record.main_profile, _ascii_name(name))
        preset = await self.registry.save_preset(camera_id, token, name, desk)
        await self._reload(camera_id)
        return preset

    async def _check_desk_free(self, desk: str, camera_id: int | None = None, token: str | None = None) -> None:
        try:
            owner, preset = await self.registry.desk_preset(desk)
        except PresetNotFound:
            return
        if (owner, preset.token) != (camera_id, token):
            raise DeskTaken(f"desk {desk} already has a camera preset")

    async def rename_preset(self, camera_id: int, token: str, name: str, desk: str | None) -> PresetRecord:
        record = await self.registry.get(camera_id)
        if not any(p.token == token for p in record.presets):
            await self.refresh_presets(camera_id)
        preset = await self.registry.save_preset(camera_id, token, name, desk)
        await self._reload(camera_id)
        return preset

    async def remove_preset(self, camera_id: int, token: str) -> None:
        runtime, client = await self._ptz(camera_id)
        await client.remove_preset(runtime.record.main_profile, token)
        with contextlib.suppress(CameraError):
            await self.registry.remove_preset(camera_id, token)
        await self._reload(camera_id)

    async def refresh_presets(self, camera_id: int) -> tuple[PresetRecord, ...]:
        runtime, client = await self._ptz(camera_id)
        found = await client.presets(runtime.record.main_profile)
        presets = await self.registry.sync_presets(camera_id, [PresetRecord(p.token, p.name) for p in found])
        await self._reload(camera_id)
        return presets

    async def point_at_desk(self, desk: str) -> tuple[int, PresetRecord]:
        """Turn the desk's camera to the desk's preset: what the scheduler calls before a reception."""
        camera_id, preset = await self.registry.desk_preset(desk)
        await self.goto_preset(camera_id, preset.token)
        return camera_id, preset

    # ------------------------------------------------------------------ pictures

    async def snapshot(self, camera_id: int) -> bytes:
        runtime = await self._runtime(camera_id)
        client = await self._connected(runtime)
        return await client.snapshot(runtime.record.main_profile)

    async def watch(self, camera_id: int, which: Which, offer_sdp: str, *, viewer: str) -> PeerSession:
        runtime = await self._runtime(camera_id)
        record = runtime.record
        profile = record.profile(which)
        if profile is None:
            raise StreamNotAvailable(f"camera {camera_id} has no {which} stream")
        password = await self.registry.password(camera_id)
        return await self.live.watch(record, password, which, offer_sdp, viewer=viewer)

    async def events(self, camera_id: int | None = None, limit: int = 100) -> list[MotionEventRecord]:
        return await self.registry.events(camera_id, limit)

    # ------------------------------------------------------------------ runtimes

    async def _start_runtime(self, record: CameraRecord) -> None:
        if record.id in self._runtimes:  # started meanwhile by a viewer or a move: this one replaces it
            await self._stop_runtime(record.id)
        runtime = CameraRuntime(record)
        self._runtimes[record.id] = runtime
        runtime.health = self._spawn(self._health_loop(runtime))
        if record.motion_detection:
            await self._start_motion(runtime)

    async def _stop_runtime(self, camera_id: int) -> None:
        runtime = self._runtimes.pop(camera_id, None)
        if runtime is None:
            return
        if runtime.health is not None:
            runtime.health.cancel()
        await self._stop_motion(runtime)
        if runtime.client is not None:
            await runtime.client.close()

    async def _reload(self, camera_id: int) -> None:
        """After a preset change: the runtime and every open wall see it."""
        runtime = self._runtimes.get(camera_id)
        if runtime is not None:
            runtime.record = await self.registry.get(camera_id)
        self.bus.publish({"type": "camera_updated", "camera_id": camera_id})

    async def _runtime(self, camera_id: int) -> CameraRuntime:
        if camera_id in self._leaving:
            raise CameraNotFound(f"camera {camera_id} is being removed")
        runtime = self._runtimes.get(camera_id)
        if runtime is None:
            record = await self.registry.get(camera_id)  # CameraNotFound
            await self._start_runtime(record)
            runtime = self._runtimes[camera_id]
        return runtime

    async def _ptz(self, camera_id: int) -> tuple[CameraRuntime, OnvifCamera]:
        runtime = await self._runtime(camera_id)
        if runtime.record.ptz is None:
            raise PtzNotSupported(f"camera {camera_id} ({runtime.record.name}) cannot pan, tilt or zoom")
        return runtime, await self._connected(runtime)

    async def _connected(self, runtime: CameraRuntime) -> OnvifCamera:
        async with runtime.lock:
            if runtime.client is None:
                record = runtime.record
                password = await self.registry.password(record.id)
                client = self._client(record.host, record.port, record.username, password)
                try:
                    await client.connect()
                except CameraError:
                    await client.close()
                    raise
                runtime.client = client
            return runtime.client

    def _client(self, host: str, port: int, username: str, password: str) -> OnvifCamera:
        return self._connector(host, port, username, password, timeout=self.settings.onvif_timeout)

    # ------------------------------------------------------------------ health

    async def _health_loop(self, runtime: CameraRuntime) -> None:
        while True:
            try:
                client = await self._connected(runtime)
                await client.check()
                self._set_onvif(runtime, True, None)
            except CameraError as exc:
                self._set_onvif(runtime, False, exc.code)
                if runtime.client is not None:
                    client, runtime.client = runtime.client, None
                    await client.close()
            except Exception:  # the database went away, say: the check must go on, the status must not freeze
                logger.exception("camera %d: the health check failed", runtime.record.id)
                self._set_onvif(runtime, False, "check_failed")
            await asyncio.sleep(self.settings.health_interval)

    def _set_onvif(self, runtime: CameraRuntime, ok: bool, detail: str | None) -> None:
        runtime.onvif_ok = ok
        self._update_status(runtime, detail)

    def _stream_status(self, camera_id: int, which: str, state: IngestState, error: str | None) -> None:
        runtime = self._runtimes.get(camera_id)
        if runtime is None:
            return
        self.bus.publish({"type": "stream_status", "camera_id": camera_id, "stream": which, "state": state.value})
        if state is IngestState.OFFLINE:
            self._update_status(runtime, "stream_refused" if error == AUTH_REFUSED else "stream_lost")
        else:
            self._update_status(runtime, None)

    def _update_status(self, runtime: CameraRuntime, detail: str | None) -> None:
        camera_id = runtime.record.id
        streams_down = any(self.live.state(camera_id, w) is IngestState.OFFLINE for w in ("main", "sub"))
        if runtime.onvif_ok is False or streams_down:
            status: Status = "offline"
            detail = detail or runtime.status_detail or "stream_lost"
        elif runtime.onvif_ok is None:
            status, detail = "unknown", None
        else:
            status, detail = "online", None
        if (status, detail) == (runtime.status, runtime.status_detail):
            return
        runtime.status, runtime.status_detail = status, detail
        logger.info("camera %d: %s%s", camera_id, status, f" ({detail})" if detail else "")
        self.bus.publish({"type": "camera_status", "camera_id": camera_id, "status": status, "detail": detail})

    # ------------------------------------------------------------------ motion

    async def _start_motion(self, runtime: CameraRuntime) -> None:
        record = runtime.record
        source = "camera" if record.onvif_events else "detector"
        runtime.tracker = MotionTracker(
            source,
            self.settings.motion_hold,
            lambda event: setattr(event, "saved", self._spawn(self._event_started(record.id, event))),
            lambda event, ended: self._spawn(self._event_ended(record.id, event, ended)),
        )
        tracker = runtime.tracker
        if record.onvif_events:
            runtime.events = self._spawn(self._keep_events(runtime, tracker))
            return
        password = await self.registry.password(record.id)
        feed = self.live.hold(record, password, "sub", MOTION_HOLDER)
        runtime.detector = DetectorWatch(
            f"camera-{record.id}", feed, self.settings.motion_fps, tracker.update, masks=record.motion_masks
        )
        runtime.detector.start()

    async def _keep_events(self, runtime: CameraRuntime, tracker: MotionTracker) -> None:
        """The camera's own motion events, over a PullPoint subscription the adapter keeps alive; subscribed
        again whenever it ends (the health check replaced a client that stopped answering, say)."""
        client: OnvifCamera | None = None
        while True:
            subscription = runtime.subscription
            alive = subscription is not None and subscription.state is not SubscriptionState.STOPPED
            if not alive or client is not runtime.client:
                if subscription is not None and alive:
                    await subscription.stop()
                try:
                    client = await self._connected(runtime)
                    runtime.subscription = client.motion_events(
                        lambda event: tracker.update(
                            MotionSample(event.active, 1.0 if event.active else 0.0, at=event.at, topic=event.raw_topic)
                        )
                    )
                    await runtime.subscription.start()
                except CameraError as exc:
                    runtime.subscription = None
                    logger.info("camera %d: motion events not available now (%s)", runtime.record.id, exc.code)
            await asyncio.sleep(self.settings.health_interval)

    async def _stop_motion(self, runtime: CameraRuntime) -> None:
        if runtime.events is not None:
            events, runtime.events = runtime.events, None
            events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await events
        if runtime.detector is not None:
            detector, runtime.detector = runtime.detector, None
            await detector.stop()
            self.live.release(runtime.record.id, "sub", MOTION_HOLDER)
        if runtime.subscription is not None:
            subscription, runtime.subscription = runtime.subscription, None
            await subscription.stop()
        if runtime.tracker is not None:
            runtime.tracker.close()

    def _camera_moved(self, runtime: CameraRuntime) -> None:
        if runtime.detector is not None:
            runtime.detector.recalibrate()

    async def _event_started(self, camera_id: int, event: OpenEvent) -> None:
        event.event_id = await self.registry.add_event(
            camera_id,
            started_at=event.started_at,
            source=event.source,
            topic=event.topic,
            score=event.score,
            boxes=event.boxes,
        )
        self.bus.publish(
            {
                "type": "motion_started",
                "camera_id": camera_id,
                "event_id": event.event_id,
                "at": event.started_at.isoformat(),
                "source": event.source,
                "score": event.score,
                "boxes": event.boxes,
            }
        )

    async def _event_ended(self, camera_id: int, event: OpenEvent, ended: dt.datetime) -> None:
        if event.saved is not None:
            with contextlib.suppress(Exception):  # a failed start was logged where it failed
                await asyncio.shield(event.saved)
        if event.event_id is None:
            return
        await self.registry.end_event(event.event_id, ended_at=ended, score=event.score, boxes=event.boxes)
        self.bus.publish(
            {
                "type": "motion_ended",
                "camera_id": camera_id,
                "event_id": event.event_id,
                "at": ended.isoformat(),
                "score": event.score,
                "boxes": event.boxes,
            }
        )

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """Run a coroutine for the cameras' sake, owned here (the web edge's audit of a session's end)."""
        return self._spawn(coroutine)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a camera task failed", exc_info=task.exception())


# ---------------------------------------------------------------------------------------- helpers


def choose_profiles(info: CameraInfo) -> tuple[Profile, Profile]:
    """The main stream (the largest picture) and the sub-stream (the smallest other one), H.264 first among equals.

    A main stream a browser cannot take (H.265) is still the main stream: it is transcoded once, and
    only while somebody watches it enlarged.
    """
    if not info.profiles:
        raise StreamNotAvailable("the camera offers no media profile")

    def pixels(profile: Profile) -> int:
        return profile.resolution.width * profile.resolution.height if profile.resolution else 0

    def passthrough(profile: Profile) -> bool:
        return (profile.encoding or "").upper() in BROWSER_CODECS

    main = max(info.profiles, key=lambda p: (pixels(p), passthrough(p)))
    others = [p for p in info.profiles if p.token != main.token] or [main]
    sub = min(others, key=lambda p: (not passthrough(p), pixels(p) or 1 << 30))
    return main, sub


def _stream_profile(profile: Profile) -> StreamProfile:
    resolution = profile.resolution
    return StreamProfile(
        token=profile.token,
        name=profile.name,
        encoding=profile.encoding or "",
        width=resolution.width if resolution else None,
        height=resolution.height if resolution else None,
        fps=profile.fps,
        bitrate_kbps=profile.bitrate_kbps,
    )


def _ascii_name(name: str) -> str:
    ascii_only = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name).strip("_")
    return ascii_only[:32] or f"preset_{int(time.time())}"
