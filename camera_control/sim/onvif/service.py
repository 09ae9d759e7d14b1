"""OnvifService: the camera's SOAP endpoints on one HTTP port, its start and stop, and request dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal

import uvicorn
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from camera_control.sim.onvif.auth import PRE_AUTH, HttpDigest, UsernameTokenCheck
from camera_control.sim.onvif.device import DeviceService
from camera_control.sim.onvif.envelope import (
    BROKEN_AT,
    Call,
    Handler,
    SoapFault,
    fault_body,
    not_supported,
    parse_request,
    soap_envelope,
)
from camera_control.sim.onvif.events import EVENT_ACTIONS, EventService
from camera_control.sim.onvif.media import MediaService
from camera_control.sim.onvif.network import WILDCARD_HOSTS, bracket, listening_socket, primary_address
from camera_control.sim.onvif.profiles import DEFAULT_STREAMS, StreamProfile
from camera_control.sim.onvif.ptz import PtzService
from camera_control.sim.state import CameraState

logger = logging.getLogger(__name__)

FaultMode = Literal["broken_xml", "hang"]

MAX_REQUEST_BYTES = 1 << 20


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the program that embeds the camera owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _UnloggedHttp(H11Protocol):
    """A camera's HTTP traffic is not the embedding program's: keep it out of the shared uvicorn.access log.
    (uvicorn's own access_log=False would empty that logger for every server in the process.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


class OnvifService:
    """The camera's SOAP endpoints on one HTTP port (port 0 picks a free one; read `.port` after start())."""

    def __init__(
        self,
        state: CameraState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str,
        password: str,
        rtsp_port: int = 554,
        streams: Sequence[StreamProfile | tuple[str, str, str, int, int, int, str, int]] = DEFAULT_STREAMS,
        manufacturer: str = "ReceptionHall",
        model: str = "SIM-PTZ-2MP",
        firmware: str = "V1.0.0 build 240601",
        serial: str | None = None,
        hardware_id: str = "SIM-1",
        services: bool = True,
        events: bool = True,
        advertised_host: str | None = None,
        location: str = "reception-hall",
    ) -> None:
        if not streams:
            raise ValueError("a camera needs at least one stream")
        self.state = state
        self.host = host
        self.rtsp_port = rtsp_port
        self.streams = [StreamProfile(*stream) for stream in streams]
        self.manufacturer = manufacturer
        self.model = model
        self.firmware = firmware
        self.serial = serial or "SIM" + uuid.uuid5(uuid.NAMESPACE_URL, f"reception-hall:{state.name}").hex[:12].upper()
        self.hardware_id = hardware_id
        self.services_supported = services
        self.events_supported = events
        self.advertised_host = advertised_host
        self.location = location
        self.fault_mode: FaultMode | None = None
        self._requested_port = port
        self._port = port
        self._username_token = UsernameTokenCheck(username, password, state.camera_time, label=state.name)
        self._http_digest = HttpDigest(username, password, realm=f"IP Camera({self.serial[-8:]})")
        self._stopping = asyncio.Event()
        self._server: _EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._events = EventService(self)
        self._operations: dict[str, dict[tuple[str, str], Handler]] = {
            "device": DeviceService(self).operations(),
            "media": MediaService(self).operations(),
            "ptz": PtzService(self).operations(),
            "events": self._events.operations(),
            "pullpoint": self._events.pullpoint_operations(),
        }
        self.app = Starlette(
            routes=[
                Route("/onvif/device_service", self._endpoint("device"), methods=["POST"]),
                Route("/onvif/media_service", self._endpoint("media"), methods=["POST"]),
                Route("/onvif/ptz_service", self._endpoint("ptz"), methods=["POST"]),
                Route("/onvif/events_service", self._endpoint("events"), methods=["POST"]),
                Route("/onvif/pullpoint/{pullpoint_id}", self._endpoint("pullpoint"), methods=["POST"]),
                Route("/onvif/snapshot", self._snapshot, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def device_xaddr(self) -> str:
        """The device service address to announce (WS-Discovery), for clients that have not asked yet."""
        return f"{self._base_url(self._announced_host())}/onvif/device_service"

    @property
    def scopes(self) -> list[str]:
        """The camera's ONVIF scopes (GetScopes and WS-Discovery)."""
        quote = urllib.parse.quote
        return [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/type/Network_Video_Transmitter",
            *(["onvif://www.onvif.org/type/ptz"] if self.state.ptz else []),
            "onvif://www.onvif.org/Profile/Streaming",
            f"onvif://www.onvif.org/hardware/{quote(self.model, safe='')}",
            f"onvif://www.onvif.org/name/{quote(self.state.name, safe='')}",
            f"onvif://www.onvif.org/location/{quote(self.location, safe='/')}",
        ]

    async def start(self) -> None:
        if self._serving is not None:
            raise RuntimeError("the ONVIF service is already running")
        self._stopping.clear()
        sock = listening_socket(self.host, self._requested_port)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            http=_UnloggedHttp,
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = _EmbeddedServer(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"onvif-sim:{self._port}")
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise RuntimeError("the ONVIF service stopped while starting")
            await asyncio.sleep(0.01)
        logger.info("%s: ONVIF services on http://%s:%d/onvif/device_service", self.state.name, self.host, self._port)

    async def stop(self) -> None:
        """Stop serving: hung answers and pending PullMessages return first, then the server closes."""
        self._stopping.set()
        await self._events.close()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
        self._server = None
        self._serving = None

    # ------------------------------------------------------------------ the web edge

    def _endpoint(self, service: str) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            return await self._answer(service, request)

        return answer

    async def _answer(self, service: str, request: Request) -> Response:
        if self.fault_mode == "hang":
            await self._stopping.wait()
            return Response(status_code=503)
        payload = await request.body()
        status, content = await self._soap(service, request, payload)
        if self.fault_mode == "broken_xml":
            # Cut inside the Envelope's start tag, as a connection lost mid-answer: always broken, whatever the
            # operation. (Cut later, a lenient parser recovers a partial Body and the client sees partial data.)
            status, content = 200, content[:BROKEN_AT]
        return Response(content, status_code=status, media_type="application/soap+xml; charset=utf-8")

    async def _soap(self, service: str, request: Request, payload: bytes) -> tuple[int, bytes]:
        try:
            if len(payload) > MAX_REQUEST_BYTES:
                raise SoapFault("Well-formed Error: the request is too large", "ter:WellFormed")
            header, operation = parse_request(payload)
            qname = etree.QName(operation)
            key = (qname.namespace or "", qname.localname)
            if key not in PRE_AUTH:
                self._username_token.verify(header)
            handler = self._operations[service].get(key)
            if handler is None:
                raise not_supported()
            host = self._request_host(request)
            call = Call(operation, self._base_url(host), host, request.path_params.get("pullpoint_id"))
            body = await handler(call)
            action = EVENT_ACTIONS.get(qname.localname) if service in ("events", "pullpoint") else None
            return 200, soap_envelope(body, action)
        except SoapFault as fault:
            return fault.status, soap_envelope(fault_body(fault))
        except Exception:  # the web edge: a bug in a handler answers a fault, never a dropped connection
            logger.exception("%s: ONVIF %s request failed", self.state.name, service)
            return 500, soap_envelope(fault_body(SoapFault("Internal error", "ter:Action", code="env:Receiver")))

    async def _snapshot(self, request: Request) -> Response:
        verdict = self._http_digest.check(request.method, request.url.path, request.headers.get("authorization"))
        if verdict != "ok":
            challenge = self._http_digest.challenge(stale=verdict == "stale")
            return Response("Unauthorized", status_code=401, headers={"WWW-Authenticate": challenge})
        token = request.query_params.get("profile", self.streams[0].token)
        stream = next((stream for stream in self.streams if stream.token == token), None)
        if stream is None:
            return Response("no such profile", status_code=404)
        try:
            from camera_control.sim.scene import snapshot_jpeg
        except ImportError:
            logger.warning("%s: no scene to take a snapshot of", self.state.name)
            return Response("snapshot unavailable", status_code=503)
        jpeg = await asyncio.to_thread(snapshot_jpeg, self.state, stream.width, stream.height)
        return Response(jpeg, media_type="image/jpeg")

    def _request_host(self, request: Request) -> str:
        if self.advertised_host:
            return self.advertised_host
        if self.host not in WILDCARD_HOSTS:
            return self.host
        return urllib.parse.urlsplit("//" + request.headers.get("host", "")).hostname or primary_address()

    def _announced_host(self) -> str:
        if self.advertised_host:
            return self.advertised_host
        return primary_address() if self.host in WILDCARD_HOSTS else self.host

    def _base_url(self, host: str) -> str:
        return f"http://{bracket(host)}:{self._port}"
