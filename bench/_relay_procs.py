"""The three processes of bench/relay.py: publisher, relay and subscribers.

Each entry point (`run_publisher`, `run_relay`, `run_subscribers`) runs in its own process, started
by bench/relay.py with the "spawn" context. Peers exchange SDP over pipes; every process also has a
control pipe to the parent, over which it reports "ready", receives the measurement window
(absolute wall-clock start and end, the same for all processes), reports its "result" and waits for
"stop". A process that fails reports ("error", traceback) instead.

The picture: a synthetic, textured, panning 1280x720 scene with per-frame sensor noise, so VP8
really spends its ~1.5 Mbps, and two rows of 24 luma blocks (32x32, black or white) stamped into
its top-left corner: a frame counter and the capture time in milliseconds (wall clock, modulo
2**24). Subscribers that decode read both back: the counter shows lost or repeated frames, the
time the capture-to-decode latency (all processes share the host clock).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import cProfile
import dataclasses
import fractions
import logging
import os
import statistics
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 30
BITRATE = 1_500_000
VIDEO_CLOCK = 90_000
TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
RTP_TICKS_PER_FRAME = VIDEO_CLOCK // FPS

STAMP_BITS, STAMP_BLOCK, STAMP_LEFT = 24, 32, 16
COUNTER_TOP, CLOCK_TOP = 16, 16 + STAMP_BLOCK
STAMP_MASK = (1 << STAMP_BITS) - 1
BANK_FRAMES = 60  # two seconds of distinct pictures, looped
PAN = 40  # pixels the view drifts (about 4 px per frame at most)
NOISE = 3.0  # luma sensor noise, standard deviation

ROOM = "bench"
BASELINE_SETTLE = 2.0  # seconds of publishing before the relay's 0-subscriber memory is read
IDLE_SETTLE = 2.0  # seconds after the subscribers leave before the relay's 0-subscriber window
CONNECT_TIMEOUT = 30.0

logger = logging.getLogger("bench.relay")


# --------------------------------------------------------------------------- synthetic camera


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    picture = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    picture += rng.normal(0, 18, picture.shape).astype(np.float32)
    picture = np.clip(picture, 0, 255).astype(np.uint8)
    for i in range(40):  # edges and text, like a room with notices on the wall
        x, y = int(rng.integers(0, width - 300)), int(rng.integers(40, height))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.putText(picture, f"window {i}", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.4, colour, 3)
    return picture


def make_bank(frames: int = BANK_FRAMES, seed: int = 7) -> list[np.ndarray]:
    """`frames` yuv420p pictures (each one (H*3/2, W) array): a slowly panning textured scene, two
    moving shapes, and fresh sensor noise in every frame. The loop closes smoothly."""
    rng = np.random.default_rng(seed)
    scene = _background(rng, WIDTH + 2 * PAN, HEIGHT + 2 * PAN)
    bank = []
    for i in range(frames):
        phase = 2 * np.pi * i / frames
        x, y = int(PAN * (1 + np.sin(phase))), int(PAN * (1 + np.cos(phase)) / 2)
        rgb = scene[y : y + HEIGHT, x : x + WIDTH].copy()
        cx, cy = int(WIDTH / 2 + 240 * np.sin(phase)), int(HEIGHT / 2 + 120 * np.cos(phase))
        cv2.circle(rgb, (cx, cy), 90, (250, 90, 40), -1)
        cv2.rectangle(rgb, (WIDTH - cx, cy // 2), (WIDTH - cx + 160, cy // 2 + 110), (30, 200, 90), -1)
        yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
        noisy = yuv[:HEIGHT].astype(np.int16) + rng.normal(0, NOISE, (HEIGHT, WIDTH)).astype(np.int16)
        yuv[:HEIGHT] = np.clip(noisy, 0, 255).astype(np.uint8)
        bank.append(yuv)
    return bank


def write_stamp(luma: np.ndarray, top: int, value: int) -> None:
    """Write the 24 low bits of `value` as a row of white (1) and black (0) 32x32 luma blocks."""
    bits = (value >> np.arange(STAMP_BITS)) & 1
    row = np.repeat(np.where(bits == 1, 235, 16).astype(np.uint8), STAMP_BLOCK)
    luma[top : top + STAMP_BLOCK, STAMP_LEFT : STAMP_LEFT + STAMP_BITS * STAMP_BLOCK] = row


def read_stamp(luma: np.ndarray, top: int) -> int:
    """Read back a row written by `write_stamp`, from the centre 16x16 of each block."""
    strip = luma[top + 8 : top + 24, STAMP_LEFT : STAMP_LEFT + STAMP_BITS * STAMP_BLOCK]
    means = strip.reshape(16, STAMP_BITS, STAMP_BLOCK)[:, :, 8:24].mean(axis=(0, 2))
    return int(((means > 128).astype(np.int64) << np.arange(STAMP_BITS)).sum())


def now_ms() -> int:
    return int(time.time() * 1000) & STAMP_MASK


def luma_of(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]


def _camera_track_class() -> type:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class StampedCamera(MediaStreamTrack):
        """A 30 fps camera: frame n carries n and its capture time (ms) in its pixels."""

        kind = "video"

        def __init__(self, bank: list[np.ndarray]) -> None:
            super().__init__()
            self.bank = bank
            self.count = 0
            self._start: float | None = None

        async def recv(self) -> av.VideoFrame:
            if self.readyState != "live":
                raise MediaStreamError
            if self._start is None:
                self._start = time.monotonic()
            await asyncio.sleep(max(0.0, self._start + self.count / FPS - time.monotonic()))
            picture = self.bank[self.count % len(self.bank)].copy()
            write_stamp(picture, COUNTER_TOP, self.count)
            write_stamp(picture, CLOCK_TOP, now_ms())  # captured now
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts = self.count * RTP_TICKS_PER_FRAME
            frame.time_base = TIME_BASE
            self.count += 1
            return frame

    return StampedCamera


# --------------------------------------------------------------------------- process plumbing


class LogTally(logging.Handler):
    """Counts WARNING and worse records by message template; keeps the first example of each."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.levelname} {record.name}: {record.msg}"
        self.counts[key] += 1
        if key not in self.examples:
            try:
                self.examples[key] = record.getMessage()[:300]
            except Exception:  # a broken log call must not break the benchmark
                self.examples[key] = str(record.msg)[:300]

    def count(self, fragment: str) -> int:
        return sum(n for key, n in self.counts.items() if fragment in key)

    def report(self) -> list[dict[str, Any]]:
        return [
            {"count": n, "level_logger_template": key, "example": self.examples[key]}
            for key, n in self.counts.most_common()
        ]


def _setup_process(role: str) -> LogTally:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(level=logging.WARNING, format=f"[{role}] %(levelname)s %(name)s: %(message)s")
    tally = LogTally()
    logging.getLogger().addHandler(tally)
    from media_server.aiortc_adapter import configure_ice

    # aioice skips loopback by default; every process binds to 127.0.0.1 only.
    configure_ice(
        interfaces=["127.0.0.1"], port_range=None, advertised_addresses=[], consent_interval=5.0, consent_failures=6
    )
    return tally


def _pin_vp8_bitrate() -> None:
    """A constant ~1.5 Mbps from every VP8 encoder in this process (REMB cannot move it)."""
    import aiortc.codecs.vpx as vpx

    vpx.DEFAULT_BITRATE = vpx.MIN_BITRATE = vpx.MAX_BITRATE = BITRATE


def _run(ctl: Connection, role: str, main: Callable[[LogTally], Coroutine[Any, Any, None]]) -> None:
    tally = _setup_process(role)
    try:
        asyncio.run(main(tally))
    except BaseException:  # report everything, including KeyboardInterrupt, then exit
        with contextlib.suppress(OSError):
            ctl.send(("error", traceback.format_exc()))
        raise


async def receive(conn: Connection) -> Any:
    """`conn.recv()` without blocking the event loop."""
    loop = asyncio.get_running_loop()
    while not conn.poll():
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(conn.fileno(), _resolve, readable)
        try:
            await readable
        finally:
            loop.remove_reader(conn.fileno())
    return conn.recv()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    """Poll `condition` until it holds; TimeoutError after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


async def sleep_until(wall_time: float) -> None:
    await asyncio.sleep(max(0.0, wall_time - time.time()))


def vm_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def process_snapshot() -> dict[str, float]:
    times = os.times()
    return {
        "wall": time.time(),
        "cpu": time.process_time(),
        "user": times.user,
        "sys": times.system,
        "rss_kb": vm_rss_kb(),
    }


async def measure(
    ctl: Connection,
    ready: dict[str, Any],
    snapshot: Callable[[], Awaitable[dict[str, Any]]],
    on_start: Callable[[], None] = lambda: None,
    on_end: Callable[[], None] = lambda: None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Report ready, then take `snapshot()` at the start and at the end of the parent's window."""
    ctl.send(("ready", ready))
    message = await receive(ctl)
    if message[0] != "window":
        raise RuntimeError(f"expected a measurement window, got {message[0]!r}")
    _, start, end = message
    await sleep_until(start)
    first = await snapshot()
    on_start()
    await sleep_until(end)
    on_end()
    last = await snapshot()
    return first, last


async def report_and_wait(ctl: Connection, result: dict[str, Any]) -> None:
    ctl.send(("result", result))
    message = await receive(ctl)
    if message[0] != "stop":
        raise RuntimeError(f"expected stop, got {message[0]!r}")


async def idle_window(seconds: float) -> dict[str, float]:
    """The relay's CPU over `seconds` once its subscribers have left, in the same process: the
    K = 0 half of a paired measurement, so the per-subscriber figure is not the difference of two
    processes (whose idle CPU alone differs by +-0.002 cores from run to run)."""
    await asyncio.sleep(IDLE_SETTLE)
    first = process_snapshot()
    await asyncio.sleep(seconds)
    last = process_snapshot()
    return {kind: window_cpu(first, last, kind) for kind in ("cpu", "user", "sys")}


def window_cpu(first: dict[str, Any], last: dict[str, Any], kind: str = "cpu") -> float:
    """CPU of this process over the window, in cores (1.0 = one core busy all the time).

    `kind` "user" or "sys" splits it: system time is the kernel's work for our sockets, which on
    loopback includes delivering each packet to, and waking, the receiving process.
    """
    return (last[kind] - first[kind]) / (last["wall"] - first["wall"])


# --------------------------------------------------------------------------- WebRTC helpers


def new_pc() -> Any:
    from aiortc import RTCConfiguration, RTCPeerConnection

    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def prefer_vp8(transceiver: Any) -> None:
    from aiortc import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/VP8", "video/rtx")])


async def answer_with_track(pc: Any, offer_sdp: str, track: Any) -> str:
    """Answer a recvonly offer, sending `track` (VP8) back."""
    from aiortc import RTCSessionDescription

    prefer_vp8(pc.addTransceiver(track, direction="sendonly"))
    await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


async def bytes_sent(pc: Any) -> int:
    total = 0
    for transceiver in pc.getTransceivers():
        if transceiver.sender.track is None:
            continue
        report = await transceiver.sender.getStats()
        total += sum(s.bytesSent for s in report.values() if s.type == "outbound-rtp")
    return total


# --------------------------------------------------------------------------- publisher


def run_publisher(ctl: Connection, peer: Connection, mode: str) -> None:
    """Publish the stamped camera: `mode` "offer" (to a relay) or "answer" (to a direct subscriber)."""
    _run(ctl, "publisher", lambda tally: _publisher(ctl, peer, mode, tally))


async def _publisher(ctl: Connection, peer: Connection, mode: str, tally: LogTally) -> None:
    from aiortc import RTCSessionDescription

    _pin_vp8_bitrate()
    camera = _camera_track_class()(make_bank())
    pc = new_pc()
    if mode == "offer":
        prefer_vp8(pc.addTransceiver(camera, direction="sendonly"))
        await pc.setLocalDescription(await pc.createOffer())
        peer.send(pc.localDescription.sdp)
        answer = await receive(peer)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    else:
        _, index, offer = await receive(peer)
        peer.send(("answer", index, await answer_with_track(pc, offer, camera)))
    await wait_for(lambda: camera.count > 0, CONNECT_TIMEOUT, "the publisher to start sending")

    async def snapshot() -> dict[str, Any]:
        return {**process_snapshot(), "frames": camera.count, "bytes": await bytes_sent(pc)}

    first, last = await measure(ctl, {}, snapshot)
    wall = last["wall"] - first["wall"]
    await report_and_wait(
        ctl,
        {
            "cpu": window_cpu(first, last),
            "cpu_user": window_cpu(first, last, "user"),
            "cpu_sys": window_cpu(first, last, "sys"),
            "fps": (last["frames"] - first["frames"]) / wall,
            "kbps": (last["bytes"] - first["bytes"]) * 8 / wall / 1000,
            "log": tally.report(),
        },
    )
    await pc.close()


# --------------------------------------------------------------------------- relays


def run_relay(ctl: Connection, publisher: Connection, subscribers: Connection, kind: str, k: int) -> None:
    """The relay under test: `kind` "ours" (media_server.MediaNode) or "mediarelay" (aiortc)."""
    relay = _our_relay if kind == "ours" else _media_relay
    _run(ctl, f"relay:{kind}", lambda tally: relay(ctl, publisher, subscribers, k, tally))


async def _our_relay(
    ctl: Connection, publisher_conn: Connection, subscriber_conn: Connection, k: int, tally: LogTally
) -> None:
    from media_server import MediaNode, MediaSettings

    node = MediaNode(MediaSettings(interfaces=["127.0.0.1"], max_participants_per_room=100))
    publisher = node.join(ROOM, name="pub", role="staff", may_open=True)
    session = await node.publish(publisher, await receive(publisher_conn))
    publisher_conn.send(session.answer_sdp)
    forwarder = publisher.publications["video"].forwarder
    await wait_for(lambda: forwarder.frames_in > 0, CONNECT_TIMEOUT, "frames from the publisher")
    await asyncio.sleep(BASELINE_SETTLE)
    baseline_rss_kb = vm_rss_kb()

    subscribers = []
    for _ in range(k):
        _, index, offer = await receive(subscriber_conn)
        subscriber = node.join(ROOM, name=f"s{index}", role="observer", may_open=False, transient=True)
        subscription = await node.subscribe(subscriber, publisher.id, offer)
        subscriber_conn.send(("answer", index, subscription.answer_sdp))
        subscribers.append(subscriber)

    tracks = sorted(forwarder.tracks, key=id)

    async def snapshot() -> dict[str, Any]:
        return {
            **process_snapshot(),
            **dataclasses.asdict(node.stats),
            "frames_in": forwarder.frames_in,
            "keyframes_in": forwarder.keyframes_in,
            "sent": [t.frames_sent for t in tracks],
        }

    profile_path = os.environ.get("HALL_BENCH_PROFILE")  # cProfile the relay's window into this file
    profiler = cProfile.Profile() if profile_path else None
    if profiler is not None:
        profiler.enable()
    first, last = await measure(ctl, {}, snapshot)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile_path}.k{k}")
    wall = last["wall"] - first["wall"]
    sent = [t.frames_sent for t in tracks]
    for subscriber in subscribers:
        await node.leave(subscriber)
    idle = await idle_window(wall)
    counters = (
        "forwarded_frames",
        "forwarded_bytes",
        "keyframe_requests",
        "dropped_frames",
        "frames_in",
        "keyframes_in",
    )
    await report_and_wait(
        ctl,
        {
            "cpu": window_cpu(first, last),
            "cpu_user": window_cpu(first, last, "user"),
            "cpu_sys": window_cpu(first, last, "sys"),
            "rss_baseline_kb": baseline_rss_kb,
            "rss_kb": last["rss_kb"],
            "window": {name: last[name] - first[name] for name in counters},
            "totals": {
                **dataclasses.asdict(node.stats),
                "frames_in": forwarder.frames_in,
                "keyframes_in": forwarder.keyframes_in,
                "keyframe_requests_received": forwarder.keyframes.requests_received,
            },
            "idle": idle,
            "per_subscriber_frames_dropped": [t.frames_dropped for t in tracks],
            "sent_fps_per_subscriber": [(b - a) / wall for a, b in zip(first["sent"], sent, strict=True)],
            "log": tally.report(),
        },
    )
    await node.close()


async def _media_relay(
    ctl: Connection, publisher_conn: Connection, subscriber_conn: Connection, k: int, tally: LogTally
) -> None:
    from aiortc import RTCSessionDescription
    from aiortc.contrib.media import MediaRelay
    from aiortc.mediastreams import MediaStreamError

    _pin_vp8_bitrate()
    pc = new_pc()
    track_future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    pc.on("track", lambda track: track_future.done() or track_future.set_result(track))
    await pc.setRemoteDescription(RTCSessionDescription(await receive(publisher_conn), "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    publisher_conn.send(pc.localDescription.sdp)
    source = await asyncio.wait_for(track_future, CONNECT_TIMEOUT)

    # "Decode once": a local sink keeps MediaRelay reading (and aiortc decoding) the source with 0
    # subscribers too, so the 0-subscriber baseline is the same relay minus the re-encoders.
    relay = MediaRelay()
    decoded = [0]

    async def sink(track: Any) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            decoded[0] += 1

    sink_task = asyncio.ensure_future(sink(relay.subscribe(source, buffered=False)))
    await wait_for(lambda: decoded[0] > 0, CONNECT_TIMEOUT, "decoded frames from the publisher")
    await asyncio.sleep(BASELINE_SETTLE)
    baseline_rss_kb = vm_rss_kb()

    subscriber_pcs = []
    encoded = [0] * k  # frames each subscriber's sender took from MediaRelay (and encoded)
    for _ in range(k):
        _, index, offer = await receive(subscriber_conn)
        subscriber_pc = new_pc()
        proxy = _count_frames(relay.subscribe(source, buffered=False), encoded, index)
        subscriber_conn.send(("answer", index, await answer_with_track(subscriber_pc, offer, proxy)))
        subscriber_pcs.append(subscriber_pc)

    async def snapshot() -> dict[str, Any]:
        return {**process_snapshot(), "decoded": decoded[0], "encoded": list(encoded)}

    first, last = await measure(ctl, {}, snapshot)
    wall = last["wall"] - first["wall"]
    for subscriber_pc in subscriber_pcs:  # the re-encoders stop; the decoding drain goes on
        await subscriber_pc.close()
    subscriber_pcs.clear()
    idle = await idle_window(wall)
    await report_and_wait(
        ctl,
        {
            "cpu": window_cpu(first, last),
            "cpu_user": window_cpu(first, last, "user"),
            "cpu_sys": window_cpu(first, last, "sys"),
            "rss_baseline_kb": baseline_rss_kb,
            "rss_kb": last["rss_kb"],
            "idle": idle,
            "decoded_fps": (last["decoded"] - first["decoded"]) / wall,
            "sent_fps_per_subscriber": [(b - a) / wall for a, b in zip(first["encoded"], last["encoded"], strict=True)],
            "log": tally.report(),
        },
    )
    sink_task.cancel()
    await pc.close()


def _count_frames(track: Any, counts: list[int], index: int) -> Any:
    """Count the frames a sender takes from `track` into `counts[index]`."""
    recv = track.recv

    async def counting_recv() -> Any:
        frame = await recv()
        counts[index] += 1
        return frame

    track.recv = counting_recv
    return track


# --------------------------------------------------------------------------- subscribers


@dataclasses.dataclass
class Probe:
    """What one subscriber saw. Decoding subscribers read the stamps; the others count encoded
    frames as aiortc's jitter buffer completes them (before decode) and find gaps in RTP time."""

    index: int
    decodes: bool
    frames: int = 0
    missing: int = 0  # frames skipped: counter gaps (decoding) or RTP timestamp gaps (counting)
    repeated: int = 0
    bad_stamps: int = 0
    latencies_ms: list[int] = dataclasses.field(default_factory=list)
    recording: bool = False
    _last_counter: int | None = None
    _last_timestamp: int | None = None

    def on_decoded(self, frame: av.VideoFrame) -> None:
        arrived = now_ms()
        luma = luma_of(frame)
        counter, captured = read_stamp(luma, COUNTER_TOP), read_stamp(luma, CLOCK_TOP)
        self.frames += 1
        latency = (arrived - captured) & STAMP_MASK
        step = None if self._last_counter is None else (counter - self._last_counter) & STAMP_MASK
        self._last_counter = counter
        if latency > 60_000 or (step is not None and step > 10 * FPS):
            self.bad_stamps += 1  # misread stamp (or a 10 s stall): not a latency sample
            return
        if step == 0:
            self.repeated += 1
        elif step is not None:
            self.missing += step - 1
        if self.recording:
            self.latencies_ms.append(latency)

    def on_encoded(self, timestamp: int) -> None:
        self.frames += 1
        if self._last_timestamp is not None:
            step = round(((timestamp - self._last_timestamp) & 0xFFFFFFFF) / RTP_TICKS_PER_FRAME)
            if 1 < step < 10 * FPS:
                self.missing += step - 1
        self._last_timestamp = timestamp


def count_encoded_frames(receiver: Any, probe: Probe) -> None:
    """Count complete encoded frames at the receiver and never decode them.

    aiortc puts each complete frame on the receiver's private decoder queue; taking them there
    leaves the decoder thread idle. The end-of-stream None still reaches the queue.
    """
    decoder_queue = receiver._RTCRtpReceiver__decoder_queue
    put = decoder_queue.put

    def counting_put(item: Any, *args: Any, **kwargs: Any) -> None:
        if item is None:
            put(item, *args, **kwargs)
        else:
            probe.on_encoded(item[1].timestamp)

    decoder_queue.put = counting_put


async def _consume(track: Any, probe: Probe) -> None:
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        probe.on_decoded(frame)


def run_subscribers(ctl: Connection, relay: Connection, k: int, decoders: int) -> None:
    """`k` subscribers in this process; the first `decoders` decode and measure latency."""
    _run(ctl, "subscribers", lambda tally: _subscribers(ctl, relay, k, decoders, tally))


async def _subscribers(ctl: Connection, relay: Connection, k: int, decoders: int, tally: LogTally) -> None:
    from aiortc import RTCSessionDescription

    probes = [Probe(i, decodes=i < decoders) for i in range(k)]
    pcs, tasks = [], []
    for probe in probes:
        pc = new_pc()
        prefer_vp8(pc.addTransceiver("video", direction="recvonly"))

        def on_track(track: Any, pc: Any = pc, probe: Probe = probe) -> None:
            if probe.decodes:
                tasks.append(asyncio.ensure_future(_consume(track, probe)))
            else:
                receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
                count_encoded_frames(receiver, probe)

        pc.on("track", on_track)
        await pc.setLocalDescription(await pc.createOffer())
        relay.send(("offer", probe.index, pc.localDescription.sdp))
        _, index, answer = await receive(relay)
        assert index == probe.index
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        pcs.append(pc)
    try:
        await wait_for(lambda: all(p.frames > 0 for p in probes), CONNECT_TIMEOUT, "a first frame at every subscriber")
    except TimeoutError:
        logger.error("subscribers without any frame: %s", [p.index for p in probes if not p.frames])

    async def snapshot() -> dict[str, Any]:
        return {
            **process_snapshot(),
            "frames": [p.frames for p in probes],
            "missing": [p.missing for p in probes],
            "repeated": [p.repeated for p in probes],
            "bad_stamps": [p.bad_stamps for p in probes],
            "decode_errors": tally.count("failed to decode"),
        }

    def recording(on: bool) -> None:
        for probe in probes:
            probe.recording = on

    first, last = await measure(
        ctl,
        {"silent": [p.index for p in probes if not p.frames]},
        snapshot,
        on_start=lambda: recording(True),
        on_end=lambda: recording(False),
    )
    wall = last["wall"] - first["wall"]

    def delta(name: str, decoding: bool) -> list[float]:
        return [last[name][p.index] - first[name][p.index] for p in probes if p.decodes == decoding]

    latencies = sorted(x for p in probes for x in p.latencies_ms)
    await report_and_wait(
        ctl,
        {
            "cpu": window_cpu(first, last),
            "cpu_user": window_cpu(first, last, "user"),
            "cpu_sys": window_cpu(first, last, "sys"),
            "decoding": sum(p.decodes for p in probes),
            "decoded_fps": [n / wall for n in delta("frames", True)],
            "encoded_fps": [n / wall for n in delta("frames", False)],
            "missing_decoded": sum(delta("missing", True)),
            "missing_encoded": sum(delta("missing", False)),
            "repeated": sum(delta("repeated", True)),
            "bad_stamps": sum(delta("bad_stamps", True)),
            "decode_errors": last["decode_errors"] - first["decode_errors"],
            "latency_ms": {
                "samples": len(latencies),
                "median": statistics.median(latencies) if latencies else None,
                "p90": statistics.quantiles(latencies, n=10, method="inclusive")[8] if len(latencies) > 1 else None,
                "min": latencies[0] if latencies else None,
                "max": latencies[-1] if latencies else None,
            },
            "log": tally.report(),
        },
    )
    for task in tasks:
        task.cancel()
    for pc in pcs:
        await pc.close()
