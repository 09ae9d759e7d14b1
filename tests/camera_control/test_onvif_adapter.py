"""The ONVIF adapter against replayed answers of real cameras (tests/fixtures/onvif, see SOURCES.md).

Each test starts a fake camera on 127.0.0.1 that answers what the vendor's camera answered, and drives
the adapter through the ONVIF library over real HTTP, as in the hall.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from onvif_replay import FIXTURES, ReplayCamera

from camera_control.errors import (
    CameraAuthFailed,
    CameraProtocolError,
    CameraTimeout,
    CameraUnreachable,
    PresetNotFound,
    PtzNotSupported,
    StreamNotAvailable,
)
from camera_control.onvif import (
    CameraInfo,
    MotionEvent,
    OnvifCamera,
    PtzPreset,
    PtzStatus,
    Resolution,
    SubscriptionState,
    motion_events_from_pull,
    redact,
)

PASSWORD = "hall-secret"


@contextlib.asynccontextmanager
async def connected(
    *vendors: str, password: str = PASSWORD, timeout: float = 5.0, **options: Any
) -> AsyncIterator[tuple[ReplayCamera, OnvifCamera, CameraInfo]]:
    async with ReplayCamera(*vendors, password=password, **options) as fake:
        camera = OnvifCamera(fake.host, fake.port, "admin", password, timeout=timeout)
        try:
            info = await camera.connect()
            yield fake, camera, info
        finally:
            await camera.close()


# ---------------------------------------------------------------------------- what each camera is


@dataclasses.dataclass(frozen=True)
class Expected:
    vendors: tuple[str, ...]
    manufacturer: str
    model: str
    firmware: str
    # (token, encoding, width x height or None, fps, bitrate) of the first profile, and how many there are
    first_profile: tuple[str, str | None, Resolution | None, float | None, int | None]
    profiles: int
    ptz: bool
    uses_get_services: bool


CAMERAS = {
    "axis": Expected(
        ("axis",), "AXIS", "M2025-LE", "9.80.3.13",
        # Axis writes BitrateLimit 2147483647 for "no limit"
        ("profile_1_h264", "H264", Resolution(1920, 1080), 30.0, None), 2, False, True,
    ),
    "bosch": Expected(
        ("bosch",), "Bosch", "FLEXIDOME indoor 5100i IR", "8.71.0066",
        ("0", "H264", Resolution(1920, 1080), 30.0, 5200), 4, False, False,
    ),
    "dlink": Expected(
        ("dlink",), "D-Link Corporation", "DCS-6511", "1.16.00",
        ("Profile1", "H264", Resolution(1280, 1024), 7.0, 4096), 2, False, False,
    ),
    "generic-ipnc-ptz": Expected(
        ("generic-ipnc-ptz",), "ONVIF_IPNC", "IPG-8150PSS", "1.3.0-20210203CN-PT",
        ("PROFILE_000", "H264", Resolution(2560, 1920), 20.0, 2048), 2, True, True,
    ),
    "generic-ptz-8999": Expected(
        ("generic-ptz-8999",), "", "IPD-H4K8M05-BS", "V1.04.10-190309",
        ("MainStream", "H264", Resolution(2592, 1944), 25.0, 5120), 2, True, True,
    ),
    "hikvision-platform-ptz": Expected(
        ("hikvision-platform-ptz",), "ONVIF", "ENP1A14-IR/25X", "V5.5.3 build 180822",
        # H265 in a media ver10 profile; the unconfigured "thirdStream" (no encoder) is left out
        ("Profile_1", "H265", Resolution(2560, 1440), 25.0, 8192), 2, True, True,
    ),
    "uniview-platform": Expected(
        ("uniview-platform",), "NONE", "GX728MF-IR28", "IPC_G6106-B0005P11D1812C03",
        ("media_profile1", "H264", Resolution(3840, 2160), 20.0, 4096), 3, False, True,
    ),
    "uniview-platform-ptz": Expected(
        ("uniview-platform-ptz",), "SUNBA", "Performance-Series", "QIPC-B2202.3.73.C06290.NB.230628",
        ("media_profile1", "H264", Resolution(2592, 1944), 12.0, 6144), 3, True, True,
    ),
    "xiongmai-ptz": Expected(
        ("xiongmai-ptz",), "H264", "XM530_50X50-WG_8M", "V5.00.R02.L5330747.10010.349917..ONVIF 16.12",
        ("000", "H264", Resolution(2592, 1944), 12.0, 2205), 1, True, True,
    ),
    # Dahua NVR: twelve channels whose main-stream encoders carry only a Name (the sub streams none)
    "dahua": Expected(("dahua",), "", "", "", ("MediaProfile00000", None, None, None, None), 12, False, False),
    # Lorex and the Dahua-style "MediaProfile" camera captured only GetProfiles: served over the Dahua capture
    "lorex": Expected(
        ("lorex", "dahua"), "", "", "", ("Profile000", None, None, None, None), 2, False, False,
    ),
    "unknown-mediaprofile": Expected(
        ("unknown-mediaprofile", "dahua"), "", "", "",
        ("MediaProfile00000", "H264", Resolution(2592, 1944), 20.0, 6144), 2, False, False,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", CAMERAS)
async def test_reads_device_profiles_and_services(name: str) -> None:
    expected = CAMERAS[name]
    async with connected(*expected.vendors) as (fake, _, info):
        assert (info.device.manufacturer, info.device.model, info.device.firmware) == (
            expected.manufacturer,
            expected.model,
            expected.firmware,
        )
        assert len(info.profiles) == expected.profiles
        first = info.profiles[0]
        assert (first.token, first.encoding, first.resolution, first.fps, first.bitrate_kbps) == expected.first_profile
        assert (info.ptz is not None) == expected.ptz
        assert all(profile.ptz for profile in info.profiles) == expected.ptz
        assert info.events
        # Cameras without GetServices were asked GetCapabilities instead
        assert ("GetCapabilities" not in fake.operations) == expected.uses_get_services


STREAMS = {
    "axis": ("axis",), "bosch": ("bosch",), "dahua": ("dahua",), "generic-ipnc-ptz": ("generic-ipnc-ptz",),
    "generic-ptz-8999": ("generic-ptz-8999",), "hikvision-platform-ptz": ("hikvision-platform-ptz",),
    "uniview-platform-ptz": ("uniview-platform-ptz",), "xiongmai-ptz": ("xiongmai-ptz",),
}  # fmt: skip


@pytest.mark.parametrize("name", STREAMS)
async def test_stream_uri_carries_credentials_that_redact_hides(name: str) -> None:
    password = "p@ss:w/rd 1"
    async with connected(*STREAMS[name], password=password) as (_, camera, info):
        uri = await camera.stream_uri(info.profiles[0].token)
    parts = urllib.parse.urlsplit(uri)
    assert parts.scheme == "rtsp"
    assert parts.hostname == "127.0.0.1"
    assert (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or "")) == (
        "admin",
        password,
    )
    shown = redact(uri)
    assert "p%40ss" not in shown and password not in shown and "admin" not in shown
    assert shown.startswith("rtsp://***@127.0.0.1")


async def test_stream_uri_comes_from_media2_when_media_ver10_has_none() -> None:
    # Axis M2025-LE was captured answering GetStreamUri through Media2 only
    async with connected("axis") as (fake, camera, _info):
        uri = await camera.stream_uri("profile_1_h264")
    assert fake.operations[-2:] == ["GetStreamUri", "Media2:GetStreamUri"]
    assert uri == (
        "rtsp://admin:hall-secret@127.0.0.1/onvif-media/media.amp"
        "?profile=profile_1_h264&sessiontimeout=60&streamtype=unicast"
    )


async def test_xiongmai_in_path_credentials_are_filled_and_hidden() -> None:
    async with connected("xiongmai-ptz") as (_, camera, _info):
        uri = await camera.stream_uri("000")
    assert "/user=admin_password=hall-secret_channel=1_stream=0" in uri
    assert "hall-secret" not in redact(uri)
    assert "/user=***_password=***_channel=1" in redact(uri)


async def test_a_camera_without_stream_uri_says_so() -> None:
    # D-Link DCS-6511 and the Uniview-platform fixed camera were not captured answering GetStreamUri
    async with connected("dlink") as (_, camera, info):
        with pytest.raises(StreamNotAvailable):
            await camera.stream_uri(info.profiles[0].token)


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("bosch", "http://127.0.0.1:{port}/snap.jpg?JpegCam=1"),
        ("dlink", "http://127.0.0.1:{port}/dms?nowprofileid=1"),  # through the device_service XAddr
        ("uniview-platform", "http://127.0.0.1:{port}/images/snapshot.jpg"),
        # XiongMai puts user= and password= in the query: not in what we hand out
        ("xiongmai-ptz", "http://127.0.0.1:{port}/webcapture.jpg?command=snap&channel=1"),
    ],
)
async def test_snapshot_uri_has_no_credentials(vendor: str, expected: str) -> None:
    async with connected(vendor) as (fake, camera, info):
        uri = await camera.snapshot_uri(info.profiles[0].token)
        assert uri == expected.format(port=fake.port)


@pytest.mark.parametrize("auth", ["digest", "basic"])
async def test_snapshot_fetched_with_digest_or_basic(auth: str) -> None:
    async with connected("hikvision-platform-ptz", snapshot_auth=auth) as (_, camera, _info):
        picture = await camera.snapshot("Profile_1")
    assert picture[:2] == b"\xff\xd8"  # a JPEG


async def test_snapshot_with_a_refused_password() -> None:
    async with connected("bosch") as (fake, camera, _info):
        fake.password = "changed-on-the-camera"
        with pytest.raises(CameraAuthFailed):
            await camera.snapshot("0")


# ---------------------------------------------------------------------------- PTZ


@pytest.mark.parametrize(
    ("vendor", "count", "first"),
    [
        ("hikvision-platform-ptz", 300, PtzPreset("1", "MIMBER", -0.198778, -0.982444, 0.05375)),
        ("generic-ipnc-ptz", 100, PtzPreset("z_ovf_ptz_01", "z_ovf_ptz_01", 0.0, 0.0, 0.0)),
        ("generic-ptz-8999", 255, PtzPreset("1", "1", None, None, None)),  # no positions given
        ("uniview-platform-ptz", 255, PtzPreset("1", "1", None, None, None)),
        # XiongMai's answer has an unclosed <wsse:Security> in its Header: the Body is kept
        ("xiongmai-ptz", 127, PtzPreset("1", "1", None, None, None)),
    ],
)
async def test_presets(vendor: str, count: int, first: PtzPreset) -> None:
    async with connected(vendor) as (_, camera, info):
        presets = await camera.presets(info.profiles[0].token)
    assert presets[0] == first
    assert len(presets) == count


async def test_ptz_moves_reach_the_camera() -> None:
    async with connected("generic-ipnc-ptz") as (fake, camera, info):
        assert info.ptz is not None and info.ptz.continuous and info.ptz.absolute and info.ptz.zoom
        await camera.continuous_move("PROFILE_000", pan=0.5, tilt=-0.25, zoom=0.0)
        await camera.stop("PROFILE_000")
        await camera.absolute_move("PROFILE_000", pan=0.1, tilt=0.2, zoom=0.5, speed=1.0)
        await camera.relative_move("PROFILE_000", pan=-0.1, tilt=0.0)
        await camera.goto_preset("PROFILE_000", "z_ovf_ptz_02", speed=0.5)
        assert await camera.set_preset("PROFILE_000", "Reception desk 3") == "z_ovf_ptz_99"
        await camera.remove_preset("PROFILE_000", "z_ovf_ptz_01")
        await camera.goto_home("PROFILE_000")
        assert await camera.status("PROFILE_000") == PtzStatus(0.0, 0.0, 0.0, moving=False)
    moves = [op for op in fake.operations if op not in ("GetSystemDateAndTime", "GetServices")]
    assert moves[-9:] == [
        "ContinuousMove", "Stop", "AbsoluteMove", "RelativeMove", "GotoPreset", "SetPreset", "RemovePreset",
        "GotoHomePosition", "GetStatus",
    ]  # fmt: skip


async def test_a_timed_move_is_stopped_even_if_the_camera_ignores_the_timeout() -> None:
    async with connected("hikvision-platform-ptz") as (fake, camera, _info):
        await camera.continuous_move("Profile_1", pan=1.0, timeout=0.2)
        await fake.wait_for("Stop")


async def test_bad_ptz_input_is_refused_before_any_call() -> None:
    async with connected("generic-ipnc-ptz") as (fake, camera, _info):
        asked = len(fake.requests)
        with pytest.raises(ValueError, match="pan"):
            await camera.continuous_move("PROFILE_000", pan=2.0)
        with pytest.raises(ValueError, match="speed"):
            await camera.goto_preset("PROFILE_000", "1", speed=-1)
        assert len(fake.requests) == asked


async def test_ptz_on_a_camera_without_ptz_is_refused_before_any_call() -> None:
    async with connected("axis") as (fake, camera, info):
        asked = len(fake.requests)
        assert info.ptz is None
        with pytest.raises(PtzNotSupported):
            await camera.continuous_move("profile_1_h264", pan=0.5)
        with pytest.raises(PtzNotSupported):
            await camera.presets("profile_1_h264")
        with pytest.raises(PtzNotSupported):
            await camera.goto_home("profile_1_h264")
        assert len(fake.requests) == asked


async def test_ptz_operation_the_camera_lacks() -> None:
    # generic-ptz-8999 was not captured answering GotoHomePosition: its own "not implemented" fault
    async with connected("generic-ptz-8999") as (_, camera, _info):
        with pytest.raises(PtzNotSupported):
            await camera.goto_home("MainStream")


async def test_unknown_preset() -> None:
    async with connected("hikvision-platform-ptz", refuse={"GotoPreset": "NoToken"}) as (_, camera, _info):
        with pytest.raises(PresetNotFound):
            await camera.goto_preset("Profile_1", "999")


@pytest.mark.parametrize(
    ("vendor", "status"),
    [
        # Hikvision platform: position but no MoveStatus
        ("hikvision-platform-ptz", PtzStatus(0.801444, -0.982444, 0.05375, moving=None)),
        # raw motor counts (32768) instead of the generic space mean nothing: None
        ("generic-ptz-8999", PtzStatus(None, None, None, moving=None)),
        ("uniview-platform-ptz", PtzStatus(0.5, 0.499777734, 0.0, moving=False)),
    ],
)
async def test_ptz_status(vendor: str, status: PtzStatus) -> None:
    async with connected(vendor) as (_, camera, info):
        assert await camera.status(info.profiles[0].token) == status


# ---------------------------------------------------------------------------- clock and failures


@pytest.mark.parametrize("hours", [5, -7])
async def test_a_camera_clock_hours_off_still_authenticates(hours: int) -> None:
    shift = dt.timedelta(hours=hours)
    async with connected("generic-ipnc-ptz", clock_shift=shift) as (_, camera, info):
        assert abs(info.clock_offset - shift.total_seconds()) <= 2
        assert await camera.presets("PROFILE_000")  # signed in the camera's time, again


async def test_without_the_clock_correction_the_fake_refuses() -> None:
    # The same camera, had it not told its time: the fake really checks Created against its clock
    with pytest.raises(CameraAuthFailed):
        async with connected("generic-ipnc-ptz", clock_shift=dt.timedelta(hours=5), missing=["GetSystemDateAndTime"]):
            pass


async def test_wrong_password() -> None:
    async with ReplayCamera("hikvision-platform-ptz", password=PASSWORD) as fake:
        camera = OnvifCamera(fake.host, fake.port, "admin", "not-the-password")
        with pytest.raises(CameraAuthFailed) as caught:
            await camera.connect()
    assert "not-the-password" not in str(caught.value)
    assert caught.value.code == "camera_auth_failed"


async def test_unreachable_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    camera = OnvifCamera("127.0.0.1", port, "admin", PASSWORD, timeout=2.0)
    with pytest.raises(CameraUnreachable):
        await camera.connect()


async def test_broken_xml() -> None:
    # GetDeviceInformation's answer breaks off mid-way: no half-read device
    async with ReplayCamera("bosch", password=PASSWORD, broken=["GetDeviceInformation"]) as fake:
        camera = OnvifCamera(fake.host, fake.port, "admin", PASSWORD)
        with pytest.raises(CameraProtocolError):
            await camera.connect()


async def test_a_camera_that_never_answers() -> None:
    async with ReplayCamera("bosch", silent=True) as fake:
        camera = OnvifCamera(fake.host, fake.port, "admin", PASSWORD, timeout=0.3)
        with pytest.raises(CameraTimeout):
            await camera.connect()


async def test_health_check_notices_a_changed_password() -> None:
    async with connected("bosch") as (fake, camera, _info):
        await camera.check()
        fake.password = "changed-on-the-camera"
        with pytest.raises(CameraAuthFailed):
            await camera.check()


async def test_nothing_logged_carries_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    received: list[MotionEvent] = []
    async with connected("xiongmai-ptz") as (_, camera, _info):
        await camera.stream_uri("000")
        await camera.snapshot("000")
        await camera.presets("000")
    async with connected("hikvision", "hikvision-platform-ptz", pull_messages=[PULL]) as (fake, camera, _info):
        subscription = camera.motion_events(received.append, pull_timeout=1.0)
        async with subscription:
            await fake.wait_for("PullMessages", 2)
    assert received
    assert PASSWORD not in caplog.text
    assert "PasswordDigest" not in caplog.text and "Nonce" not in caplog.text


def test_importing_the_adapter_leaves_logging_and_proxies_alone() -> None:
    # onvif/client.py configures the root logger when imported, and ONVIFCamera() deletes the proxy
    # variables from the environment: the adapter undoes both
    script = """
import asyncio, logging, os
import camera_control.onvif as adapter
assert logging.root.handlers == [] and logging.root.level == logging.WARNING, logging.root.handlers

async def make() -> None:
    await adapter.OnvifCamera("127.0.0.1", 9, "u", "p")._new_library_camera().close()

asyncio.run(make())
assert os.environ["http_proxy"] == "http://proxy.hall:3128"
"""
    environment = {**os.environ, "http_proxy": "http://proxy.hall:3128"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_redact() -> None:
    assert redact("rtsp://admin:s3cr%40t@10.0.0.5:554/live") == "rtsp://***@10.0.0.5:554/live"
    assert redact("http://10.0.0.5/snap.cgi?user=admin&pwd=s3cret&chn=1") == (
        "http://10.0.0.5/snap.cgi?user=***&pwd=***&chn=1"
    )
    assert redact("rtsp://10.0.0.5/live") == "rtsp://10.0.0.5/live"


# ---------------------------------------------------------------------------- motion events

PULL = (FIXTURES / "hikvision" / "PullMessages.xml").read_bytes()
PULL_MOTION_ON = (FIXTURES / "hikvision" / "PullMessages-motion-on.xml").read_bytes()
AT_SUBSCRIBE = dt.datetime(2025, 4, 18, 20, 34, 5, tzinfo=dt.UTC)
AT_MOTION = dt.datetime(2025, 4, 18, 20, 35, 12, tzinfo=dt.UTC)


def test_motion_events_from_a_captured_pull() -> None:
    events = motion_events_from_pull(PULL)
    # Tamper, ImageTooDark and the Monitoring topics are not motion: left out quietly
    assert events == [
        MotionEvent("motion", "tns1:VideoSource/MotionAlarm", "VideoSource_1", False, AT_SUBSCRIBE),
        MotionEvent(
            "motion", "tns1:RuleEngine/CellMotionDetector/Motion", "VideoSourceToken", False, AT_SUBSCRIBE,
            rule="MyMotionDetectorRule",
        ),
        MotionEvent(
            "intrusion", "tns1:RuleEngine/FieldDetector/ObjectsInside", "VideoSourceToken", False, AT_SUBSCRIBE,
            rule="MyFieldDetector1",
        ),
    ]  # fmt: skip


def test_motion_on_is_corrected_for_the_camera_clock() -> None:
    events = motion_events_from_pull(PULL_MOTION_ON, clock_offset=3600.0)  # the camera runs an hour ahead
    assert [(event.topic, event.active) for event in events] == [("motion", True), ("motion", True)]
    assert {event.at for event in events} == {AT_MOTION - dt.timedelta(hours=1)}


@pytest.mark.parametrize(
    "variant",
    [
        # a camera binding the ONVIF topic namespace to another prefix
        lambda xml: xml.replace(b"xmlns:tns1=", b"xmlns:ns7=").replace(b">tns1:", b">ns7:"),
        # topics ending in "//." (seen by Home Assistant)
        lambda xml: xml.replace(b"Motion</wsnt:Topic>", b"Motion//.</wsnt:Topic>"),
        # Hikvision's dash-separated date
        lambda xml: xml.replace(b'UtcTime="2025-04-18T20:35:12Z"', b'UtcTime="2025-04-18-20:35:12Z"'),
        # a byte that is not UTF-8 in a token
        lambda xml: xml.replace(b'Value="VideoSource_1"', b'Value="VideoSource_\xe91"'),
    ],
)
def test_motion_topic_variants(variant: Any) -> None:
    events = motion_events_from_pull(variant(PULL_MOTION_ON))
    assert [(event.topic, event.active, event.at) for event in events] == [("motion", True, AT_MOTION)] * 2


def advertised_topics(properties: bytes) -> list[tuple[str, list[str], list[str]]]:
    """(topic, source item names, data item names) of each topic a GetEventProperties answer lists."""
    wstop = "http://docs.oasis-open.org/wsn/t-1"
    tt = "http://www.onvif.org/ver10/schema"
    topic_set = etree.fromstring(properties).find(f".//{{{wstop}}}TopicSet")
    assert topic_set is not None
    found = []
    for element in topic_set.iter():
        if not isinstance(element.tag, str) or element.get(f"{{{wstop}}}topic") != "true":
            continue
        segments, node = [], element
        while node is not topic_set:
            name = etree.QName(node)
            segments.append(f"{node.prefix}:{name.localname}" if name.namespace else name.localname)
            node = node.getparent()
        description = element.find(f"{{{tt}}}MessageDescription")
        names = [
            [item.get("Name", "") for item in description.iterfind(f"{{{tt}}}{part}/{{{tt}}}SimpleItemDescription")]
            if description is not None
            else []
            for part in ("Source", "Data")
        ]
        found.append(("/".join(reversed(segments)), names[0], names[1]))
    return found


def test_every_motion_topic_hikvision_advertises_is_understood() -> None:
    """Each topic of the captured GetEventProperties, raised with the item names it declares."""
    properties = (FIXTURES / "hikvision" / "GetEventProperties.xml").read_bytes()
    understood = []
    for topic, sources, data in advertised_topics(properties):
        items = "".join(f'<tt:SimpleItem Name="{name}" Value="x{i}"/>' for i, name in enumerate(sources))
        values = "".join(f'<tt:SimpleItem Name="{name}" Value="true"/>' for name in data)
        pull = (
            PULL_MOTION_ON.replace(b"tns1:VideoSource/MotionAlarm", topic.encode(), 1)
            .replace(b'<tt:SimpleItem Name="Source" Value="VideoSource_1" />', items.encode(), 1)
            .replace(b'<tt:SimpleItem Name="State" Value="true" />', values.encode(), 1)
        )
        events = motion_events_from_pull(pull)
        if events[0].raw_topic == topic:
            assert events[0].active
            understood.append((topic, events[0].topic))
    # Tamper, image, storage, network (tnshik), configuration and monitoring topics are not motion
    assert understood == [
        ("tns1:VideoSource/MotionAlarm", "motion"),
        ("tns1:RuleEngine/CellMotionDetector/Motion", "motion"),
        ("tns1:RuleEngine/FieldDetector/ObjectsInside", "intrusion"),
    ]


async def test_motion_subscription_delivers_camera_events() -> None:
    # Hikvision's event answers, on the Hikvision-platform camera's device and media answers
    received: list[MotionEvent] = []
    cameras = connected("hikvision", "hikvision-platform-ptz", pull_messages=[PULL, PULL_MOTION_ON])
    async with cameras as (fake, camera, info):
        subscription = camera.motion_events(received.append, pull_timeout=1.0)
        await subscription.start()
        assert subscription.state is SubscriptionState.PULLING
        await fake.wait_for("PullMessages", 3)  # both scripted answers consumed, a third pull held
        await subscription.stop()
        assert subscription.state is SubscriptionState.STOPPED
        assert fake.operations[-1] == "Unsubscribe"
        asked = len(fake.requests)
        await asyncio.sleep(0.1)
        assert len(fake.requests) == asked  # nothing pulls after stop()
    offset = dt.timedelta(seconds=info.clock_offset)
    assert [(event.topic, event.source, event.active, event.at) for event in received] == [
        ("motion", "VideoSource_1", False, AT_SUBSCRIBE - offset),
        ("motion", "VideoSourceToken", False, AT_SUBSCRIBE - offset),
        ("intrusion", "VideoSourceToken", False, AT_SUBSCRIBE - offset),
        ("motion", "VideoSource_1", True, AT_MOTION - offset),
        ("motion", "VideoSourceToken", True, AT_MOTION - offset),
    ]


async def test_motion_subscription_as_an_async_iterator() -> None:
    async with connected("hikvision", "hikvision-platform-ptz", pull_messages=[PULL_MOTION_ON]) as (_, camera, _i):
        subscription = camera.motion_events(pull_timeout=1.0)
        async with subscription:
            first = await anext(aiter(subscription))
    assert (first.topic, first.active) == ("motion", True)


async def test_closing_the_camera_stops_its_subscription() -> None:
    async with connected("hikvision", "hikvision-platform-ptz") as (fake, camera, _info):
        subscription = camera.motion_events(pull_timeout=1.0)
        await subscription.start()
        await camera.close()
        assert subscription.state is SubscriptionState.STOPPED
        assert fake.operations[-1] == "Unsubscribe"


async def test_subscription_renewed_or_made_anew_before_it_ends() -> None:
    # The captured camera answers no Renew: the adapter subscribes anew before the old one ends
    async with connected("hikvision", "hikvision-platform-ptz") as (fake, camera, _info):
        subscription = camera.motion_events(pull_timeout=1.0, subscription_time=1.0)
        async with subscription:
            await fake.wait_for("CreatePullPointSubscription", 2)
    renew = fake.operations.index("Renew")
    assert "CreatePullPointSubscription" in fake.operations[renew:]


async def test_motion_subscription_refused_with_a_wrong_password() -> None:
    async with connected("hikvision", "hikvision-platform-ptz") as (fake, camera, _info):
        fake.password = "changed-on-the-camera"
        subscription = camera.motion_events()
        with pytest.raises(CameraAuthFailed):
            await subscription.start()
        assert subscription.state is SubscriptionState.STOPPED
