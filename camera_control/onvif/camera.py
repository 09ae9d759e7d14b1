"""One ONVIF camera: its device, media, PTZ and events services, learnt at connect()."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

import aiohttp

from camera_control.errors import (
    CameraAuthFailed,
    CameraError,
    CameraOperationFailed,
    CameraProtocolError,
    PresetNotFound,
    PtzNotSupported,
    StreamNotAvailable,
)
from camera_control.onvif.clock import camera_clock, clock_offset_between, utcnow
from camera_control.onvif.device import read_capability_addresses, read_device_info, read_service_addresses
from camera_control.onvif.faults import LIBRARY_ERRORS, ActionNotSupported, NoSuchToken, translate
from camera_control.onvif.library import ONVIFCamera, ONVIFError, new_library_camera
from camera_control.onvif.media import fetch_snapshot, media2_request
from camera_control.onvif.models import (
    CameraInfo,
    DeviceInfo,
    MotionEvent,
    Profile,
    PtzCapabilities,
    PtzPreset,
    PtzStatus,
    Resolution,
)
from camera_control.onvif.namespaces import NS_EVENTS, NS_MEDIA, NS_MEDIA2, NS_PTZ
from camera_control.onvif.ptz import (
    PtzConfiguration,
    check_range,
    check_unit,
    ptz_vector,
    read_preset,
    read_ptz_capabilities,
    read_ptz_configuration,
    read_ptz_status,
)
from camera_control.onvif.reading import as_float, as_int, as_text, child_text, field
from camera_control.onvif.soap import RawSoap, guard_answers
from camera_control.onvif.subscription import MotionSubscription
from camera_control.onvif.uris import redact, with_credentials, without_credentials

logger = logging.getLogger(__name__)


class OnvifCamera:
    """One ONVIF camera. `connect()` first; `close()` (or `async with`) when done."""

    def __init__(self, host: str, port: int, username: str, password: str, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password  # never logged, never in an exception
        self.timeout = timeout
        self.label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._library: ONVIFCamera | None = None
        self._session: aiohttp.ClientSession | None = None
        self._info: CameraInfo | None = None
        self._xaddrs: dict[str, str] = {}
        self._clock_offset = 0.0
        self._ptz_configurations: dict[str, PtzConfiguration] = {}
        self._backup_stops: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._subscriptions: set[MotionSubscription] = set()
        self._raw = RawSoap(self)

    def __repr__(self) -> str:
        return f"OnvifCamera({self.label})"

    async def __aenter__(self) -> OnvifCamera:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -------------------------------------------------------------------------- state

    @property
    def info(self) -> CameraInfo:
        return self.require_connected()

    def require_connected(self) -> CameraInfo:
        if self._info is None:
            raise RuntimeError(f"{self!r} is not connected: call connect() first")
        return self._info

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"{self!r} is not connected: call connect() first")
        return self._session

    @property
    def _clock_delta(self) -> dt.timedelta | None:
        return dt.timedelta(seconds=self._clock_offset) if self._clock_offset else None

    # -------------------------------------------------------------------------- connect

    async def connect(self) -> CameraInfo:
        """Learn the camera: its clock, services, identity, media profiles and PTZ abilities."""
        await self.close()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._library = self._new_library_camera()
        try:
            self._clock_offset = await self._read_clock_offset()
            self._library.dt_diff = self._clock_delta  # every service made from now on signs with it
            self._xaddrs = await self._service_addresses()
            self._library.xaddrs = dict(self._xaddrs)
            device = await self._device_info()
            profiles = await self._profiles()
            ptz = await self._ptz_capabilities(profiles)
            if ptz is None:
                # A PTZ configuration without a PTZ service (or the other way round) moves nothing.
                self._ptz_configurations = {}
                profiles = tuple(dataclasses.replace(profile, ptz=False) for profile in profiles)
        except BaseException:
            await self.close()
            raise
        self._info = CameraInfo(
            device=device,
            profiles=profiles,
            ptz=ptz,
            events=NS_EVENTS in self._xaddrs,
            clock_offset=self._clock_offset,
        )
        logger.info(
            "%s: connected: %s %s, %d profile(s), PTZ %s, events %s",
            self.label,
            device.manufacturer or "?",
            device.model or "?",
            len(profiles),
            "yes" if ptz else "no",
            "yes" if self._info.events else "no",
        )
        return self._info

    async def close(self) -> None:
        """Stop the camera's event subscriptions and timed moves, and close its connections."""
        for subscription in list(self._subscriptions):
            await subscription.stop()
        for handle in self._backup_stops.values():
            handle.cancel()
        self._backup_stops.clear()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        library, session = self._library, self._session
        self._library = self._session = self._info = None
        if library is not None:
            await library.close()
        if session is not None:
            await session.close()

    def _new_library_camera(self) -> ONVIFCamera:
        return new_library_camera(self.host, self.port, self.username, self._password)

    async def _service(self, name: str) -> Any:
        library = self._library
        if library is None:
            raise RuntimeError(f"{self!r} is not connected: call connect() first")
        try:
            service = await library.create_onvif_service(name)
        except ONVIFError as exc:
            message = f"camera {self.label} has no usable {name} service: {exc}"
            raise CameraProtocolError(message, host=self.label) from exc
        guard_answers(service, self.label)
        return service

    async def _soap(self, service: Any, operation: str, params: Mapping[str, Any] | None = None) -> Any:
        """One library call, bounded by the timeout, its failures translated."""
        try:
            async with asyncio.timeout(self.timeout):
                return await getattr(service, operation)(dict(params) if params is not None else None)
        except LIBRARY_ERRORS as exc:
            # from None: the library's exception may carry URLs with credentials
            raise translate(exc, self.label, operation.removeprefix("authless_"), self.timeout) from None

    async def _read_clock_offset(self) -> float:
        """Seconds the camera's clock is ahead of ours, from GetSystemDateAndTime (0 when it cannot say).

        WS-UsernameToken digests carry a creation time that cameras check against their own clock, so
        a camera whose clock is hours off refuses every request unless we speak in its time.
        """
        devicemgmt = await self._service("devicemgmt")
        try:
            try:
                answer = await self._soap(devicemgmt, "authless_GetSystemDateAndTime")
            except CameraAuthFailed:
                # Axis authenticates every request, this one included.
                answer = await self._soap(devicemgmt, "GetSystemDateAndTime")
        except (CameraOperationFailed, CameraProtocolError) as exc:
            logger.warning("%s: cannot read the camera's clock (%s); assuming it is right", self.label, exc)
            return 0.0
        received = utcnow()
        camera_now = camera_clock(answer)
        if camera_now is None:
            logger.warning("%s: the camera's clock is unreadable; assuming it is right", self.label)
            return 0.0
        offset = clock_offset_between(camera_now, received)
        if abs(offset) >= 5:
            logger.warning(
                "%s: the camera's clock is %+.0f s off ours; requests and event times are corrected", self.label, offset
            )
        # The first device service signed without the offset: make a new one that signs with it.
        library = self._library
        assert library is not None
        await devicemgmt.close()
        library.services.pop(devicemgmt.binding_key, None)
        return offset

    async def _service_addresses(self) -> dict[str, str]:
        devicemgmt = await self._service("devicemgmt")
        addresses: dict[str, str] = {}
        try:
            services = await self._soap(devicemgmt, "GetServices", {"IncludeCapability": False})
        except (CameraOperationFailed, CameraProtocolError) as exc:
            # Bosch FLEXIDOME 5100i, Dahua and D-Link DCS-6511 answer GetServices with a fault: older
            # cameras only know GetCapabilities.
            logger.info("%s: GetServices unavailable (%s); using GetCapabilities", self.label, exc)
        else:
            addresses = read_service_addresses(services)
        if not addresses:
            capabilities = await self._soap(devicemgmt, "GetCapabilities", {"Category": "All"})
            addresses = read_capability_addresses(capabilities)
        if not addresses:
            raise CameraProtocolError(f"camera {self.label} lists no ONVIF services", host=self.label)
        logger.debug("%s: services: %s", self.label, ", ".join(sorted(addresses)))
        return addresses

    async def _device_info(self) -> DeviceInfo:
        devicemgmt = await self._service("devicemgmt")
        try:
            answer = await self._soap(devicemgmt, "GetDeviceInformation")
        except ActionNotSupported:
            logger.warning("%s: the camera does not say what it is (GetDeviceInformation unsupported)", self.label)
            answer = None
        return read_device_info(answer)

    async def _profiles(self) -> tuple[Profile, ...]:
        if NS_MEDIA not in self._xaddrs:
            raise CameraProtocolError(
                f"camera {self.label} offers no ONVIF media (ver10) service; Media2-only cameras are not supported",
                host=self.label,
            )
        media = await self._service("media")
        answer = await self._soap(media, "GetProfiles")
        profiles = []
        self._ptz_configurations = {}
        for raw in answer or []:
            profile = self._profile(raw)
            if profile is not None:
                profiles.append(profile)
        if not profiles:
            logger.warning("%s: the camera lists no video profile", self.label)
        return tuple(profiles)

    def _profile(self, raw: Any) -> Profile | None:
        token = as_text(field(raw, "token"))
        encoder = field(raw, "VideoEncoderConfiguration")
        if not token or encoder is None:
            # A profile without a video encoder has no video to show: the Dahua NVR's sub streams, the
            # Hikvision-platform PTZ's "thirdStream".
            logger.debug("%s: skipped profile %s: no video encoder", self.label, token or "?")
            return None
        # Dahua multi-channel NVRs (and a Lorex built on them) list main-stream encoders with only a
        # Name and UseCount: encoding and resolution stay unknown rather than the profile being dropped.
        width, height = as_int(field(encoder, "Resolution", "Width")), as_int(field(encoder, "Resolution", "Height"))
        bitrate = as_int(field(encoder, "RateControl", "BitrateLimit"))
        # Axis writes BitrateLimit 2147483647 (INT_MAX) for "no limit".
        if bitrate is not None and not 0 < bitrate < 2**31 - 1:
            bitrate = None
        ptz = read_ptz_configuration(field(raw, "PTZConfiguration"))
        if ptz is not None:
            self._ptz_configurations[token] = ptz
        return Profile(
            token=token,
            name=as_text(field(raw, "Name")) or token,
            encoding=as_text(field(encoder, "Encoding")) or None,
            resolution=Resolution(width, height) if width and height else None,
            fps=as_float(field(encoder, "RateControl", "FrameRateLimit")) or None,
            bitrate_kbps=bitrate,
            video_source_token=as_text(field(raw, "VideoSourceConfiguration", "SourceToken")) or None,
            ptz=token in self._ptz_configurations,
        )

    async def _ptz_capabilities(self, profiles: Sequence[Profile]) -> PtzCapabilities | None:
        # Only a profile with a PTZ configuration can be moved, so the media (ver10) profiles decide.
        # Uniview-platform cameras list Media2, whose profiles show no PTZ configuration unless asked for
        # every configuration type; we never read PTZ from Media2.
        if NS_PTZ not in self._xaddrs or not self._ptz_configurations:
            return None
        configuration = next(iter(self._ptz_configurations.values()))
        ptz = await self._service("ptz")
        options = node = None
        try:
            options = await self._soap(ptz, "GetConfigurationOptions", {"ConfigurationToken": configuration.token})
        except (CameraOperationFailed, CameraProtocolError) as exc:
            logger.debug("%s: no PTZ configuration options (%s); using the defaults", self.label, exc)
        if configuration.node_token:
            try:
                node = await self._soap(ptz, "GetNode", {"NodeToken": configuration.node_token})
            except (CameraOperationFailed, CameraProtocolError) as exc:
                logger.debug("%s: no PTZ node (%s)", self.label, exc)
        return read_ptz_capabilities(configuration, options, node)

    async def check(self) -> None:
        """Prove the camera still answers and still takes our credentials (one authenticated call)."""
        devicemgmt = await self._service("devicemgmt")
        try:
            await self._soap(devicemgmt, "GetDeviceInformation")
        except ActionNotSupported:
            await self._soap(devicemgmt, "GetCapabilities", {"Category": "Device"})

    # -------------------------------------------------------------------------- media

    async def stream_uri(self, profile_token: str) -> str:
        """The profile's RTSP URI with our credentials in it. For the ingest alone: never log or show it."""
        uri = await self._media_uri("GetStreamUri", profile_token)
        logger.debug("%s: stream of %s at %s", self.label, profile_token, redact(uri))
        return with_credentials(uri, self.username, self._password)

    async def snapshot_uri(self, profile_token: str) -> str:
        """The profile's JPEG snapshot URI, without credentials (fetch it with `snapshot()`)."""
        return without_credentials(await self._media_uri("GetSnapshotUri", profile_token))

    async def snapshot(self, profile_token: str) -> bytes:
        """One JPEG from the camera: HTTP Digest first; Basic only if the camera asks for it."""
        # The URI as the camera gave it: XiongMai's carries its own user= and password= query.
        uri = await self._media_uri("GetSnapshotUri", profile_token)
        return await fetch_snapshot(
            self._http, uri, self.username, self._password, label=self.label, timeout=self.timeout
        )

    async def _media_uri(self, operation: Literal["GetStreamUri", "GetSnapshotUri"], profile_token: str) -> str:
        self.require_connected()
        failure: CameraError | None = None
        if NS_MEDIA in self._xaddrs:
            media = await self._service("media")
            params: dict[str, Any] = {"ProfileToken": profile_token}
            if operation == "GetStreamUri":
                params["StreamSetup"] = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            try:
                answer = await self._soap(media, operation, params)
            except (CameraOperationFailed, CameraProtocolError) as exc:
                failure = exc
            else:
                uri = as_text(field(answer, "Uri"))
                if uri:
                    return uri
                # Some cameras answer without a Uri (Home Assistant issue 135494).
                failure = CameraProtocolError(f"camera {self.label} gave no URI for {operation}", host=self.label)
        # Axis M2025-LE, Uniview-platform and XiongMai cameras give URIs only through Media2 (their
        # media ver10 GetStreamUri fails or is missing), so Media2 is the second chance.
        if NS_MEDIA2 in self._xaddrs:
            try:
                return await self._media2_uri(operation, profile_token)
            except (CameraOperationFailed, CameraProtocolError) as exc:
                failure = failure or exc
        if isinstance(failure, NoSuchToken):
            raise CameraOperationFailed(
                f"camera {self.label} has no profile {profile_token!r}", host=self.label, reason=failure.reason
            )
        if operation == "GetStreamUri" and (failure is None or isinstance(failure, ActionNotSupported)):
            raise StreamNotAvailable(f"camera {self.label} gives no stream URI over ONVIF", host=self.label)
        raise failure or CameraOperationFailed(
            f"camera {self.label} offers no media service for {operation}", host=self.label
        )

    async def _media2_uri(self, operation: str, profile_token: str) -> str:
        body = media2_request(operation, profile_token)
        answer = await self._raw.call(self._xaddrs[NS_MEDIA2], body, what=f"Media2 {operation}")
        uri = child_text(answer, "Uri")
        if not uri:
            raise CameraProtocolError(f"camera {self.label} gave no URI for Media2 {operation}", host=self.label)
        return uri

    # -------------------------------------------------------------------------- PTZ

    async def continuous_move(
        self, profile_token: str, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0, timeout: float | None = None
    ) -> None:
        """Move at the given speeds (each -1..1) until `stop()`, or for `timeout` seconds."""
        check_range(pan=pan, tilt=tilt, zoom=zoom)
        if timeout is not None and timeout <= 0:
            raise ValueError("a move's timeout must be positive")
        velocity: dict[str, Any] = {"PanTilt": {"x": pan, "y": tilt}}
        if self._zoom_supported():
            velocity["Zoom"] = {"x": zoom}
        params: dict[str, Any] = {"ProfileToken": profile_token, "Velocity": velocity}
        if timeout is not None:
            params["Timeout"] = dt.timedelta(seconds=timeout)
        self._cancel_backup_stop(profile_token)
        await self._ptz("ContinuousMove", profile_token, params)
        if timeout is not None:
            # Not every camera honours ContinuousMove's Timeout (Home Assistant stops explicitly for the
            # same reason): a camera left turning shows the wrong part of the hall, so we stop it too.
            loop = asyncio.get_running_loop()
            self._backup_stops[profile_token] = loop.call_later(timeout, self._start_backup_stop, profile_token)

    async def stop(self, profile_token: str) -> None:
        self._cancel_backup_stop(profile_token)
        try:
            await self._ptz("Stop", profile_token, {"ProfileToken": profile_token, "PanTilt": True, "Zoom": True})
        except PtzNotSupported:
            # Some cameras implement no Stop (Home Assistant's onvif device.py): a zero-speed move stops them.
            zero: dict[str, Any] = {"PanTilt": {"x": 0.0, "y": 0.0}}
            if self._zoom_supported():
                zero["Zoom"] = {"x": 0.0}
            await self._ptz("ContinuousMove", profile_token, {"ProfileToken": profile_token, "Velocity": zero})

    async def absolute_move(
        self, profile_token: str, pan: float, tilt: float, zoom: float | None = None, speed: float | None = None
    ) -> None:
        """Go to a position: pan and tilt in -1..1, zoom in 0..1 (ONVIF's generic spaces)."""
        check_range(pan=pan, tilt=tilt)
        check_unit(zoom=zoom, speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token, "Position": ptz_vector(pan, tilt, zoom)}
        if speed is not None:
            params["Speed"] = ptz_vector(speed, speed, speed if zoom is not None else None)
        self._cancel_backup_stop(profile_token)
        await self._ptz("AbsoluteMove", profile_token, params)

    async def relative_move(
        self, profile_token: str, pan: float, tilt: float, zoom: float | None = None, speed: float | None = None
    ) -> None:
        """Move by a step: each of pan, tilt, zoom in -1..1 of the generic translation space."""
        check_range(pan=pan, tilt=tilt, zoom=zoom or 0.0)
        check_unit(speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token, "Translation": ptz_vector(pan, tilt, zoom)}
        if speed is not None:
            params["Speed"] = ptz_vector(speed, speed, speed if zoom is not None else None)
        self._cancel_backup_stop(profile_token)
        await self._ptz("RelativeMove", profile_token, params)

    async def presets(self, profile_token: str) -> list[PtzPreset]:
        answer = await self._ptz("GetPresets", profile_token, {"ProfileToken": profile_token})
        return [preset for preset in map(read_preset, answer or []) if preset is not None]

    async def goto_preset(self, profile_token: str, preset_token: str, speed: float | None = None) -> None:
        check_unit(speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token, "PresetToken": preset_token}
        if speed is not None:
            params["Speed"] = ptz_vector(speed, speed, speed if self._zoom_supported() else None)
        self._cancel_backup_stop(profile_token)
        await self._preset_call("GotoPreset", profile_token, preset_token, params)

    async def set_preset(self, profile_token: str, name: str, preset_token: str | None = None) -> str:
        """Save the current position as a preset (a new one, or `preset_token` overwritten); its token."""
        if not name.strip():
            raise ValueError("a preset needs a name")
        params: dict[str, Any] = {"ProfileToken": profile_token, "PresetName": name}
        if preset_token is not None:
            params["PresetToken"] = preset_token
        answer = await self._preset_call("SetPreset", profile_token, preset_token, params)
        token = as_text(answer if isinstance(answer, str) else field(answer, "PresetToken"))
        if not token:
            raise CameraProtocolError(f"camera {self.label} saved the preset but gave no token", host=self.label)
        return token

    async def remove_preset(self, profile_token: str, preset_token: str) -> None:
        params = {"ProfileToken": profile_token, "PresetToken": preset_token}
        await self._preset_call("RemovePreset", profile_token, preset_token, params)

    async def goto_home(self, profile_token: str, speed: float | None = None) -> None:
        check_unit(speed=speed)
        params: dict[str, Any] = {"ProfileToken": profile_token}
        if speed is not None:
            params["Speed"] = ptz_vector(speed, speed, speed if self._zoom_supported() else None)
        self._cancel_backup_stop(profile_token)
        await self._ptz("GotoHomePosition", profile_token, params)

    async def status(self, profile_token: str) -> PtzStatus:
        answer = await self._ptz("GetStatus", profile_token, {"ProfileToken": profile_token})
        return read_ptz_status(answer)

    def _zoom_supported(self) -> bool:
        ptz = self._info.ptz if self._info is not None else None
        return ptz is not None and ptz.zoom

    def _require_ptz(self, profile_token: str) -> None:
        info = self.info
        if info.ptz is None:
            raise PtzNotSupported(f"camera {self.label} cannot pan, tilt or zoom", host=self.label)
        profile = next((p for p in info.profiles if p.token == profile_token), None)
        if profile is not None and not profile.ptz:
            raise PtzNotSupported(
                f"profile {profile_token!r} of camera {self.label} has no PTZ configuration", host=self.label
            )

    async def _ptz(self, operation: str, profile_token: str, params: Mapping[str, Any]) -> Any:
        self._require_ptz(profile_token)
        ptz = await self._service("ptz")
        try:
            return await self._soap(ptz, operation, params)
        except ActionNotSupported as exc:
            raise PtzNotSupported(f"camera {self.label} does not support {operation}", host=self.label) from exc

    async def _preset_call(
        self, operation: str, profile_token: str, preset_token: str | None, params: Mapping[str, Any]
    ) -> Any:
        try:
            return await self._ptz(operation, profile_token, params)
        except NoSuchToken as exc:
            if preset_token is None:
                raise
            raise PresetNotFound(f"camera {self.label} has no preset {preset_token!r}", host=self.label) from exc

    def _cancel_backup_stop(self, profile_token: str) -> None:
        handle = self._backup_stops.pop(profile_token, None)
        if handle is not None:
            handle.cancel()

    def _start_backup_stop(self, profile_token: str) -> None:
        self._backup_stops.pop(profile_token, None)
        task = asyncio.create_task(self._backup_stop(profile_token), name=f"onvif-stop {self.label}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _backup_stop(self, profile_token: str) -> None:
        try:
            await self.stop(profile_token)
        except CameraError as exc:
            logger.warning("%s: could not stop the timed move of %s: %s", self.label, profile_token, exc)

    # -------------------------------------------------------------------------- events

    def motion_events(
        self,
        on_event: Callable[[MotionEvent], None] | None = None,
        *,
        pull_timeout: float = 20.0,
        subscription_time: float = 600.0,
    ) -> MotionSubscription:
        """A PullPoint subscription to the camera's motion events; `start()` it (or `async with`)."""
        return MotionSubscription(self, on_event, pull_timeout=pull_timeout, subscription_time=subscription_time)

    @property
    def _events_address(self) -> str | None:
        return self._xaddrs.get(NS_EVENTS)

    @property
    def clock_offset(self) -> float:
        return self._clock_offset
