"""The processes of bench/cameras.py: the simulated cameras, the hall, and the viewers.

Each runs in its own process, started by bench/cameras.py with the "spawn" context, so that the
simulator's rendering and H.264 encoding and the viewers' decoding never count in the hall's CPU:

- `run_sim`: an RTSP server of camera_control.sim with the streams asked for (what a camera is);
- `run_hall`: a MediaNode with RtspIngest threads pushing into feeds, WHEP viewers answered by
  MediaNode.watch_feed, and on request VideoDecoders or DetectorWatches on those feeds, the same
  objects camera_control.live and camera_control.service put together;
- `run_viewers`: aiortc peers watching a feed, either all decoding and reading the simulator's
  clock stamp (camera_control.sim.scene), or all counting complete encoded frames, never decoding.

Each process reports ("ready", info), then serves commands from the parent over its control pipe:
("window", start, end) takes a snapshot of the process (CPU, memory, counters) at the absolute
wall-clock start and end, the same for every process; other commands set the scene (start ingests,
answer offers, attach detectors, record a clip). Every command is answered with ("ok", result); a
failure with ("error", traceback), after which the process exits. ("stop",) ends it.

The viewers replace aiortc's stock jitter buffer with media_server's MarkerJitterBuffer, which
releases a frame at its RTP marker bit as a browser does; the stock one waits for the next frame's
first packet, one frame interval (40 ms at 25 fps) that no browser adds.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import _relay_procs as relay_procs
from _relay_procs import (
    LogTally,
    new_pc,
    process_snapshot,
    receive,
    sleep_until,
    wait_for,
)

from camera_control.sim.scene import read_clock_stamp, stamp_time

logger = logging.getLogger("bench.cameras")

CONNECT_TIMEOUT = 30.0
LATENCY_SANE_S = 10.0  # a stamp further off than this was misread: not a latency sample


class Role:
    """One process's part: `start` once, then commands; `snapshot` at both ends of each window."""

    tally: LogTally

    async def start(self) -> dict[str, Any]:
        return {}

    async def snapshot(self) -> dict[str, Any]:
        return process_snapshot()

    def recording(self, on: bool) -> None:
        """The window opened (True) or closed (False): per-sample records count only inside it."""

    def window_extra(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        pass


async def _serve(ctl: Connection, role: Role, tally: LogTally) -> None:
    role.tally = tally
    ctl.send(("ready", await role.start()))
    try:
        while True:
            message = await receive(ctl)
            name, args = message[0], message[1:]
            if name == "stop":
                return
            if name == "window":
                result = await _window(role, *args)
            else:
                result = await getattr(role, f"do_{name}")(*args)
            ctl.send(("ok", result))
    finally:
        await role.close()


async def _window(role: Role, start: float, end: float, label: str) -> dict[str, Any]:
    profile_path = os.environ.get("HALL_BENCH_PROFILE") if isinstance(role, _Hall) else None
    profiler = cProfile.Profile() if profile_path else None  # the hall's window, into PATH.<label>
    await sleep_until(start)
    first = await role.snapshot()
    role.recording(True)
    if profiler is not None:
        profiler.enable()
    await sleep_until(end)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile_path}.{label}")
    role.recording(False)
    last = await role.snapshot()
    return {"first": first, "last": last, **role.window_extra(), "log": role.tally.report()}


def _run_role(ctl: Connection, name: str, make: Callable[[], Role]) -> None:
    relay_procs._run(ctl, name, lambda tally: _serve(ctl, make(), tally))


# --------------------------------------------------------------------------- the simulated cameras


@dataclasses.dataclass(frozen=True)
class SimStream:
    path: str
    width: int
    height: int
    fps: int
    bitrate_kbps: int

    @property
    def gop(self) -> int:
        return 2 * self.fps  # as SimulatedCamera's profiles: a keyframe every two seconds


def run_sim(ctl: Connection, streams: list[SimStream], figure_every: float | None) -> None:
    """An RTSP server serving `streams`, one shared encoder per path, until stopped."""
    _run_role(ctl, "sim", lambda: _Sim(streams, figure_every))


class _Sim(Role):
    def __init__(self, streams: list[SimStream], figure_every: float | None) -> None:
        self._streams = streams
        self._figure_every = figure_every
        self._server: Any = None
        self._recording = False
        self.ready_ms: list[float] = []  # stamp -> access unit handed to the clients' queues

    async def start(self) -> dict[str, Any]:
        from camera_control.sim.rtsp import RtspServer, StreamSpec
        from camera_control.sim.state import CameraState

        # A figure walks through the hall 6 s in every `figure_every`: motion for the detectors.
        state = CameraState(figure_every=self._figure_every, figure_duration=6.0, name="基准摄像机")
        specs = [
            StreamSpec(s.path, s.width, s.height, fps=s.fps, codec="h264", gop=s.gop, bitrate_kbps=s.bitrate_kbps)
            for s in self._streams
        ]
        self._server = RtspServer(state, host="127.0.0.1", streams=specs)
        await self._server.start()
        for spec in specs:  # probe the parameter sets now, not while the first client waits
            encoder = self._server.encoder(spec.path)
            await encoder.parameter_sets()
            encoder._deliver = self._timed(encoder._deliver)
        return {"urls": {spec.path: self._server.url(spec.path) for spec in specs}}

    def _timed(self, deliver: Callable[[Any], None]) -> Callable[[Any], None]:
        """The encoder's hand-over to its clients, timing each access unit from its picture's stamp
        (the stamp is the unit's capture time): the simulator's own share of the latency."""

        def timed(unit: Any) -> None:
            if self._recording:
                self.ready_ms.append((time.time() - unit.capture_time) * 1000)
            deliver(unit)

        return timed

    def recording(self, on: bool) -> None:
        self._recording = on
        if on:
            self.ready_ms.clear()

    def window_extra(self) -> dict[str, Any]:
        return {"ready_ms": list(self.ready_ms)}

    async def snapshot(self) -> dict[str, Any]:
        server = self._server
        encoders = [server.encoder(s.path) for s in self._streams]
        return {
            **process_snapshot(),
            "frames_encoded": sum(e.frames_encoded for e in encoders),
            "units_dropped": server.units_dropped,
            "clients": server.clients,
        }

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop()


# --------------------------------------------------------------------------- the hall


def run_hall(ctl: Connection) -> None:
    """The hall's camera path: MediaNode, ingests, feeds, viewers' sessions, decoders, detectors."""
    _run_role(ctl, "hall", _Hall)


class _Hall(Role):
    def __init__(self) -> None:
        from media_server import MediaNode, MediaSettings

        self.node = MediaNode(MediaSettings(interfaces=["127.0.0.1"], max_viewers_per_feed=1000))
        self.feeds: list[Any] = []
        self.ingests: list[Any] = []
        self.decoders: list[Any] = []
        self.detectors: list[Any] = []
        self.motion_samples = 0
        self.motion_active = 0

    async def do_ingest(self, urls: list[str], transcode: bool) -> dict[str, Any]:
        """One RtspIngest and feed per URL, as LiveStreams makes them; returns once all have frames."""
        import camera_control.ingest as ingest_module
        from camera_control.ingest import RtspIngest

        if transcode:
            # The side-by-side alternative: the ingest's own transcoder (decode, libx264 once) on the
            # camera's H.264 too, as a gateway without passthrough would run it.
            transcoder = ingest_module._Transcoder

            def transcode_everything(ingest: Any, stream: Any) -> Any:
                ingest.transcoding = True  # so viewers' keyframe requests reach the encoder
                return transcoder(ingest, stream)

            ingest_module._Passthrough = transcode_everything  # type: ignore[assignment,misc]
        loop = asyncio.get_running_loop()
        for url in urls:
            index = len(self.feeds)
            box: list[Any] = []  # the ingest, once made: the feed's keyframe requests go to it

            def request_keyframe(box: list[Any] = box) -> bool:
                return bool(box) and bool(box[0].request_keyframe())

            feed = self.node.add_feed(f"camera-{index}", request_keyframe=request_keyframe)
            ingest = RtspIngest(f"camera {index}", url, feed, loop)
            box.append(ingest)
            self.feeds.append(feed)
            self.ingests.append(ingest)
            ingest.start()
        await wait_for(lambda: all(i.frames_in > 0 for i in self.ingests), CONNECT_TIMEOUT, "frames from every ingest")
        return {
            "codecs": sorted({str(i.codec) for i in self.ingests}),
            "transcoding": [i.transcoding for i in self.ingests],
        }

    async def do_watch(self, offers: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Answer the viewers' WHEP offers with the first feed, as the hall's /whep endpoint does."""
        answers = []
        for index, offer in offers:
            session = await self.node.watch_feed(self.feeds[0].id, offer, viewer=f"viewer-{index}")
            answers.append((index, session.answer_sdp))
        return answers

    async def do_decoders(self, on: bool) -> int:
        """Decode every feed (media_server.codecs.VideoDecoder, all frames, nothing else) or stop that."""
        from media_server.codecs import VideoDecoder

        if on:
            for feed in self.feeds:
                decoder = VideoDecoder(feed.id, lambda: None)
                feed.forwarder.listeners.append(decoder.feed)
                self.decoders.append((feed, decoder))
            return len(self.decoders)
        for feed, decoder in self.decoders:
            feed.forwarder.listeners.remove(decoder.feed)
            decoder.close()
            await asyncio.to_thread(decoder.join)
        self.decoders.clear()
        return 0

    async def do_motion(self, count: int, fps: float) -> int:
        """Motion detection (camera_control.motion.DetectorWatch) on the first `count` feeds."""
        from camera_control.motion import DetectorWatch, MotionSample
        from camera_control.sim.scene import OSD_MASKS

        def report(sample: MotionSample) -> None:
            self.motion_samples += 1
            self.motion_active += sample.active

        for feed in self.feeds[len(self.detectors) : count]:
            watch = DetectorWatch(feed.id, feed, fps, report, masks=OSD_MASKS)
            watch.start()
            self.detectors.append(watch)
        await wait_for(lambda: all(d.looked > 0 for d in self.detectors), CONNECT_TIMEOUT, "a first motion look")
        return len(self.detectors)

    async def do_clip(self, seconds: float) -> list[tuple[float, bytes, bool]]:
        """The first feed's frames for `seconds` from its next keyframe, each with its push time."""
        from media_server import CodecInfo, EncodedFrame

        clip: list[tuple[float, bytes, bool]] = []

        def record(codec: CodecInfo, frame: EncodedFrame) -> None:
            if clip or frame.keyframe:
                clip.append((time.time(), frame.data, frame.keyframe))

        listeners = self.feeds[0].forwarder.listeners
        listeners.append(record)
        try:
            await wait_for(lambda: bool(clip), CONNECT_TIMEOUT, "a keyframe")
            await asyncio.sleep(seconds)
        finally:
            listeners.remove(record)
        return clip

    async def snapshot(self) -> dict[str, Any]:
        tracks = sorted(self.feeds[0].forwarder.tracks, key=id) if self.feeds else []
        return {
            **process_snapshot(),
            "frames_in": sum(i.frames_in for i in self.ingests),
            "bytes_in": sum(i.bytes_in for i in self.ingests),
            "frames_transcoded": sum(i.frames_transcoded for i in self.ingests),
            "connects": sum(i.connects for i in self.ingests),
            "sent": {f"{id(t):x}": t.frames_sent for t in tracks},
            "forwarded_frames": self.node.stats.forwarded_frames,
            "dropped_frames": self.node.stats.dropped_frames,
            "keyframe_requests": self.node.stats.keyframe_requests,
            "decoded": sum(d.frames_decoded for _, d in self.decoders)
            + sum(w._decoder.frames_decoded for w in self.detectors),
            "decoder_skipped": sum(d.frames_skipped for _, d in self.decoders)
            + sum(w._decoder.frames_skipped for w in self.detectors),
            "looked": sum(w.looked for w in self.detectors),
            "motion_active": self.motion_active,
        }

    def window_extra(self) -> dict[str, Any]:
        return {
            "ingests": len(self.ingests),
            "viewers": self.feeds[0].viewers if self.feeds else 0,
            "detectors": len(self.detectors),
            "decoders": len(self.decoders),
            "transcoding": any(i.transcoding for i in self.ingests),
            "states": sorted({str(i.state) for i in self.ingests}),
        }

    async def close(self) -> None:
        for watch in self.detectors:
            await watch.stop()
        await self.do_decoders(False)
        await self.node.close()
        for ingest in self.ingests:
            await ingest.stop()


# --------------------------------------------------------------------------- the viewers


def run_viewers(ctl: Connection, role: str, fps: int, receive_buffer: int, decode: bool, first_index: int) -> None:
    """WHEP viewers of one feed, numbered from `first_index`: all decoding and reading the clock
    stamps, or all counting encoded frames (a crowd that costs the hall the same and this process less)."""
    _run_role(ctl, role, lambda: _Viewers(fps, receive_buffer, decode, first_index))


@dataclasses.dataclass
class _Probe:
    """What one viewer saw: decoded pictures with their stamps, or complete encoded frames counted."""

    index: int
    decodes: bool
    fps: int
    frames: int = 0
    missing: int = 0  # frames skipped: stamp gaps (decoding) or RTP timestamp gaps (counting)
    bad_stamps: int = 0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    recording: bool = False
    _last_capture: float | None = None
    _last_timestamp: int | None = None

    def on_decoded(self, luma: Any) -> None:
        arrived = time.time()
        captured = stamp_time(read_clock_stamp(luma), arrived)
        latency = arrived - captured
        self.frames += 1
        if not -1.0 < latency < LATENCY_SANE_S:
            self.bad_stamps += 1
            return
        if self._last_capture is not None:
            step = round((captured - self._last_capture) * self.fps)
            if 1 < step < 10 * self.fps:
                self.missing += step - 1
        self._last_capture = captured
        if self.recording:
            self.latencies_ms.append(latency * 1000)

    def on_encoded(self, timestamp: int) -> None:
        self.frames += 1
        if self._last_timestamp is not None:
            step = round(((timestamp - self._last_timestamp) & 0xFFFFFFFF) * self.fps / 90000)
            if 1 < step < 10 * self.fps:
                self.missing += step - 1
        self._last_timestamp = timestamp


class _Viewers(Role):
    def __init__(self, fps: int, receive_buffer: int, decode: bool, first_index: int) -> None:
        self._fps = fps
        self._receive_buffer = receive_buffer
        self._decode = decode
        self._first_index = first_index
        self.receive_buffers: set[int] = set()
        self.probes: list[_Probe] = []
        self.by_index: dict[int, _Probe] = {}
        self.pcs: dict[int, Any] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def do_offer(self, count: int) -> list[tuple[int, str]]:
        """`count` more viewers; returns their offers."""
        offers = []
        for _ in range(count):
            probe = _Probe(self._first_index + len(self.probes), decodes=self._decode, fps=self._fps)
            self.probes.append(probe)
            self.by_index[probe.index] = probe
            pc = new_pc()
            _prefer_h264(pc.addTransceiver("video", direction="recvonly"))
            pc.on("track", lambda track, pc=pc, probe=probe: self._on_track(pc, track, probe))
            await pc.setLocalDescription(await pc.createOffer())
            self._enlarge_receive_buffers(pc)
            self.pcs[probe.index] = pc
            offers.append((probe.index, pc.localDescription.sdp))
        return offers

    async def do_accept(self, answers: list[tuple[int, str]]) -> list[int]:
        """Apply the hall's answers; returns the viewers still without a frame after the timeout."""
        from aiortc import RTCSessionDescription

        for index, answer in answers:
            await self.pcs[index].setRemoteDescription(RTCSessionDescription(answer, "answer"))
        waiting = [self.by_index[index] for index, _ in answers]
        try:
            await wait_for(lambda: all(p.frames > 0 for p in waiting), CONNECT_TIMEOUT, "a first frame at each viewer")
        except TimeoutError:
            logger.error("viewers without any frame: %s", [p.index for p in waiting if not p.frames])
        return [p.index for p in waiting if not p.frames]

    def _enlarge_receive_buffers(self, pc: Any) -> None:
        """One Python process plays all the viewers: with the kernel's default receive buffer (208 KiB,
        about 90 loopback packets) a 1080p keyframe sent to many viewers at once overflows some
        sockets while the loop serves the others, and the losses, not the hall, make the latency."""
        if not self._receive_buffer:
            return
        for transceiver in pc.getTransceivers():
            connection = transceiver.receiver.transport.transport._connection
            for protocol in connection._protocols:
                sock = protocol.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
                self.receive_buffers.add(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def _on_track(self, pc: Any, track: Any, probe: _Probe) -> None:
        from media_server.aiortc_adapter import MarkerJitterBuffer

        receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
        receiver._RTCRtpReceiver__jitter_buffer = MarkerJitterBuffer(capacity=512, is_video=True)
        if probe.decodes:
            self.tasks.append(asyncio.ensure_future(_consume(track, probe)))
            return
        relay_procs.count_encoded_frames(receiver, probe)  # type: ignore[arg-type]  (a probe of our own)

    async def snapshot(self) -> dict[str, Any]:
        return {
            **process_snapshot(),
            "frames": [p.frames for p in self.probes],
            "missing": [p.missing for p in self.probes],
            "bad_stamps": [p.bad_stamps for p in self.probes],
            "decodes": [p.decodes for p in self.probes],
            "decode_errors": self.tally.count("failed to decode"),
        }

    def recording(self, on: bool) -> None:
        for probe in self.probes:
            probe.recording = on
            if on:
                probe.latencies_ms.clear()

    def window_extra(self) -> dict[str, Any]:
        return {
            "latencies_ms": [x for p in self.probes for x in p.latencies_ms],
            "receive_buffers": sorted(self.receive_buffers),
        }

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for pc in self.pcs.values():
            await pc.close()


async def _consume(track: Any, probe: _Probe) -> None:
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        probe.on_decoded(relay_procs.luma_of(frame))


def _prefer_h264(transceiver: Any) -> None:
    from aiortc import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/H264", "video/rtx")])
