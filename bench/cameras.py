"""Camera benchmark: H.264 passthrough from RTSP to WHEP viewers, side by side with transcoding it,
latency from the simulator's drawn clock to the viewer, and motion detection per camera.

    cd /work/main && /tmp/venv/bin/python bench/cameras.py      # or: make bench
    /tmp/venv/bin/python bench/cameras.py --quick               # about a minute and a half
    /tmp/venv/bin/python bench/cameras.py --viewers 1,4 --cameras 8 --seconds 5
    /tmp/venv/bin/python bench/cameras.py --json > cameras.json

Separate processes per configuration, all on 127.0.0.1, started afresh for each: the simulated
camera (camera_control.sim's RTSP server: rendering and libx264 encoding, never counted in the
hall's numbers), the hall (MediaNode, RtspIngest threads, feeds, viewers' sessions, decoders and
motion detectors: the process whose CPU is measured), and two processes of aiortc WHEP viewers, so
that their work is not counted either: "viewers" holds the --decoders viewers that decode and read
the clock, "crowd" the rest, which count complete encoded frames at aiortc's receiver and never
decode (in a process of their own so that their packets do not delay the decoding viewer's). CPU
is time.process_time() of a process over a window of wall-clock time that every process measures
alike, in cores (1.0 = one core busy all the time). The machine's busy time over the same window
shows whether anything else was running ("others CPU").
Numbers are printed, never asserted.

1. Passthrough: one 1920x1080 25 fps H.264 main stream (the simulator's libx264 at 4 Mbit/s) pulled
   by RtspIngest and forwarded as it comes. Hall CPU with the ingest and no viewer, then with K
   viewers added step by step in the same processes; CPU per viewer = (CPU at K - CPU at 0) / K.
2. Transcoding, side by side: the same stream through the ingest's own transcoder (decode, then
   media_server.codecs.VideoEncoder H.264, superfast with hexagon search, what the hall runs for an H.265 camera), live
   in the hall process with one viewer. And offline, in this process, on a clip of the stream
   recorded at the feed: FFmpeg's decoder alone (one thread, and threaded as the transcoder runs
   it), decode + the hall's libx264 settings, decode + libx264 ultrafast, the packetiser the passthrough runs
   once per frame, and the memory-copy floor of the access units.
3. Latency: the simulator stamps the host time into every picture it renders (scene.stamp_clock);
   a decoding viewer reads it back (read_clock_stamp) and compares it with time.time() when aiortc
   hands over the decoded picture (same host clock: glass to glass minus the display). The ingest's
   share: the stamp of each frame of the recorded clip against the time it was pushed into the feed.
4. Motion: N cameras' 640x360 10 fps sub-streams, each with its own RtspIngest and feed. Hall CPU with
   the ingests alone, with every stream decoded (VideoDecoder, no detection: the decode floor in
   place), with DetectorWatch (decode + MotionDetector at --motion-fps) on one camera, then on all N.
   Offline baselines: FFmpeg's decoder alone on the recorded sub-stream, and MotionDetector alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import fractions
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, ROOT)

import _camera_procs as procs  # noqa: E402  (bench/ is sys.path[0] when run as a script)
import av  # noqa: E402
import numpy as np  # noqa: E402
import relay  # noqa: E402  (its process plumbing: one message from each, stopping them)

from camera_control.sim.scene import OSD_MASKS, read_clock_stamp, stamp_time  # noqa: E402
from media_server import FEED_H264, EncodedFrame  # noqa: E402
from media_server.codecs import VideoEncoder  # noqa: E402
from media_server.frames import MotionDetector  # noqa: E402
from media_server.packetizer import Packetizer  # noqa: E402

MAIN = procs.SimStream("/main", 1920, 1080, 25, 4096)  # SimulatedCamera's main stream
SUB_SIZE, SUB_FPS, SUB_KBPS = (640, 360), 10, 512  # and its sub-stream
TRANSCODE_BITS_PER_PIXEL = 0.1  # camera_control.ingest's choice for what it transcodes

TARGET_CPU_PER_VIEWER = 0.01  # cores
TARGET_MOTION_CAMERAS, TARGET_MOTION_CORES = 16, 1.0
TARGET_LATENCY_MS = 300.0


BenchError = relay.BenchError


# --------------------------------------------------------------------------- processes


class Processes:
    """The processes of one configuration, each with a control pipe; see _camera_procs."""

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._processes: dict[str, Any] = {}
        self._controls: dict[str, Any] = {}
        self.ready: dict[str, Any] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, roles: dict[str, tuple[Callable[..., None], tuple[Any, ...]]]) -> dict[str, Any]:
        """Start processes together; returns what each reported when ready."""
        for role, (target, args) in roles.items():
            parent_end, child_end = self._ctx.Pipe()
            process = self._ctx.Process(target=target, args=(child_end, *args), name=f"bench-{role}", daemon=True)
            process.start()
            child_end.close()
            self._processes[role], self._controls[role] = process, parent_end
        ready = self._collect(list(roles), "ready", timeout=90)
        self.ready.update(ready)
        return ready

    def call(self, role: str, command: str, *args: Any, timeout: float = 90) -> Any:
        self._controls[role].send((command, *args))
        return self._collect([role], "ok", timeout)[role]

    def window(self, settle: float, seconds: float, label: str) -> dict[str, Any]:
        """One measurement window in every process, `settle` seconds from now, and the machine's over it."""
        start = time.time() + settle
        for control in self._controls.values():
            control.send(("window", start, start + seconds, label))
        time.sleep(max(0.0, start - time.time()))
        first = machine_snapshot()
        time.sleep(max(0.0, start + seconds - time.time()))
        last = machine_snapshot()
        results = self._collect(list(self._controls), "ok", 60)
        results["machine"] = {"first": first, "last": last}
        return results

    def _collect(self, roles: list[str], kind: str, timeout: float) -> dict[str, Any]:
        return relay.collect({role: self._controls[role] for role in roles}, self._processes, kind, timeout)

    def stop(self) -> None:
        relay.stop_processes(self._controls, self._processes)
        self._processes.clear()
        self._controls.clear()


# --------------------------------------------------------------------------- numbers of one window


def machine_snapshot() -> dict[str, float]:
    """CPU time the whole machine spent busy (s), and the kernel's count of UDP datagrams dropped
    because a socket's receive buffer was full (every process: on loopback, those are the viewers')."""
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:9]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    with open("/proc/net/snmp") as snmp:
        udp = [line.split() for line in snmp if line.startswith("Udp:")]
    drops = int(udp[1][udp[0].index("RcvbufErrors")]) if len(udp) == 2 else 0
    return {"wall": time.time(), "cpu": busy, "udp_rcvbuf_errors": drops}


def wall(result: dict[str, Any]) -> float:
    return float(result["last"]["wall"] - result["first"]["wall"])


def cores(result: dict[str, Any], kind: str = "cpu") -> float:
    """CPU of a process over the window, in cores; `kind` "user" or "sys" splits it."""
    return float(result["last"][kind] - result["first"][kind]) / wall(result)


def rate(result: dict[str, Any], key: str) -> float:
    return float(result["last"][key] - result["first"][key]) / wall(result)


def percentiles(samples: list[float]) -> dict[str, float | int | None]:
    if not samples:
        return {"samples": 0, "median": None, "p95": None, "max": None}
    ordered = sorted(samples)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else ordered[0]
    return {"samples": len(ordered), "median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def viewer_numbers(result: dict[str, Any]) -> dict[str, Any]:
    first, last = result["first"], result["last"]
    seconds = wall(result)
    decoded: list[float] = []
    counted: list[float] = []
    missing = 0
    for i, decodes in enumerate(last["decodes"]):
        before = first["frames"][i] if i < len(first["frames"]) else 0
        fps = (last["frames"][i] - before) / seconds
        (decoded if decodes else counted).append(fps)
        missing += last["missing"][i] - (first["missing"][i] if i < len(first["missing"]) else 0)
    return {
        "decoded_fps_min": min(decoded, default=None),
        "counted_fps_min": min(counted, default=None),
        "missing_frames": missing,
        "bad_stamps": sum(last["bad_stamps"]) - sum(first["bad_stamps"]),
        "decode_errors": last["decode_errors"] - first["decode_errors"],
        "latency_ms": percentiles(result["latencies_ms"]),
        "cpu": cores(result),
    }


def hall_numbers(result: dict[str, Any]) -> dict[str, Any]:
    first, last = result["first"], result["last"]
    sent = [(n - first["sent"].get(key, 0)) / wall(result) for key, n in last["sent"].items()]
    return {
        "cpu": cores(result),
        "cpu_user": cores(result, "user"),
        "cpu_sys": cores(result, "sys"),
        "rss_mb": last["rss_kb"] / 1024,
        "fps_in": rate(result, "frames_in"),
        "kbps_in": rate(result, "bytes_in") * 8 / 1000,
        "frames_transcoded": last["frames_transcoded"],
        "transcoded_fps": rate(result, "frames_transcoded"),
        "reconnects": last["connects"] - first["connects"],
        "sent_fps_min": min(sent, default=None),
        "dropped_frames": last["dropped_frames"] - first["dropped_frames"],
        "keyframe_requests": last["keyframe_requests"] - first["keyframe_requests"],
        "decoded_fps": rate(result, "decoded"),
        "decoder_skipped": last["decoder_skipped"] - first["decoder_skipped"],
        "looked_fps": rate(result, "looked"),
        "motion_active": last["motion_active"],
        "ingests": result["ingests"],
        "viewers": result["viewers"],
        "detectors": result["detectors"],
        "decoders": result["decoders"],
        "transcoding": result["transcoding"],
        "states": result["states"],
    }


def sim_numbers(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "cpu": cores(result),
        "fps_encoded": rate(result, "frames_encoded"),
        "ready_ms": percentiles(result["ready_ms"]),
        "units_dropped": result["last"]["units_dropped"] - result["first"]["units_dropped"],
    }


def window_row(windows: dict[str, Any]) -> dict[str, Any]:
    machine = windows.pop("machine")
    row: dict[str, Any] = {"hall": hall_numbers(windows["hall"]), "sim": sim_numbers(windows["sim"])}
    if "viewers" in windows:
        watching, crowd = viewer_numbers(windows["viewers"]), viewer_numbers(windows["crowd"])
        row["viewers"] = {
            **watching,
            "counted_fps_min": crowd["counted_fps_min"],
            "missing_frames": watching["missing_frames"] + crowd["missing_frames"],
            "cpu": watching["cpu"] + crowd["cpu"],
            "decoding_cpu": watching["cpu"],
            "crowd_cpu": crowd["cpu"],
            "receive_buffers": sorted({*windows["viewers"]["receive_buffers"], *windows["crowd"]["receive_buffers"]}),
        }
    ours = sum(cores(result) for result in windows.values())
    row["machine"] = {
        "cpu": cores(machine),
        "others_cpu": cores(machine) - ours,
        "udp_rcvbuf_errors": machine["last"]["udp_rcvbuf_errors"] - machine["first"]["udp_rcvbuf_errors"],
    }
    row["log"] = {role: result["log"] for role, result in windows.items() if result.get("log")}
    return row


# --------------------------------------------------------------------------- the configurations


def run_main_stream(args: argparse.Namespace, transcode: bool) -> dict[str, Any]:
    """The 1080p main stream to K viewers (passthrough) or to one viewer through the transcoder."""
    ks = [1] if transcode else args.viewers
    label = "transcode" if transcode else "passthrough"
    result: dict[str, Any] = {"windows": {}}
    with Processes() as processes:
        ready = processes.start(
            {
                "sim": (procs.run_sim, ([MAIN], args.figure_every)),
                "hall": (procs.run_hall, ()),
                "viewers": (procs.run_viewers, ("viewers", MAIN.fps, args.receive_buffer, True, 0)),
                "crowd": (procs.run_viewers, ("crowd", MAIN.fps, args.receive_buffer, False, 1000)),
            }
        )
        result["ingest"] = processes.call("hall", "ingest", [ready["sim"]["urls"][MAIN.path]], transcode)
        if not transcode:
            progress(f"{label}: ingest only")
            result["windows"][0] = window_row(processes.window(args.warmup, args.seconds, f"{label}-0"))
            report_progress(label, 0, result["windows"][0])
        have = {"viewers": 0, "crowd": 0}
        for k in ks:
            silent = []
            wanted = {"viewers": min(k, args.decoders), "crowd": k - min(k, args.decoders)}
            for role, count in wanted.items():
                if count > have[role]:
                    offers = processes.call(role, "offer", count - have[role])
                    answers = processes.call("hall", "watch", offers)
                    silent += processes.call(role, "accept", answers)
                    have[role] = count
            progress(f"{label}: {k} viewer(s)")
            settle = args.warmup if transcode else args.settle  # the transcoder's only window is its first
            row = window_row(processes.window(settle, args.seconds, f"{label}-{k}"))
            row["silent_viewers"] = silent
            result["windows"][k] = row
            report_progress(label, k, row)
        if not transcode:
            result["clip"] = processes.call("hall", "clip", args.clip_seconds)
    return result


def run_motion(args: argparse.Namespace) -> dict[str, Any]:
    """N cameras' sub-streams: ingested, then decoded, then watched for motion on one and on all."""
    n = args.cameras
    paths = ["/sub"] if args.shared_sub_stream else [f"/sub{i}" for i in range(n)]
    streams = [procs.SimStream(path, *SUB_SIZE, SUB_FPS, SUB_KBPS) for path in paths]
    result: dict[str, Any] = {"windows": {}}
    with Processes() as processes:
        ready = processes.start({"sim": (procs.run_sim, (streams, args.figure_every)), "hall": (procs.run_hall, ())})
        urls = ready["sim"]["urls"]
        ingest_urls = [urls[paths[i % len(paths)]] for i in range(n)]
        result["ingest"] = processes.call("hall", "ingest", ingest_urls, False)
        steps: list[tuple[str, Callable[[], object], float]] = [
            ("ingest", lambda: None, args.warmup),
            ("decode", lambda: processes.call("hall", "decoders", True), args.settle),
            (
                "motion_1",
                lambda: (
                    processes.call("hall", "decoders", False),
                    processes.call("hall", "motion", 1, args.motion_fps),
                ),
                args.settle,
            ),
        ]
        if n > 1:
            steps.append(("motion_all", lambda: processes.call("hall", "motion", n, args.motion_fps), args.settle))
        for name, prepare, settle in steps:
            prepare()
            progress(f"motion, {n} cameras: {name}")
            result["windows"][name] = window_row(processes.window(settle, args.seconds, f"motion-{name}"))
            report_progress("motion", name, result["windows"][name])
        result["clip"] = processes.call("hall", "clip", args.clip_seconds * 1.5)
    return result


# --------------------------------------------------------------------------- offline baselines


def _decoder(threaded: bool) -> Any:
    context = av.CodecContext.create("h264", "r")
    if threaded:
        context.thread_type = "AUTO"  # as the ingest's transcoder opens it
    else:
        context.thread_count = 1  # as media_server.codecs.VideoDecoder opens it
    return context


Pass = tuple[Callable[[bytes], object], Callable[[], object]]  # (per access unit, at the end)


def cores_for(clip: list[tuple[float, bytes, bool]], fps: float, make: Callable[[], Pass], repeats: int = 3) -> float:
    """The fraction of a core a pass over the clip takes at `fps` frames a second: best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        work, finish = make()
        started = time.process_time()
        for _, data, _ in clip:
            work(data)
        finish()
        best = min(best, time.process_time() - started)
    return best / (len(clip) / fps)


def each_unit(work: Callable[[bytes], object]) -> Callable[[], Pass]:
    return lambda: (work, lambda: None)


def decoding(threaded: bool, encoder: Callable[[], Callable[[Any], object]] | None = None) -> Callable[[], Pass]:
    """Passes that decode (and with `encoder`, encode each picture again)."""

    def make() -> Pass:
        decoder = _decoder(threaded)
        encode = encoder() if encoder is not None else None

        def handle(pictures: list[Any]) -> None:
            if encode is not None:
                for picture in pictures:
                    encode(picture)

        def finish() -> None:
            # Drained, and not only for the count: PyAV 18 hangs freeing a frame-threaded decoder that
            # still holds frames (found writing this benchmark).
            handle(decoder.decode(None))

        return (lambda data: handle(decoder.decode(av.Packet(data)))), finish

    return make


def offline_main(clip: list[tuple[float, bytes, bool]], fps: int) -> dict[str, Any]:
    """Decode, transcode, packetise and copy the recorded main stream; the ingest's share of latency."""
    width, height = MAIN.width, MAIN.height
    bitrate = int(width * height * fps * TRANSCODE_BITS_PER_PIXEL)

    def hall_h264() -> Callable[[Any], object]:
        return VideoEncoder("H264", width, height, fps, bitrate).encode

    def ultrafast() -> Callable[[Any], object]:
        context = av.CodecContext.create("libx264", "w")
        context.width, context.height, context.pix_fmt = width, height, "yuv420p"
        context.time_base = fractions.Fraction(1, fps)
        context.bit_rate = bitrate
        context.thread_count = 1
        context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        index = [0]

        def encode(picture: Any) -> object:
            picture.pts, picture.time_base = index[0], context.time_base
            index[0] += 1
            return context.encode(picture)

        return encode

    packetizer = Packetizer(FEED_H264)
    numbers: dict[str, Any] = {
        "frames": len(clip),
        "kbps": sum(len(d) for _, d, _ in clip) * 8 / (len(clip) / fps) / 1000,
        "decode_1_thread": cores_for(clip, fps, decoding(False)),
        "decode_threaded": cores_for(clip, fps, decoding(True)),
        "transcode_hall": cores_for(clip, fps, decoding(True, hall_h264), repeats=1),
        "transcode_ultrafast": cores_for(clip, fps, decoding(True, ultrafast), repeats=1),
        "packetise_once": cores_for(
            clip, fps, each_unit(lambda data: packetizer.payloads(EncodedFrame(data, 0, False))), repeats=5
        ),
        "copy_floor": cores_for(clip, fps, each_unit(lambda data: bytes(bytearray(data))), repeats=5),
    }
    # The ingest's share of the latency: the stamp of each frame against its push into the feed.
    decoder, latencies, bad = _decoder(False), list[float](), 0
    for pushed, data, _ in clip:
        for picture in decoder.decode(av.Packet(data)):
            latency = pushed - stamp_time(read_clock_stamp(_luma(picture)), pushed)
            if -1.0 < latency < procs.LATENCY_SANE_S:
                latencies.append(latency * 1000)
            else:
                bad += 1
    numbers["ingest_latency_ms"] = percentiles(latencies)
    numbers["ingest_latency_bad_stamps"] = bad
    return numbers


def offline_sub(clip: list[tuple[float, bytes, bool]], fps: int, motion_fps: float) -> dict[str, Any]:
    """FFmpeg's decoder alone, and MotionDetector alone, on the recorded sub-stream."""
    numbers = {"frames": len(clip), "decode": cores_for(clip, fps, decoding(False), repeats=5)}
    decoder = _decoder(False)
    pictures = [p for _, data, _ in clip for p in decoder.decode(av.Packet(data))]
    every = max(1, round(fps / motion_fps))
    looked = pictures[::every]
    width, height = pictures[0].width, pictures[0].height
    masks = [[(x * width, y * height) for x, y in polygon] for polygon in OSD_MASKS]
    best = float("inf")
    for _ in range(5):
        detector = MotionDetector(width, height, masks=masks)
        started = time.process_time()
        for picture in looked:
            detector.detect_frame(picture)
        best = min(best, time.process_time() - started)
    numbers["detect"] = best / len(looked) * motion_fps
    return numbers


def _luma(picture: Any) -> np.ndarray:
    plane = picture.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(picture.height, plane.line_size)[:, : picture.width]


# --------------------------------------------------------------------------- output


def progress(text: str) -> None:
    print(f"running {text} ...", file=sys.stderr, flush=True)


def report_progress(label: str, step: object, row: dict[str, Any]) -> None:
    hall, sim = row["hall"], row["sim"]
    parts = [
        f"  {label} {step}: hall {hall['cpu']:.3f} cores (user {hall['cpu_user']:.3f} sys {hall['cpu_sys']:.3f})",
        f"in {hall['fps_in']:.1f} fps {hall['kbps_in']:.0f} kbit/s",
        f"sim {sim['cpu']:.2f} cores, encoded {sim['fps_encoded']:.1f} fps",
    ]
    if hall["decoded_fps"]:
        parts.append(f"decoded {hall['decoded_fps']:.1f} fps")
    if hall["looked_fps"]:
        parts.append(f"looked {hall['looked_fps']:.1f}/s")
    viewers = row.get("viewers")
    if viewers is not None:
        latency = viewers["latency_ms"]
        parts.append(f"viewers {viewers['cpu']:.2f} cores")
        if viewers["decoded_fps_min"] is not None:
            parts.append(f"decoded fps {viewers['decoded_fps_min']:.1f}")
        if viewers["counted_fps_min"] is not None:
            parts.append(f"counted fps min {viewers['counted_fps_min']:.1f}")
        if latency["median"] is not None:
            parts.append(f"latency {latency['median']:.0f}/{latency['p95']:.0f} ms")
        if viewers["missing_frames"] or viewers["bad_stamps"] or viewers["decode_errors"]:
            parts.append(
                f"missing {viewers['missing_frames']} bad-stamps {viewers['bad_stamps']} "
                f"decode-errors {viewers['decode_errors']}"
            )
    machine = row["machine"]
    parts.append(f"other processes {machine['others_cpu']:.2f} cores")
    if machine["udp_rcvbuf_errors"]:
        parts.append(f"UDP receive-buffer drops {machine['udp_rcvbuf_errors']}")
    if hall["dropped_frames"] or hall["reconnects"] or sim["units_dropped"] or hall["decoder_skipped"]:
        parts.append(
            f"dropped {hall['dropped_frames']} reconnects {hall['reconnects']} "
            f"sim-dropped {sim['units_dropped']} decoder-skipped {hall['decoder_skipped']}"
        )
    print(" | ".join(parts), file=sys.stderr, flush=True)
    for role, entries in row.get("log", {}).items():
        for entry in entries:
            print(f"  log[{role}] x{entry['count']}: {entry['example']}", file=sys.stderr)


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def table(title: str, headers: list[str], lines: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in lines:
        print(" | ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))


def summarise(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The numbers the tables and targets print, from the raw windows."""
    summary: dict[str, Any] = {}
    passthrough = results.get("passthrough")
    if passthrough:
        windows = passthrough["windows"]
        base = windows[0]["hall"]
        rows = []
        for k, row in windows.items():
            hall = row["hall"]
            entry = {
                "k": k,
                "hall_cpu": hall["cpu"],
                "hall_user": hall["cpu_user"],
                "hall_sys": hall["cpu_sys"],
                "rss_mb": hall["rss_mb"],
                "fps_in": hall["fps_in"],
                "kbps_in": hall["kbps_in"],
                "sent_fps_min": hall["sent_fps_min"],
                "frames_transcoded": hall["frames_transcoded"],
                "transcoding": hall["transcoding"],
                "sim_cpu": row["sim"]["cpu"],
                "sim_fps": row["sim"]["fps_encoded"],
                "sim_ready_ms": row["sim"]["ready_ms"],
                "dropped": hall["dropped_frames"],
                "others_cpu": row["machine"]["others_cpu"],
                "udp_drops": row["machine"]["udp_rcvbuf_errors"],
            }
            if k:
                entry["cpu_per_viewer"] = (hall["cpu"] - base["cpu"]) / k
                entry["user_per_viewer"] = (hall["cpu_user"] - base["cpu_user"]) / k
                entry["mb_per_viewer"] = (hall["rss_mb"] - base["rss_mb"]) / k
                entry["viewers"] = row["viewers"]
            rows.append(entry)
        summary["passthrough"] = rows
    transcode = results.get("transcode")
    if transcode:
        row = transcode["windows"][1]
        summary["transcode"] = {
            "hall_cpu": row["hall"]["cpu"],
            "fps_in": row["hall"]["fps_in"],
            "transcoded_fps": row["hall"]["transcoded_fps"],
            "sim_cpu": row["sim"]["cpu"],
            "viewers": row["viewers"],
        }
    return summary


def print_report(results: dict[str, Any], args: argparse.Namespace) -> None:
    summary = summarise(results, args)
    print(
        f"\nCamera benchmark, {datetime.date.today()}: {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, PyAV {av.__version__}; "
        f"warm-up {args.warmup:g} s, window {args.seconds:g} s"
    )
    offline = results.get("offline_main")
    rows = summary.get("passthrough")
    if rows:
        print(
            f"Main stream: simulated camera {MAIN.width}x{MAIN.height} {MAIN.fps} fps H.264 (libx264 ultrafast, "
            f"{MAIN.bitrate_kbps} kbit/s), at the ingest {rows[0]['fps_in']:.1f} fps "
            f"{rows[0]['kbps_in']:.0f} kbit/s; "
            f"codec {results['passthrough']['ingest']['codecs']}, transcoding "
            f"{any(results['passthrough']['ingest']['transcoding'])}, frames transcoded "
            f"{max(r['frames_transcoded'] for r in rows)}"
        )
        buffers = sorted({b for r in rows[1:] for b in r["viewers"]["receive_buffers"]})
        print(
            f"Viewers: {args.decoders} decoding in one process, the rest counting encoded frames in another; "
            "socket receive buffers "
            f"{buffers or 'as the kernel sets them'} bytes. Others CPU: the machine's busy time minus these "
            "processes' (anything else running); UDP drops: the kernel's RcvbufErrors over the window."
        )
        lines = []
        for r in rows:
            v = r.get("viewers")
            lines.append(
                [
                    str(r["k"]),
                    f"{r['hall_cpu']:.3f}",
                    f"{r['hall_user']:.3f}/{r['hall_sys']:.3f}",
                    fmt(r.get("cpu_per_viewer"), ".4f"),
                    fmt(r.get("user_per_viewer"), ".4f"),
                    fmt(r.get("mb_per_viewer"), ".2f"),
                    fmt(r["sent_fps_min"], ".1f"),
                    "-" if v is None else f"{fmt(v['decoded_fps_min'], '.1f')}/{fmt(v['counted_fps_min'], '.1f')}",
                    "-" if v is None else str(v["missing_frames"]),
                    "-"
                    if v is None or v["latency_ms"]["median"] is None
                    else f"{v['latency_ms']['median']:.0f}/{v['latency_ms']['p95']:.0f}",
                    f"{r['sim_cpu']:.2f}",
                    "-" if v is None else f"{v['decoding_cpu']:.2f}+{v['crowd_cpu']:.2f}",
                    f"{r['others_cpu']:.2f}",
                    str(r["udp_drops"]),
                ]
            )
        table(
            "Passthrough: hall CPU (cores) with K WHEP viewers; per viewer = (CPU - CPU at K=0) / K",
            [
                "K",
                "hall CPU",
                "user/sys",
                "CPU/viewer",
                "user/viewer",
                "MB/viewer",
                "sent fps min",
                "viewer fps dec/cnt",
                "missing",
                "latency med/p95 ms",
                "sim CPU",
                "viewers CPU dec+crowd",
                "others CPU",
                "UDP drops",
            ],
            lines,
        )
    transcode = summary.get("transcode")
    if rows or transcode or offline:
        base = rows[0]["hall_cpu"] if rows else None
        lines = []
        if rows:
            lines.append(["passthrough ingest, live (hall, K=0)", f"{base:.3f}", "1.0x", "0"])
            one = next((r for r in rows if r["k"] == 1), None)
            if one:
                lines.append(
                    [
                        "passthrough ingest + 1 viewer, live",
                        f"{one['hall_cpu']:.3f}",
                        f"{one['hall_cpu'] / base:.1f}x",
                        "0",
                    ]
                )
        if transcode:
            one = next((r for r in rows or [] if r["k"] == 1), None)
            lines.append(
                [
                    f"ingest's transcoder + 1 viewer, live ({transcode['transcoded_fps']:.1f} of "
                    f"{transcode['fps_in']:.1f} fps out)",
                    f"{transcode['hall_cpu']:.3f}",
                    f"{transcode['hall_cpu'] / one['hall_cpu']:.1f}x" if one else "-",
                    "yes",
                ]
            )
        if offline:
            for key, name in (
                ("decode_1_thread", "decode only, FFmpeg h264, 1 thread (offline)"),
                ("decode_threaded", "decode only, threaded as the transcoder (offline)"),
                ("transcode_hall", "decode + libx264 as the transcoder encodes (offline)"),
                ("transcode_ultrafast", "decode + libx264 ultrafast (offline)"),
                ("packetise_once", "H.264 packetiser, once per frame (offline)"),
                ("copy_floor", "memory-copy floor of the access units (offline)"),
            ):
                value = offline[key]
                lines.append(
                    [
                        name,
                        f"{value:.4f}",
                        f"{value / base:.1f}x" if base else "-",
                        "yes" if key.startswith("transcode") else "0",
                    ]
                )
        table(
            f"One {MAIN.width}x{MAIN.height} {MAIN.fps} fps H.264 camera: cores, passthrough vs decoding "
            "and re-encoding (offline rows: CPU per second of video, against the passthrough ingest alone; "
            "the live transcoder against passthrough with one viewer)",
            ["path", "cores", "vs passthrough", "transcoded"],
            lines,
        )
    latency_lines = []
    if rows:
        for r in rows[1:]:
            lat = r["viewers"]["latency_ms"]
            latency_lines.append(
                [
                    f"passthrough, K={r['k']}: simulator -> viewer decoded",
                    fmt(lat["median"], ".0f"),
                    fmt(lat["p95"], ".0f"),
                    fmt(lat["max"], ".0f"),
                    str(lat["samples"]),
                ]
            )
    if transcode:
        lat = transcode["viewers"]["latency_ms"]
        latency_lines.append(
            [
                "transcoded, K=1: simulator -> viewer decoded",
                fmt(lat["median"], ".0f"),
                fmt(lat["p95"], ".0f"),
                fmt(lat["max"], ".0f"),
                str(lat["samples"]),
            ]
        )
    if offline:
        lat = offline["ingest_latency_ms"]
        latency_lines.append(
            [
                "simulator -> pushed into the feed (with the ingest)",
                fmt(lat["median"], ".0f"),
                fmt(lat["p95"], ".0f"),
                fmt(lat["max"], ".0f"),
                str(lat["samples"]),
            ]
        )
    if rows:
        lat = rows[0]["sim_ready_ms"]
        latency_lines.append(
            [
                "simulator alone: stamp -> encoded, ready to send (K=0)",
                fmt(lat["median"], ".0f"),
                fmt(lat["p95"], ".0f"),
                fmt(lat["max"], ".0f"),
                str(lat["samples"]),
            ]
        )
    if latency_lines:
        table(
            "Latency, ms (the simulator's drawn host clock against time.time())",
            ["path", "median", "p95", "max", "samples"],
            latency_lines,
        )
    motion = results.get("motion")
    if motion:
        print_motion(motion, results.get("offline_sub"), args)
    print_targets(results, summary, args)


def print_motion(motion: dict[str, Any], offline: dict[str, Any] | None, args: argparse.Namespace) -> None:
    n = args.cameras
    windows = motion["windows"]
    base = windows["ingest"]["hall"]["cpu"]
    lines = []
    names = {
        "ingest": f"{n} ingests, nothing decoded",
        "decode": f"{n} ingests, all decoded (VideoDecoder)",
        "motion_1": f"{n} ingests, motion detection on 1",
        "motion_all": f"{n} ingests, motion detection on {n}",
    }
    for name, row in windows.items():
        hall = row["hall"]
        watched = {"ingest": 0, "decode": n, "motion_1": 1, "motion_all": n}[name]
        added = hall["cpu"] - base
        lines.append(
            [
                names[name],
                f"{hall['cpu']:.3f}",
                f"{hall['cpu'] / n:.4f}",
                f"{added / watched:.4f}" if watched else "-",
                f"{hall['fps_in'] / n:.1f}",
                f"{hall['decoded_fps'] / watched:.1f}" if watched else "-",
                f"{hall['looked_fps'] / hall['detectors']:.1f}" if hall["detectors"] else "-",
                str(hall["decoder_skipped"]),
                f"{row['sim']['cpu']:.2f}",
                f"{row['machine']['others_cpu']:.2f}",
            ]
        )
    if offline:
        lines.append(
            [
                "offline: FFmpeg h264 decode, 1 thread",
                f"{offline['decode'] * n:.3f}",
                f"{offline['decode']:.4f}",
                "-",
                f"{SUB_FPS}",
                f"{SUB_FPS}",
                "-",
                "-",
                "-",
                "-",
            ]
        )
        lines.append(
            [
                f"offline: MotionDetector at {args.motion_fps:g} fps",
                f"{offline['detect'] * n:.3f}",
                f"{offline['detect']:.4f}",
                "-",
                "-",
                "-",
                f"{args.motion_fps:g}",
                "-",
                "-",
                "-",
            ]
        )
        lines.append(
            [
                "offline: decode + detect (floor)",
                f"{(offline['decode'] + offline['detect']) * n:.3f}",
                f"{offline['decode'] + offline['detect']:.4f}",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
            ]
        )
    shared = "one shared path" if args.shared_sub_stream else f"{n} paths, one encoder each"
    table(
        f"Motion: {n} cameras' {SUB_SIZE[0]}x{SUB_SIZE[1]} {SUB_FPS} fps H.264 sub-streams ({SUB_KBPS} kbit/s, "
        f"simulator: {shared}), detection at {args.motion_fps:g} fps; hall CPU in cores",
        [
            "hall",
            "cores",
            "per camera",
            "added per watched camera",
            "fps in/cam",
            "decoded fps/cam",
            "looks/s/cam",
            "decoder skipped",
            "sim CPU",
            "others CPU",
        ],
        lines,
    )


def print_targets(results: dict[str, Any], summary: dict[str, Any], args: argparse.Namespace) -> None:
    print("\nTargets")
    rows = summary.get("passthrough")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    if rows:
        transcoded = max(r["frames_transcoded"] for r in rows)
        transcoding = any(results["passthrough"]["ingest"]["transcoding"])
        print(
            f"  no transcoding on the H.264 path: frames_transcoded {transcoded}, transcoding {transcoding} "
            f"-> {verdict(transcoded == 0 and not transcoding)}"
        )
        per_viewer = [r["cpu_per_viewer"] for r in rows if "cpu_per_viewer" in r]
        if per_viewer:
            worst = max(per_viewer)
            print(
                f"  <= {TARGET_CPU_PER_VIEWER:.0%} of a core per viewer: "
                + ", ".join(f"K={r['k']} {r['cpu_per_viewer']:.4f}" for r in rows if "cpu_per_viewer" in r)
                + f" -> {verdict(worst <= TARGET_CPU_PER_VIEWER)}"
            )
        latencies = [(r["k"], r["viewers"]["latency_ms"]) for r in rows[1:] if r["viewers"]["latency_ms"]["p95"]]
        if latencies:
            worst_p95 = max(lat["p95"] for _, lat in latencies)
            print(
                f"  <= {TARGET_LATENCY_MS:.0f} ms simulator -> viewer (p95): "
                + ", ".join(f"K={k} {lat['median']:.0f}/{lat['p95']:.0f}" for k, lat in latencies)
                + f" ms -> {verdict(worst_p95 <= TARGET_LATENCY_MS)}"
            )
    motion = results.get("motion")
    if motion:
        last = motion["windows"].get("motion_all", motion["windows"]["motion_1"])["hall"]
        cameras, detecting, total = last["ingests"], last["detectors"], last["cpu"]
        claim = (
            f"  {TARGET_MOTION_CAMERAS} cameras ingested with motion detection within "
            f"{TARGET_MOTION_CORES:g} core: {cameras} cameras, {detecting} detecting, {total:.3f} cores"
        )
        if cameras >= TARGET_MOTION_CAMERAS and detecting >= TARGET_MOTION_CAMERAS:
            print(f"{claim} -> {verdict(total <= TARGET_MOTION_CORES)}")
        else:
            scaled = total / max(1, detecting) * TARGET_MOTION_CAMERAS
            print(f"{claim}; about {scaled:.2f} scaled to {TARGET_MOTION_CAMERAS} (not measured: run --cameras 16)")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter windows, viewers 1,4 and 4 cameras: a check that it all runs"
    )
    parser.add_argument("--viewers", default=None, help="viewer counts K, comma-separated; default 1,4,8,16")
    parser.add_argument("--cameras", type=int, default=None, help="cameras for motion detection; default 16")
    parser.add_argument(
        "--decoders",
        type=int,
        default=1,
        help="viewers that decode and read the clock (the rest count encoded frames); default 1",
    )
    parser.add_argument("--warmup", type=float, default=None, help="seconds after starting before the first window")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after each change before its window")
    parser.add_argument("--seconds", type=float, default=None, help="length of each window; default 8")
    parser.add_argument("--clip-seconds", type=float, default=None, help="main-stream clip for the offline rows")
    parser.add_argument("--motion-fps", type=float, default=5.0, help="pictures a second each detector looks at")
    parser.add_argument(
        "--figure-every", type=float, default=8.0, help="a figure crosses the hall for 6 s in every this many seconds"
    )
    parser.add_argument(
        "--shared-sub-stream",
        action="store_true",
        help="all cameras pull one simulator path (one encoder, about 0.02 cores instead of 0.35)",
    )
    parser.add_argument(
        "--receive-buffer",
        type=int,
        default=4 << 20,
        help="SO_RCVBUF of the viewers' sockets, bytes (0: the kernel's default); default 4 MiB",
    )
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: passthrough,transcode,motion")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the tables")
    args = parser.parse_args(argv)
    args.viewers = args.viewers or ("1,4" if args.quick else "1,4,8,16")
    try:
        args.viewers = sorted({int(k) for k in args.viewers.split(",") if k.strip()} - {0})
    except ValueError:
        parser.error(f"--viewers must be comma-separated integers, not {args.viewers!r}")
    if not args.viewers or min(args.viewers) < 1:
        parser.error("--viewers needs at least one positive count")
    args.cameras = args.cameras or (4 if args.quick else 16)
    args.warmup = args.warmup if args.warmup is not None else 3.0
    args.seconds = args.seconds or (4.0 if args.quick else 8.0)
    args.clip_seconds = args.clip_seconds or (2.0 if args.quick else 4.0)
    if args.cameras < 1 or args.decoders < 1:
        parser.error("--cameras and --decoders must be at least 1")
    args.skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    unknown = args.skip - {"passthrough", "transcode", "motion"}
    if unknown:
        parser.error(f"--skip knows passthrough, transcode and motion, not {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    parts: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("passthrough", lambda: run_main_stream(args, transcode=False)),
        ("transcode", lambda: run_main_stream(args, transcode=True)),
        ("motion", lambda: run_motion(args)),
    ]
    for name, run in parts:
        if name in args.skip:
            continue
        try:
            results[name] = run()
        except BenchError as exc:
            errors[name] = str(exc)
            print(f"  ERROR in {name}: {exc}", file=sys.stderr, flush=True)
    progress("offline baselines")
    if "passthrough" in results:
        results["offline_main"] = offline_main(results["passthrough"].pop("clip"), MAIN.fps)
    if "motion" in results:
        results["offline_sub"] = offline_sub(results["motion"].pop("clip"), SUB_FPS, args.motion_fps)
    print(f"done in {time.monotonic() - began:.0f} s", file=sys.stderr)
    if args.json:
        json.dump(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(),
                    "pyav": av.__version__,
                    "platform": platform.platform(),
                },
                "settings": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()},
                "main_stream": dataclasses.asdict(MAIN),
                "results": results,
                "summary": summarise(results, args),
                "errors": errors,
            },
            sys.stdout,
            indent=2,
            default=str,
        )
        print()
    else:
        print_report(results, args)
        for name, error in errors.items():
            print(f"\n{name}: ERROR\n{error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
