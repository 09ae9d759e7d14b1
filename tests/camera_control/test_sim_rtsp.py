"""The simulated camera's picture and RTSP server, watched by FFmpeg (through PyAV) as a real viewer would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import AsyncIterator

import av
import cv2
import numpy as np
import pytest
from media_tools import eventually

from camera_control.sim.rtsp import RtspServer, StreamSpec
from camera_control.sim.scene import HallScene, read_clock_stamp, snapshot_jpeg, stamp_time
from camera_control.sim.state import CameraState, PtzPosition

USER, PASSWORD = "admin", "hall12345"
MAIN = "/Streaming/Channels/101"  # Hikvision's path for channel 1's main stream
SUB = "/Streaming/Channels/102"
HEVC = "/Streaming/Channels/103"
WIDTH, HEIGHT = 640, 360


@pytest.fixture(scope="module")
def scene() -> HallScene:
    return HallScene(panorama_height=1080)  # half the default: the same hall, drawn faster


@pytest.fixture
def camera() -> CameraState:
    return CameraState(figure_every=None)  # nobody crosses unless a test sends them


@contextlib.asynccontextmanager
async def serving(camera: CameraState, scene: HallScene, *streams: StreamSpec) -> AsyncIterator[RtspServer]:
    server = RtspServer(
        camera,
        username=USER,
        password=PASSWORD,
        streams=list(streams) or [StreamSpec(MAIN, WIDTH, HEIGHT, bitrate_kbps=800)],
        scene=scene,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def server(camera: CameraState, scene: HallScene) -> AsyncIterator[RtspServer]:
    async with serving(camera, scene) as running:
        yield running


# ------------------------------------------------------------------ an FFmpeg viewer


@dataclasses.dataclass
class Decoded:
    stamp: float  # the host time the camera rendered the picture for, read back from its pixels
    received: float  # host time it came out of the decoder
    y: np.ndarray
    v: np.ndarray  # half resolution, as yuv420p carries it


class Viewer:
    """FFmpeg's RTSP client in a thread, decoding as long as the stream lasts or until stopped."""

    def __init__(self, url: str, options: dict[str, str] | None = None, keep: int = 150) -> None:
        self.url = url
        self.options = {"rtsp_transport": "tcp"} if options is None else options
        self.frames: deque[Decoded] = deque(maxlen=keep)
        self.count = 0
        self.error: Exception | None = None
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Viewer:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with av.open(self.url, options=self.options, timeout=(10, 10)) as container:
                for frame in container.decode(video=0):
                    picture = frame.to_ndarray(format="yuv420p")
                    y = picture[: frame.height]
                    v = picture[frame.height + frame.height // 4 :].reshape(frame.height // 2, frame.width // 2)
                    now = time.time()
                    self.frames.append(Decoded(stamp_time(read_clock_stamp(y), now), now, y, v))
                    self.count += 1
                    if self._stop.is_set():
                        return
        except av.FFmpegError as exc:
            self.error = exc
        finally:
            self.ended.set()

    async def frames_after(self, moment: float, count: int = 1, timeout: float = 20.0) -> list[Decoded]:
        """Wait for `count` pictures rendered after `moment` (host time)."""
        await eventually(lambda: sum(f.stamp > moment for f in self.frames) >= count or self.ended.is_set(), timeout)
        later = [f for f in self.frames if f.stamp > moment]
        assert len(later) >= count, f"the stream ended ({self.error}) after {self.count} frames"
        return later[:count]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 20)
        assert not self._thread.is_alive(), "the viewer did not stop"


@contextlib.asynccontextmanager
async def watching(url: str, **kwargs) -> AsyncIterator[Viewer]:
    viewer = Viewer(url, **kwargs).start()
    try:
        yield viewer
    finally:
        await viewer.stop()


def red_shirt(decoded: Decoded) -> tuple[float, float] | None:
    """Where the figure's red shirt is in the picture (full-resolution pixels), if anywhere."""
    ys, xs = np.nonzero(decoded.v > 210)
    if len(xs) < 20:
        return None
    return float(xs.mean() * 2 + 1), float(ys.mean() * 2 + 1)


# ------------------------------------------------------------------ the picture


def test_clock_stamp_reads_back_from_a_scaled_picture(scene, camera):
    now = 1_700_000_000.123
    frame = scene.render(camera, 1920, 1080, now)
    y = frame.to_ndarray(format="gray")
    small = cv2.resize(y, (640, 360), interpolation=cv2.INTER_AREA)
    assert read_clock_stamp(y) == read_clock_stamp(small) == int(now * 1000) % 2**32
    assert stamp_time(read_clock_stamp(small), now + 3) == pytest.approx(now, abs=0.001)


def test_snapshot_is_a_jpeg_of_the_view(camera):
    jpeg = snapshot_jpeg(camera, WIDTH, HEIGHT)
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (HEIGHT, WIDTH, 3)
    assert picture[: HEIGHT // 2].std() > 20  # a hall, not a blank


# ------------------------------------------------------------------ streaming to FFmpeg


async def test_ffmpeg_decodes_the_stream_with_the_capture_time_stamped(server):
    async with watching(server.url(MAIN, with_credentials=True)) as viewer:
        frames = await viewer.frames_after(time.time(), count=25)
    assert all(f.y.shape == (HEIGHT, WIDTH) for f in frames)
    stamps = [f.stamp for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(abs(f.received - f.stamp) < 5 for f in frames)  # a sanity bound on latency, not a timing test


async def test_wrong_or_missing_password_is_refused(server):
    wrong = server.url(MAIN).replace("rtsp://", f"rtsp://{USER}:wrong@")
    for url in (wrong, server.url(MAIN)):
        with pytest.raises(av.HTTPUnauthorizedError):
            await asyncio.to_thread(av.open, url, options={"rtsp_transport": "tcp"}, timeout=(10, 10))


async def test_two_viewers_of_one_path_share_one_encoder_and_a_latecomer_gets_a_keyframe(camera, scene):
    # a GOP far longer than the test: the second viewer can only start from a keyframe forced for it
    stream = StreamSpec(MAIN, WIDTH, HEIGHT, gop=10_000, bitrate_kbps=800)
    async with serving(camera, scene, stream) as server:
        url = server.url(MAIN, with_credentials=True)
        async with watching(url) as first:
            await first.frames_after(time.time(), count=5)
            async with watching(url) as second:
                joined = time.time()
                seen_by_second = {f.stamp for f in await second.frames_after(joined, count=10)}
                await first.frames_after(max(seen_by_second))
        seen_by_first = {f.stamp for f in first.frames}
        assert server.encoder(MAIN).runs == 1
        assert seen_by_second <= seen_by_first  # the very same encoded pictures


async def test_ffmpeg_decodes_an_h265_stream(camera, scene):
    async with (
        serving(camera, scene, StreamSpec(HEVC, WIDTH, HEIGHT, codec="h265", bitrate_kbps=600)) as server,
        watching(server.url(HEVC, with_credentials=True)) as viewer,
    ):
        frames = await viewer.frames_after(time.time(), count=10)
    assert [f.stamp for f in frames] == sorted({f.stamp for f in frames})
    assert frames[0].y.shape == (HEIGHT, WIDTH)


async def test_ffmpeg_falls_back_to_tcp_when_udp_is_refused(server):
    async with watching(server.url(MAIN, with_credentials=True), options={}) as viewer:
        await viewer.frames_after(time.time(), count=3)


async def test_main_and_sub_streams_have_their_own_sizes(camera, scene):
    streams = (StreamSpec(MAIN, 1280, 720, bitrate_kbps=1500), StreamSpec(SUB, WIDTH, HEIGHT, bitrate_kbps=500))
    async with (
        serving(camera, scene, *streams) as server,
        watching(server.url(MAIN, True)) as main,
        watching(server.url(SUB, True)) as sub,
    ):
        main_frame = (await main.frames_after(time.time()))[0]
        sub_frame = (await sub.frames_after(time.time()))[0]
    assert main_frame.y.shape == (720, 1280) and sub_frame.y.shape == (HEIGHT, WIDTH)


def _shift(before: Decoded, after: Decoded) -> tuple[float, float]:
    """How far the picture's content moved, by phase correlation (the OSD rows and the stamp band left out)."""
    rows = slice(HEIGHT // 10, HEIGHT * 8 // 10)
    a, b = (np.float32(f.y[rows]) for f in (before, after))
    (dx, dy), _ = cv2.phaseCorrelate(a, b, cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F))
    return dx, dy


@pytest.mark.parametrize("how", ["absolute", "continuous"])
async def test_panning_right_moves_the_picture_left(server, camera, how):
    camera.absolute_move(PtzPosition(pan=-0.4))
    async with watching(server.url(MAIN, with_credentials=True)) as viewer:
        before = (await viewer.frames_after(time.time()))[0]
        start = camera.window()
        if how == "absolute":
            camera.absolute_move(PtzPosition(pan=-0.2))
        else:
            camera.continuous_move(0.5, 0, 0, timeout=0.4)  # 0.5 * FULL_SPEED * 0.4 s: 0.1 to the right
            await eventually(lambda: not camera.moving(), what="the move to end")
        moved = time.time()
        after = (await viewer.frames_after(moved))[0]
    end = camera.window()
    expected = -(end.cx - start.cx) / start.width * WIDTH
    dx, dy = _shift(before, after)
    assert expected < -30  # the move is big enough to tell
    assert dx == pytest.approx(expected, abs=6) and abs(dy) < 3


async def test_a_crossing_figure_appears_where_the_state_puts_it(server, camera):
    camera.absolute_move(PtzPosition(pan=-1))  # the hall's left end, where a crossing starts
    async with watching(server.url(MAIN, with_credentials=True)) as viewer:
        before = await viewer.frames_after(time.time(), count=5)
        camera.trigger_figure(duration=12)
        walking = await viewer.frames_after(time.time() + 0.5, count=25)
    assert all(red_shirt(f) is None for f in before)
    window = camera.window()
    for decoded in walking:
        spot = camera.figure(decoded.stamp)
        assert spot is not None and window.contains(*spot)
        expected_x = (spot[0] - (window.cx - window.width / 2)) / window.width * WIDTH
        expected_y = (spot[1] - 0.125 * 0.30 - (window.cy - window.height / 2)) / window.height * HEIGHT
        shirt = red_shirt(decoded)
        assert shirt is not None
        assert shirt[0] == pytest.approx(expected_x, abs=WIDTH * 0.03)
        assert shirt[1] == pytest.approx(expected_y, abs=HEIGHT * 0.05)
    assert red_shirt(walking[-1])[0] > red_shirt(walking[0])[0]  # walking left to right


async def test_dropped_clients_see_the_stream_end_and_can_come_back(server):
    url = server.url(MAIN, with_credentials=True)
    async with watching(url) as viewer:
        await viewer.frames_after(time.time(), count=3)
        server.drop_clients()
        await asyncio.to_thread(viewer.ended.wait, 20)
        assert viewer.ended.is_set()
    async with watching(url) as again:
        await again.frames_after(time.time(), count=3)


async def test_an_unavailable_camera_refuses_viewers_until_it_is_back(server):
    url = server.url(MAIN, with_credentials=True)
    async with watching(url) as viewer:
        await viewer.frames_after(time.time(), count=3)
        server.set_available(False)
        await asyncio.to_thread(viewer.ended.wait, 20)
        assert viewer.ended.is_set()
    with pytest.raises(av.FFmpegError):
        await asyncio.to_thread(av.open, url, options={"rtsp_transport": "tcp"}, timeout=(10, 10))
    server.set_available(True)
    async with watching(url) as back:
        await back.frames_after(time.time(), count=3)


async def test_stop_ends_every_client_and_encoder(camera, scene):
    server = RtspServer(
        camera, username=USER, password=PASSWORD, streams=[StreamSpec(MAIN, WIDTH, HEIGHT)], scene=scene
    )
    await server.start()
    viewer = Viewer(server.url(MAIN, with_credentials=True)).start()
    try:
        await viewer.frames_after(time.time(), count=3)
        await server.stop()
        assert not server.encoder(MAIN).running
        await asyncio.to_thread(viewer.ended.wait, 20)
        assert viewer.ended.is_set()
    finally:
        await viewer.stop()


# ------------------------------------------------------------------ the protocol, byte by byte


class RawRtsp:
    """A bare RTSP client over one TCP connection, to check the wire format without FFmpeg's leniency."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.cseq = 0

    @classmethod
    async def connect(cls, port: int, receive_buffer: int | None = None) -> RawRtsp:
        sock = None
        if receive_buffer is not None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, uri: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await self.response()

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        head = (await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)).decode()
        status_line, *header_lines = head.strip().split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body

    async def interleaved(self) -> tuple[int, bytes]:
        header = await asyncio.wait_for(self.reader.readexactly(4), 10)
        assert header[:1] == b"$"
        return header[1], await self.reader.readexactly(int.from_bytes(header[2:], "big"))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def digest(method: str, uri: str, challenge: str, password: str = PASSWORD) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    ha1 = hashlib.md5(f"{USER}:{params['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{params['nonce']}:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{USER}", realm="{params["realm"]}", nonce="{params["nonce"]}", uri="{uri}", '
        f'response="{response}"'
    )


async def test_digest_auth_sdp_transport_and_rtp_on_the_wire(server):
    url = server.url(MAIN)
    client = await RawRtsp.connect(server.port)
    try:
        status, headers, _ = await client.request("OPTIONS", url)
        assert status == 200 and "DESCRIBE" in headers["public"]
        status, headers, _ = await client.request("DESCRIBE", url, Accept="application/sdp")
        assert status == 401 and headers["www-authenticate"].startswith("Digest ")
        challenge = headers["www-authenticate"]
        status, headers, _ = await client.request(
            "DESCRIBE", url, Authorization=digest("DESCRIBE", url, challenge, "guess")
        )
        assert status == 401 and headers["www-authenticate"] != challenge  # a fresh challenge
        status, headers, sdp = await client.request("DESCRIBE", url, Authorization=digest("DESCRIBE", url, challenge))
        assert status == 200 and headers["content-type"] == "application/sdp"
        text = sdp.decode()
        assert "a=rtpmap:96 H264/90000" in text and "packetization-mode=1" in text
        sprop = re.search(r"sprop-parameter-sets=([^;\r\n]+)", text).group(1).split(",")
        sps = base64.b64decode(sprop[0])
        assert sps[0] & 0x1F == 7 and base64.b64decode(sprop[1])[0] & 0x1F == 8
        assert f"profile-level-id={sps[1:4].hex().upper()}" in text
        track = headers["content-base"] + re.search(r"m=video.*?a=control:(\S+)", text, re.S).group(1)

        auth = digest("SETUP", track, challenge)
        udp = "RTP/AVP;unicast;client_port=5000-5001"
        status, _, _ = await client.request("SETUP", track, Authorization=auth, Transport=udp)
        assert status == 461
        tcp = "RTP/AVP/TCP;unicast;interleaved=0-1"
        status, headers, _ = await client.request("SETUP", track, Authorization=auth, Transport=tcp)
        assert status == 200 and "interleaved=0-1" in headers["transport"]
        session = headers["session"].split(";")[0]
        status, headers, _ = await client.request(
            "PLAY", url, Authorization=digest("PLAY", url, challenge), Session=session
        )
        assert status == 200
        first_sequence = int(re.search(r"seq=(\d+)", headers["rtp-info"]).group(1))

        packets, reports = [], []
        while sum(p[1] & 0x80 != 0 for p in packets) < 3:  # three whole access units
            channel, packet = await client.interleaved()
            (packets if channel == 0 else reports).append(packet)
        assert reports, "no RTCP sender report with the first picture"
        report = reports[0]
        assert report[1] == 200 and report[4:8] == packets[0][8:12]  # an SR from the stream's SSRC
        sdes = report[(struct.unpack("!H", report[2:4])[0] + 1) * 4 :]
        assert sdes[1] == 202 and len(sdes) == (struct.unpack("!H", sdes[2:4])[0] + 1) * 4
        versions = {p[0] >> 6 for p in packets}
        assert versions == {2} and {p[1] & 0x7F for p in packets} == {96}
        sequences = [struct.unpack("!H", p[2:4])[0] for p in packets]
        assert sequences == [(first_sequence + i) & 0xFFFF for i in range(len(packets))]
        assert packets[0][12] & 0x1F == 7  # the stream opens with the SPS of a forced IDR
        first_unit = packets[: next(i for i, p in enumerate(packets) if p[1] & 0x80) + 1]
        fragments = [p for p in first_unit if p[12] & 0x1F == 28]
        assert fragments and fragments[0][13] & 0x80 and fragments[0][13] & 0x1F == 5  # FU-A start of the IDR
        assert all(len(p) <= 1400 for p in packets)
        assert len({p[4:8] for p in first_unit}) == 1  # one timestamp for one picture

        status, _, _ = await client.request(
            "TEARDOWN", url, Authorization=digest("TEARDOWN", url, challenge), Session=session
        )
        assert status == 200
    finally:
        await client.close()


async def test_garbage_gets_400_and_the_server_keeps_serving(server):
    for garbage in (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(garbage)
        answer = await asyncio.wait_for(reader.read(), 10)  # the server answers, then hangs up
        writer.close()
        assert answer.startswith(b"RTSP/1.0 400 ")
    client = await RawRtsp.connect(server.port)
    status, _, _ = await client.request("OPTIONS", server.url(MAIN))
    await client.close()
    assert status == 200
    async with watching(server.url(MAIN, with_credentials=True)) as viewer:
        await viewer.frames_after(time.time(), count=3)


async def test_basic_credentials_are_accepted_too(server):
    client = await RawRtsp.connect(server.port)
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    wrong = "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode()
    try:
        assert (await client.request("DESCRIBE", server.url(MAIN), Authorization=wrong))[0] == 401
        assert (await client.request("DESCRIBE", server.url(MAIN), Authorization=basic))[0] == 200
    finally:
        await client.close()


async def play_without_reading(server: RtspServer, path: str) -> RawRtsp:
    """A client that asks for the stream and then never reads it, behind a tiny receive buffer."""
    client = await RawRtsp.connect(server.port, receive_buffer=4096)
    url = server.url(path)
    challenge = (await client.request("DESCRIBE", url))[1]["www-authenticate"]
    track = f"{url}/trackID=1"
    setup = digest("SETUP", track, challenge)
    _, headers, _ = await client.request("SETUP", track, Authorization=setup, Transport="RTP/AVP/TCP;interleaved=0-1")
    session = headers["session"].split(";")[0]
    status, _, _ = await client.request("PLAY", url, Authorization=digest("PLAY", url, challenge), Session=session)
    assert status == 200
    return client


async def test_a_stalled_client_loses_pictures_without_holding_back_the_others(camera, scene):
    # every picture a keyframe at a high rate, so a reader that never reads falls behind within seconds
    stream = StreamSpec(MAIN, 1280, 720, gop=1, bitrate_kbps=20_000)
    async with serving(camera, scene, stream) as server:
        stalled = await play_without_reading(server, MAIN)
        try:
            async with watching(server.url(MAIN, with_credentials=True)) as viewer:
                await eventually(lambda: server.units_dropped > 0, what="the stalled client to overflow")
                frames = await viewer.frames_after(time.time(), count=10)
            assert all(abs(f.received - f.stamp) < 5 for f in frames)
        finally:
            await stalled.close()
