"""One simulated IP camera: its state, ONVIF services, RTSP streams and WS-Discovery, started and stopped together.

`hall camera-sim` and `hall demo` run these in place of the hall's real cameras; tests run them to drive
the camera_control package end to end.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from camera_control.sim.discovery import DiscoveryResponder
from camera_control.sim.onvif import OnvifService, StreamProfile
from camera_control.sim.state import CameraState

if TYPE_CHECKING:
    from camera_control.sim.rtsp import RtspServer

logger = logging.getLogger(__name__)

MAIN_BITRATE_KBPS = 4096
SUB_STREAM = (640, 360, 10, 512)  # width, height, fps, kbit/s: a camera's usual second stream


class SimulatedCamera:
    """A camera on `host`: ONVIF on `onvif_port`, RTSP on `rtsp_port` (0 picks free ports), and WS-Discovery
    on `discovery_port` when given. Read the actual ports after start()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        onvif_port: int = 0,
        rtsp_port: int = 0,
        username: str = "admin",
        password: str = "hall-sim-1",
        *,
        ptz: bool = True,
        events: bool = True,
        services: bool = True,
        clock_offset: float = 0.0,
        main_size: tuple[int, int] = (1920, 1080),
        main_fps: int = 25,
        codec: Literal["h264", "h265"] = "h264",
        discovery_port: int | None = None,
        discovery_multicast: bool = False,
        name: str = "模拟摄像机",
        figure_every: float | None = 30.0,
        serve_rtsp: bool = True,
        advertised_host: str | None = None,
    ) -> None:
        self.host = host
        self.username = username
        self.password = password
        self.state = CameraState(ptz=ptz, clock_offset=clock_offset, figure_every=figure_every, name=name)
        width, height = main_size
        sub_width, sub_height, sub_fps, sub_bitrate = SUB_STREAM
        # The main stream takes the chosen codec; the sub stream stays H.264, as on most cameras.
        self.profiles = [
            StreamProfile(
                "Profile_1", "MainStream", "main", width, height, main_fps, _encoding(codec), MAIN_BITRATE_KBPS
            ),
            StreamProfile("Profile_2", "SubStream", "sub", sub_width, sub_height, sub_fps, "H264", sub_bitrate),
        ]
        self.onvif = OnvifService(
            self.state,
            host=host,
            port=onvif_port,
            username=username,
            password=password,
            rtsp_port=rtsp_port,
            streams=self.profiles,
            model="SIM-PTZ-2MP" if ptz else "SIM-BULLET-2MP",
            services=services,
            events=events,
            advertised_host=advertised_host,
        )
        self.rtsp: RtspServer | None = None
        self.discovery: DiscoveryResponder | None = None
        self._serve_rtsp = serve_rtsp
        self._rtsp_port = rtsp_port
        self._discovery_port = discovery_port
        self._discovery_multicast = discovery_multicast

    @property
    def onvif_port(self) -> int:
        return self.onvif.port

    @property
    def rtsp_port(self) -> int:
        return self.rtsp.port if self.rtsp is not None else self._rtsp_port

    @property
    def device_xaddr(self) -> str:
        return self.onvif.device_xaddr

    async def start(self) -> None:
        try:
            if self._serve_rtsp:
                self.rtsp = self._rtsp_server()
                await self.rtsp.start()
                self.onvif.rtsp_port = self.rtsp.port
            await self.onvif.start()
            if self._discovery_port is not None:
                self.discovery = DiscoveryResponder(
                    self.onvif.device_xaddr,
                    self.onvif.scopes,
                    host=self.host,
                    port=self._discovery_port,
                    multicast=self._discovery_multicast,
                )
                await self.discovery.start()
        except BaseException:
            await self.stop()
            raise
        logger.info("%s: camera at %s, RTSP port %d", self.state.name, self.onvif.device_xaddr, self.onvif.rtsp_port)

    async def stop(self) -> None:
        if self.discovery is not None:
            await self.discovery.stop()
            self.discovery = None
        await self.onvif.stop()
        if self.rtsp is not None:
            await self.rtsp.stop()
            self.rtsp = None

    async def __aenter__(self) -> SimulatedCamera:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    def _rtsp_server(self) -> RtspServer:
        # Imported here: the RTSP side pulls in the encoders (PyAV), which ONVIF-only uses do not need.
        from camera_control.sim.rtsp import RtspServer, StreamSpec

        specs = [
            StreamSpec(
                "/" + profile.path.lstrip("/"),
                profile.width,
                profile.height,
                fps=profile.fps,
                codec="h265" if profile.encoding == "H265" else "h264",
                gop=profile.gov_length,
                bitrate_kbps=profile.bitrate_kbps,
            )
            for profile in self.profiles
        ]
        return RtspServer(
            self.state,
            host=self.host,
            port=self._rtsp_port,
            username=self.username,
            password=self.password,
            streams=specs,
        )


def _encoding(codec: str) -> Literal["H264", "H265"]:
    if codec == "h264":
        return "H264"
    if codec == "h265":
        return "H265"
    raise ValueError(f"codec is h264 or h265, not {codec!r}")
