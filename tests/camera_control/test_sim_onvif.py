"""The simulated camera's ONVIF services and WS-Discovery, driven by the real onvif-zeep-async client.

What a client will meet on site: profiles and stream URIs, PTZ and presets, WS-Security with a camera
clock that is hours off, a camera without GetServices, PullPoint motion events, broken and hung answers.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import zeep.exceptions
from lxml import etree
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError
from onvif.util import is_auth_error

from camera_control.sim.camera import SimulatedCamera
from camera_control.sim.discovery import DiscoveryResponder
from camera_control.sim.onvif import OnvifService
from camera_control.sim.state import CameraState

USER = "admin"
PASSWORD = "hall-sim-9"
PROFILE = "Profile_1"
FIVE_HOURS = 5 * 3600.0
SOAP = "http://www.w3.org/2003/05/soap-envelope"

StartService = Callable[..., Awaitable[OnvifService]]
Connect = Callable[..., Awaitable[ONVIFCamera]]


@pytest.fixture
async def start_service() -> AsyncIterator[StartService]:
    """Start OnvifService instances on free ports; state options (ptz, clock_offset) go to CameraState."""
    started: list[OnvifService] = []

    async def start(**options: Any) -> OnvifService:
        state_options = {key: options.pop(key) for key in ("ptz", "clock_offset") if key in options}
        state = CameraState(figure_every=None, **state_options)
        service = OnvifService(state, username=USER, password=PASSWORD, rtsp_port=8554, **options)
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """A real ONVIF client on a port, its service addresses read (GetServices or GetCapabilities)."""
    clients: list[ONVIFCamera] = []

    async def open_client(port: int, password: str = PASSWORD, adjust_time: bool = False) -> ONVIFCamera:
        camera = ONVIFCamera("127.0.0.1", port, USER, password, no_cache=True, adjust_time=adjust_time)
        clients.append(camera)
        await camera.update_xaddrs()
        return camera

    yield open_client
    for camera in clients:
        await camera.close()


def subcodes(fault: zeep.exceptions.Fault) -> set[str]:
    return {etree.QName(code).localname for code in fault.subcodes or []}


async def eventually(check: Callable[[], Awaitable[Any]], attempts: int = 100) -> Any:
    """Poll until `check` returns something truthy (no timing is asserted, only the outcome)."""
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


# ------------------------------------------------------------------ device and media


async def test_a_real_client_reads_the_device_its_profiles_and_stream_uris(start_service, connect):
    service = await start_service()
    camera = await connect(service.port)
    device = await camera.create_devicemgmt_service()

    info = await device.GetDeviceInformation()
    assert (info.Manufacturer, info.Model, info.SerialNumber) == (service.manufacturer, service.model, service.serial)
    scopes = [scope.ScopeItem for scope in await device.GetScopes()]
    assert "onvif://www.onvif.org/name/%E6%A8%A1%E6%8B%9F%E6%91%84%E5%83%8F%E6%9C%BA" in scopes  # 模拟摄像机
    services = await device.GetServices({"IncludeCapability": True})
    assert {entry.Namespace for entry in services} == {
        "http://www.onvif.org/ver10/device/wsdl",
        "http://www.onvif.org/ver10/media/wsdl",
        "http://www.onvif.org/ver10/events/wsdl",
        "http://www.onvif.org/ver20/ptz/wsdl",
    }
    assert all(entry.Capabilities is not None for entry in services)

    media = await camera.create_media_service()
    profiles = await media.GetProfiles()
    assert [profile.token for profile in profiles] == ["Profile_1", "Profile_2"]
    main, sub = (profile.VideoEncoderConfiguration for profile in profiles)
    assert (main.Encoding, main.Resolution.Width, main.Resolution.Height) == ("H264", 1920, 1080)
    assert (sub.Resolution.Width, sub.Resolution.Height, sub.RateControl.FrameRateLimit) == (640, 360, 10)
    assert main.RateControl.BitrateLimit == 4096 and main.H264.GovLength == 50
    assert profiles[0].PTZConfiguration.token == "PTZToken"

    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    uris = [(await media.GetStreamUri({"ProfileToken": p.token, "StreamSetup": setup})).Uri for p in profiles]
    # No credentials in the URI, as real cameras: the RTSP server asks for them itself.
    assert uris == ["rtsp://127.0.0.1:8554/main", "rtsp://127.0.0.1:8554/sub"]
    snapshot = await media.GetSnapshotUri({"ProfileToken": "Profile_2"})
    assert snapshot.Uri == f"http://127.0.0.1:{service.port}/onvif/snapshot?profile=Profile_2"

    with pytest.raises(zeep.exceptions.Fault) as missing:
        await media.GetProfile({"ProfileToken": "Profile_9"})
    assert "NoProfile" in subcodes(missing.value)


async def test_a_camera_without_get_services_is_found_through_get_capabilities(start_service, connect):
    service = await start_service(services=False)
    camera = await connect(service.port)
    device = await camera.create_devicemgmt_service()
    with pytest.raises(zeep.exceptions.Fault) as refused:
        await device.GetServices({"IncludeCapability": False})
    assert "ActionNotSupported" in subcodes(refused.value)

    # update_xaddrs fell back to GetCapabilities: every service is reachable all the same.
    media = await camera.create_media_service()
    assert len(await media.GetProfiles()) == 2
    ptz = await camera.create_ptz_service()
    assert (await ptz.GetStatus({"ProfileToken": PROFILE})).Position.Zoom.x == 0
    capabilities = await camera.get_capabilities()
    assert capabilities["Events"]["WSPullPointSupport"] is True


async def test_a_camera_without_ptz_leaves_it_out_everywhere(start_service, connect):
    service = await start_service(ptz=False)
    camera = await connect(service.port)
    assert "http://www.onvif.org/ver20/ptz/wsdl" not in camera.xaddrs
    with pytest.raises(ONVIFError):
        await camera.create_ptz_service()
    assert (await camera.get_capabilities())["PTZ"] is None
    media = await camera.create_media_service()
    assert all(profile.PTZConfiguration is None for profile in await media.GetProfiles())

    body = '<tptz:GetStatus xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"><tptz:ProfileToken>Profile_1</tptz:ProfileToken></tptz:GetStatus>'
    status, fault = await raw_call(service, "/onvif/ptz_service", body, security_header())
    assert status == 500 and {"ActionNotSupported", "PTZNotSupported"} <= fault_subcodes(fault)


async def test_the_snapshot_uri_asks_for_http_digest_and_serves_a_jpeg(start_service, connect):
    service = await start_service()
    async with httpx.AsyncClient() as client:
        refused = await client.get(f"http://127.0.0.1:{service.port}/onvif/snapshot?profile=Profile_2")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Digest ")

    camera = await connect(service.port)
    jpeg = await camera.get_snapshot("Profile_2")  # the library answers the Digest challenge
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"

    async with httpx.AsyncClient(auth=httpx.DigestAuth(USER, "not-it")) as client:
        wrong = await client.get(f"http://127.0.0.1:{service.port}/onvif/snapshot?profile=Profile_2")
    assert wrong.status_code == 401


# ------------------------------------------------------------------ authentication


async def test_a_wrong_password_is_refused_with_not_authorized(start_service, connect):
    service = await start_service()
    camera = await connect(service.port, password="guess-1234")  # GetServices needs no credentials
    device = await camera.create_devicemgmt_service()
    with pytest.raises(zeep.exceptions.Fault) as refused:
        await device.GetDeviceInformation()
    assert "NotAuthorized" in subcodes(refused.value) and is_auth_error(refused.value)


async def test_a_camera_clock_five_hours_off_needs_the_clients_time_correction(start_service, connect):
    service = await start_service(clock_offset=FIVE_HOURS)

    naive = await connect(service.port)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        await (await naive.create_devicemgmt_service()).GetDeviceInformation()
    assert "NotAuthorized" in subcodes(refused.value)

    # adjust_time: the client reads GetSystemDateAndTime (no credentials needed) and shifts its Created stamps.
    corrected = await connect(service.port, adjust_time=True)
    assert abs(corrected.dt_diff.total_seconds() - FIVE_HOURS) < 5
    device = await corrected.create_devicemgmt_service()
    assert (await device.GetDeviceInformation()).Model == service.model
    clock = (await device.GetSystemDateAndTime()).UTCDateTime
    date, moment = clock.Date, clock.Time
    camera_utc = dt.datetime(date.Year, date.Month, date.Day, moment.Hour, moment.Minute, moment.Second, tzinfo=dt.UTC)
    assert abs(camera_utc.timestamp() - time.time() - FIVE_HOURS) < 5
    ptz = await corrected.create_ptz_service()
    ptz_time = (await ptz.GetStatus({"ProfileToken": PROFILE})).UtcTime
    assert abs(ptz_time.timestamp() - time.time() - FIVE_HOURS) < 5


async def test_username_token_rules(start_service):
    service = await start_service()
    body = '<tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'

    assert (await raw_call(service, "/onvif/device_service", body, security_header(digest=False)))[0] == 200
    fresh = security_header()
    assert (await raw_call(service, "/onvif/device_service", body, fresh))[0] == 200
    for header in (
        fresh,  # the same nonce again: a replay
        security_header(created=time.time() - 600),  # ten minutes behind the camera's clock
        security_header(password="hall-sim-8"),
        security_header(username="operator"),
        "",
    ):
        status, fault = await raw_call(service, "/onvif/device_service", body, header)
        assert (status, fault_subcodes(fault)) == (400, {"NotAuthorized"})

    clock = '<tds:GetSystemDateAndTime xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'
    assert (await raw_call(service, "/onvif/device_service", clock, ""))[0] == 200


async def test_malformed_requests_and_unknown_operations_get_faults_not_crashes(start_service):
    service = await start_service()
    url = f"http://127.0.0.1:{service.port}/onvif/device_service"
    async with httpx.AsyncClient() as client:
        for garbage in (b"<not-closed", b"hello", b"<a/>", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY y "z">]><x/>'):
            response = await client.post(url, content=garbage)
            assert response.status_code == 400
            assert fault_subcodes(response.content) == {"WellFormed"}

    unknown = '<tds:FlyToTheMoon xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'
    status, fault = await raw_call(service, "/onvif/device_service", unknown, security_header())
    assert (status, fault_subcodes(fault)) == (500, {"ActionNotSupported"})
    media_on_device = '<trt:GetProfiles xmlns:trt="http://www.onvif.org/ver10/media/wsdl"/>'
    status, fault = await raw_call(service, "/onvif/device_service", media_on_device, security_header())
    assert (status, fault_subcodes(fault)) == (500, {"ActionNotSupported"})

    clock = '<tds:GetSystemDateAndTime xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'
    assert (await raw_call(service, "/onvif/device_service", clock, ""))[0] == 200


# ------------------------------------------------------------------ PTZ


async def test_continuous_move_turns_the_camera_and_stop_holds_it(start_service, connect):
    service = await start_service()
    camera = await connect(service.port)
    ptz = await camera.create_ptz_service()

    await ptz.ContinuousMove(
        {"ProfileToken": PROFILE, "Velocity": {"PanTilt": {"x": 0.5, "y": -0.25}, "Zoom": {"x": 0.0}}}
    )

    async def turned_right() -> Any:
        status = await ptz.GetStatus({"ProfileToken": PROFILE})
        return status if status.Position.PanTilt.x > 0 else None

    moving = await eventually(turned_right)
    assert moving.Position.PanTilt.y < 0 and moving.Position.Zoom.x == 0  # down, and no zoom
    assert (moving.MoveStatus.PanTilt, moving.MoveStatus.Zoom) == ("MOVING", "IDLE")

    await ptz.Stop({"ProfileToken": PROFILE, "PanTilt": True, "Zoom": True})
    stopped = await ptz.GetStatus({"ProfileToken": PROFILE})
    assert stopped.MoveStatus.PanTilt == "IDLE"
    await asyncio.sleep(0.2)
    held = await ptz.GetStatus({"ProfileToken": PROFILE})
    assert held.Position.PanTilt == stopped.Position.PanTilt

    with pytest.raises(zeep.exceptions.Fault) as too_fast:
        await ptz.ContinuousMove({"ProfileToken": PROFILE, "Velocity": {"PanTilt": {"x": 3.0, "y": 0.0}}})
    assert "InvalidVelocity" in subcodes(too_fast.value)


async def test_presets_are_stored_recalled_and_removed(start_service, connect):
    service = await start_service()
    camera = await connect(service.port)
    ptz = await camera.create_ptz_service()

    async def position() -> tuple[float, float, float]:
        status = await ptz.GetStatus({"ProfileToken": PROFILE})
        return (status.Position.PanTilt.x, status.Position.PanTilt.y, status.Position.Zoom.x)

    window = {"PanTilt": {"x": -0.5, "y": 0.25}, "Zoom": {"x": 0.4}}
    await ptz.AbsoluteMove({"ProfileToken": PROFILE, "Position": window})
    token = await ptz.SetPreset({"ProfileToken": PROFILE, "PresetName": "接待窗口"})
    await ptz.AbsoluteMove({"ProfileToken": PROFILE, "Position": {"PanTilt": {"x": 0.7, "y": -0.3}, "Zoom": {"x": 0}}})
    await ptz.SetHomePosition({"ProfileToken": PROFILE})

    await ptz.GotoPreset({"ProfileToken": PROFILE, "PresetToken": token})
    assert await position() == pytest.approx((-0.5, 0.25, 0.4), abs=1e-5)
    presets = await ptz.GetPresets({"ProfileToken": PROFILE})
    assert [(preset.token, preset.Name) for preset in presets] == [(token, "接待窗口")]
    assert presets[0].PTZPosition.Zoom.x == pytest.approx(0.4)

    await ptz.GotoHomePosition({"ProfileToken": PROFILE})
    assert await position() == pytest.approx((0.7, -0.3, 0.0), abs=1e-5)

    await ptz.RemovePreset({"ProfileToken": PROFILE, "PresetToken": token})
    assert not await ptz.GetPresets({"ProfileToken": PROFILE})
    for operation in (ptz.GotoPreset, ptz.RemovePreset):
        with pytest.raises(zeep.exceptions.Fault) as unknown:
            await operation({"ProfileToken": PROFILE, "PresetToken": token})
        assert {"InvalidArgVal", "NoToken"} <= subcodes(unknown.value)
    assert await position() == pytest.approx((0.7, -0.3, 0.0), abs=1e-5)  # a refused GotoPreset moved nothing


# ------------------------------------------------------------------ events


def motion_states(messages: list[Any]) -> list[tuple[str, str, str]]:
    """(topic, operation, value) of each notification, from the library's parsed PullMessages answer."""
    states = []
    for message in messages:
        body = message.Message._value_1
        states.append((message.Topic._value_1, body.PropertyOperation, body.Data.SimpleItem[0].Value))
    return states


async def test_a_pull_point_hears_the_motion_alarm_rise_and_fall(start_service, connect):
    service = await start_service()
    camera = await connect(service.port)
    manager = await camera.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
    pullpoint = manager.get_service()

    first = await pullpoint.PullMessages({"Timeout": dt.timedelta(seconds=1), "MessageLimit": 100})
    assert motion_states(first.NotificationMessage) == [
        ("tns1:VideoSource/MotionAlarm", "Initialized", "false"),
        ("tns1:RuleEngine/CellMotionDetector/Motion", "Initialized", "false"),
    ]

    # At the PTZ home position the figure's path across the hall crosses the middle of the picture.
    service.state.trigger_figure(duration=1)
    heard: list[tuple[str, str, str]] = []
    for _ in range(20):
        answer = await pullpoint.PullMessages({"Timeout": dt.timedelta(seconds=2), "MessageLimit": 100})
        heard += motion_states(answer.NotificationMessage)
        if ("tns1:VideoSource/MotionAlarm", "Changed", "false") in heard:
            break
    alarm = [(operation, value) for topic, operation, value in heard if topic == "tns1:VideoSource/MotionAlarm"]
    rule = [value for topic, _, value in heard if topic == "tns1:RuleEngine/CellMotionDetector/Motion"]
    assert alarm == [("Changed", "true"), ("Changed", "false")]
    assert rule == ["true", "false"]
    await manager.shutdown()  # Unsubscribe
    assert not service._events.pullpoints


async def test_pull_points_renew_expire_and_unsubscribe(start_service, connect):
    service = await start_service(clock_offset=FIVE_HOURS)
    camera = await connect(service.port, adjust_time=True)
    events = await camera.create_events_service()
    kept = await events.CreatePullPointSubscription({"InitialTerminationTime": "PT1S"})
    lapsing = await events.CreatePullPointSubscription({"InitialTerminationTime": "PT1S"})
    # Times are the camera's: five hours ahead of this machine.
    assert abs(kept.CurrentTime.timestamp() - time.time() - FIVE_HOURS) < 5

    async def post(address: Any, body: str) -> tuple[int, bytes]:
        path = address.Address._value_1.split(f":{service.port}", 1)[1]
        return await raw_call(service, path, body, security_header(created=service.state.camera_time()))

    renew = '<wsnt:Renew xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"><wsnt:TerminationTime>PT60S</wsnt:TerminationTime></wsnt:Renew>'
    assert (await post(kept.SubscriptionReference, renew))[0] == 200
    await asyncio.sleep(1.2)  # past the lapsing subscription's termination time

    pull = '<tev:PullMessages xmlns:tev="http://www.onvif.org/ver10/events/wsdl"><tev:Timeout>PT0S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>'
    status, answer = await post(kept.SubscriptionReference, pull)
    assert status == 200 and answer.count(b"NotificationMessage>") == 4  # the two Initialized messages
    status, fault = await post(lapsing.SubscriptionReference, pull)
    assert (status, fault_subcodes(fault)) == (400, {"ResourceUnknownFault"})

    unsubscribe = '<wsnt:Unsubscribe xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"/>'
    assert (await post(kept.SubscriptionReference, unsubscribe))[0] == 200
    status, fault = await post(kept.SubscriptionReference, pull)
    assert (status, fault_subcodes(fault)) == (400, {"ResourceUnknownFault"})


# ------------------------------------------------------------------ fault injection


async def test_broken_xml_is_a_client_parse_error_and_the_camera_recovers(start_service, connect):
    service = await start_service()
    camera = await connect(service.port)
    device = await camera.create_devicemgmt_service()

    service.fault_mode = "broken_xml"
    # onvif-zeep-async parses leniently (lxml recover): a truncated envelope comes out as a zeep error or, as
    # today, a TypeError from zeep's deserializer. A client adapter has to catch both.
    with pytest.raises((zeep.exceptions.Error, TypeError)):
        await device.GetDeviceInformation()
    media = await camera.create_media_service()
    with pytest.raises((zeep.exceptions.Error, TypeError)):
        await media.GetProfiles()
    service.fault_mode = None
    assert (await device.GetDeviceInformation()).Manufacturer == service.manufacturer


async def test_a_hung_camera_times_out_the_client_and_still_stops(start_service, connect):
    service = await start_service()
    camera = await connect(service.port)
    device = await camera.create_devicemgmt_service()

    service.fault_mode = "hang"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(device.GetDeviceInformation(), 0.5)
    service.fault_mode = None
    assert (await device.GetDeviceInformation()).Manufacturer == service.manufacturer

    service.fault_mode = "hang"
    waiting = asyncio.create_task(device.GetHostname())
    await asyncio.sleep(0.2)
    await service.stop()  # answers the hung request instead of waiting for it forever
    with pytest.raises(zeep.exceptions.TransportError):
        await waiting


# ------------------------------------------------------------------ WS-Discovery


async def test_ws_discovery_answers_a_matching_unicast_probe_once(start_service):
    xaddr = "http://127.0.0.1:8080/onvif/device_service"
    responder = DiscoveryResponder(xaddr, ["onvif://www.onvif.org/name/%E5%89%8D%E5%8F%B0"], host="127.0.0.1", port=0)
    await responder.start()
    try:
        answers = await probe_answers(
            responder.port,
            [
                probe("uuid:display", "dn:NetworkVideoDisplay"),  # a type this camera is not
                probe("uuid:nvt", "dn:NetworkVideoTransmitter"),
                probe("uuid:nvt", "dn:NetworkVideoTransmitter"),  # the SOAP-over-UDP repeat
                probe("uuid:any", None),
            ],
            expected=2,
        )
    finally:
        await responder.stop()
    assert [match["RelatesTo"] for match in answers] == ["uuid:nvt", "uuid:any"]
    assert answers[0]["XAddrs"] == xaddr
    assert "onvif://www.onvif.org/name/%E5%89%8D%E5%8F%B0" in answers[0]["Scopes"].split()
    assert set(answers[0]["Types"].split()) == {"dn:NetworkVideoTransmitter", "tds:Device"}


async def test_a_simulated_camera_announces_itself_and_serves_onvif(connect):
    async with SimulatedCamera(serve_rtsp=False, rtsp_port=8554, discovery_port=0, figure_every=None) as camera:
        assert camera.discovery is not None
        (match,) = await probe_answers(camera.discovery.port, [probe("uuid:hall", None)], expected=1)
        assert match["XAddrs"] == camera.device_xaddr == f"http://127.0.0.1:{camera.onvif_port}/onvif/device_service"

        client = await connect(camera.onvif_port, password=camera.password)
        media = await client.create_media_service()
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        uri = await media.GetStreamUri({"ProfileToken": "Profile_1", "StreamSetup": setup})
        assert uri.Uri == "rtsp://127.0.0.1:8554/main"


async def test_a_simulated_camera_points_its_stream_uri_at_its_own_rtsp_server(connect):
    pytest.importorskip("camera_control.sim.rtsp")
    async with SimulatedCamera(main_size=(640, 360), figure_every=None) as camera:
        client = await connect(camera.onvif_port, password=camera.password)
        media = await client.create_media_service()
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        uri = (await media.GetStreamUri({"ProfileToken": "Profile_2", "StreamSetup": setup})).Uri
        assert uri == f"rtsp://127.0.0.1:{camera.rtsp_port}/sub"
        reader, writer = await asyncio.open_connection("127.0.0.1", camera.rtsp_port)
        writer.write(f"OPTIONS {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        assert (await reader.readline()).startswith(b"RTSP/1.0 200")
        writer.close()
        await writer.wait_closed()


# ------------------------------------------------------------------ helpers


def security_header(
    username: str = USER, password: str = PASSWORD, created: float | None = None, digest: bool = True
) -> str:
    """A WS-Security UsernameToken header as a client writes it."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if created is None else created))
    profile = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    if digest:
        nonce = os.urandom(16)
        value = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()).decode()
        secret = (
            f'<wsse:Password Type="{profile}#PasswordDigest">{value}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        )
    else:
        secret = f'<wsse:Password Type="{profile}#PasswordText">{password}</wsse:Password>'
    return (
        '<s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"'
        ' xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{username}</wsse:Username>{secret}"
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
    )


async def raw_call(service: OnvifService, path: str, body: str, header: str) -> tuple[int, bytes]:
    envelope = f'<s:Envelope xmlns:s="{SOAP}">{header}<s:Body>{body}</s:Body></s:Envelope>'
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://127.0.0.1:{service.port}{path}",
            content=envelope.encode(),
            headers={"Content-Type": "application/soap+xml; charset=utf-8"},
        )
    return response.status_code, response.content


def fault_subcodes(content: bytes) -> set[str]:
    root = etree.fromstring(content)
    values = root.findall(f".//{{{SOAP}}}Subcode/{{{SOAP}}}Value")
    return {value.text.split(":", 1)[1] for value in values}


def probe(message_id: str, types: str | None) -> bytes:
    wanted = f"<d:Types>{types}</d:Types>" if types else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<s:Header><a:MessageID>{message_id}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>"
        f"<s:Body><d:Probe>{wanted}</d:Probe></s:Body></s:Envelope>"
    ).encode()


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait(data)


async def probe_answers(port: int, probes: list[bytes], expected: int) -> list[dict[str, str]]:
    """Send probes by unicast and read `expected` ProbeMatch answers, in order of arrival."""
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(_Collector, remote_addr=("127.0.0.1", port))
    try:
        for datagram in probes:
            transport.sendto(datagram)
        answers = [await asyncio.wait_for(collector.received.get(), 5) for _ in range(expected)]
    finally:
        transport.close()
    matches = []
    for answer in answers:
        root = etree.fromstring(answer)
        fields = {"RelatesTo": root.findtext(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}RelatesTo")}
        for name in ("Types", "Scopes", "XAddrs"):
            fields[name] = root.findtext(f".//{{http://schemas.xmlsoap.org/ws/2005/04/discovery}}{name}")
        matches.append(fields)
    return matches
