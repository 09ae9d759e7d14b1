"""Frame core benchmark: compositor, audio mixer, motion detector and the whole program, side by side.

    cd /work/main && /tmp/venv/bin/python bench/frames.py [--iterations 60] [--json]    # or: make bench-frames

One process, one thread for the pixel work (OpenCV and FFmpeg filter graphs both limited to one thread),
nothing asserted. Compositing rows, milliseconds per output frame (best of five runs):
- ours: `media_server.frames.Compositor.compose` (resize into views of the output frame's planes);
- xstack: PyAV's filter graph, one `scale` per input into `xstack`, frames pushed and pulled; with the
  scale filter's default (bicubic) and again with bilinear, its cheapest smooth filter;
- rgb: the round trip many compositors make: each source to BGR, `cv2.resize`, pasted into a BGR canvas,
  the canvas back to I420;
- floor: the memory-copy floor of the bytes moved: every source plane read once (copied to a buffer of
  the same size) and the output frame written once.
The program rows decode N pre-encoded VP8 streams (FFmpeg's decoder, one thread each as in the program),
compose them into the program picture and encode it once with `media_server.codecs.VideoEncoder` as
the program does: H.264 (what a viewer that takes both gets) and VP8 (a viewer that takes only VP8).
Each gives the CPU time of the three steps per second of program at 25 fps, the fraction of a core, and
the luma PSNR of the program as a viewer decodes it against the composed picture (every fifth frame,
outside the timing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import timeit
from collections.abc import Callable
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "bench"), os.path.join(ROOT, "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

import av  # noqa: E402
import av.filter  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from media_server.codecs import VideoEncoder  # noqa: E402
from media_server.frames import Compositor, TextRenderer, tile_rects, yuv_views  # noqa: E402

REPEATS = 5


def best_ms(work: Callable[[], object], iterations: int) -> float:
    return min(timeit.repeat(work, number=iterations, repeat=REPEATS)) / iterations * 1e3


def textured(width: int, height: int, seed: int) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    y = cv2.GaussianBlur(rng.integers(16, 235, (height, width), dtype=np.uint8), (5, 5), 0)
    u = rng.integers(100, 156, (height // 2, width // 2), dtype=np.uint8)
    v = rng.integers(100, 156, (height // 2, width // 2), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(np.concatenate([y, u.reshape(-1, width), v.reshape(-1, width)]), "yuv420p")
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    return frame


# ------------------------------------------------------------------------------------------ compositing


def xstack_graph(
    sources: list[av.VideoFrame], layout: str, width: int, height: int, flags: str = "bicubic"
) -> Callable[[], object]:
    graph = av.filter.Graph()
    graph.threads = 1
    tiles = tile_rects(layout, width, height)
    buffers = [
        graph.add_buffer(width=s.width, height=s.height, format="yuv420p", time_base=Fraction(1, 25)) for s in sources
    ]
    stack = graph.add(
        "xstack",
        f"inputs={len(sources)}:layout=" + "|".join(f"{t.x}_{t.y}" for t in tiles),
    )
    for index, (buffer, tile) in enumerate(zip(buffers, tiles, strict=True)):
        scale = graph.add("scale", f"{tile.width}:{tile.height}:flags={flags}")
        buffer.link_to(scale)
        scale.link_to(stack, 0, index)
    sink = graph.add("buffersink")
    stack.link_to(sink)
    graph.configure()
    pts = [0]

    def run(graph: av.filter.Graph = graph) -> object:  # the graph must outlive its filter contexts
        pts[0] += 1
        for buffer, frame in zip(buffers, sources, strict=True):
            frame.pts = pts[0]
            buffer.push(frame)
        return sink.pull()

    return run


def rgb_round_trip(sources: list[av.VideoFrame], layout: str, width: int, height: int) -> Callable[[], object]:
    tiles = tile_rects(layout, width, height)
    planes = [s.to_ndarray() for s in sources]  # I420 as one (h * 3 / 2, w) array
    canvas = np.zeros((height, width, 3), np.uint8)

    def run() -> object:
        for tile, i420 in zip(tiles, planes, strict=True):
            bgr = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
            canvas[tile.y : tile.bottom, tile.x : tile.right] = cv2.resize(
                bgr, (tile.width, tile.height), interpolation=cv2.INTER_AREA
            )
        return cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420)

    return run


def copy_floor(sources: list[av.VideoFrame], width: int, height: int) -> Callable[[], object]:
    source_planes = [p for s in sources for p in yuv_views(s)]
    targets = [np.empty_like(p) for p in source_planes]
    output = np.empty((height * 3 // 2, width), np.uint8)
    blank = np.zeros_like(output)

    def run() -> object:
        for source, target in zip(source_planes, targets, strict=True):
            np.copyto(target, source)
        np.copyto(output, blank)
        return output

    return run


def compose_case(count: int, source_size: tuple[int, int], layout: str, iterations: int, text: TextRenderer) -> dict:
    width, height = 1920, 1080
    sources = [textured(*source_size, seed) for seed in range(count)]
    compositor = Compositor(layout, width, height, text=text)
    labels = [f"参会方 {i + 1}" for i in range(count)]
    result = {
        "case": f"{count} x {source_size[0]}x{source_size[1]} -> {width}x{height} {layout}",
        "ours_ms": best_ms(lambda: compositor.compose(sources), iterations),
        "ours_labelled_ms": best_ms(lambda: compositor.compose(sources, labels), iterations),
        "xstack_ms": best_ms(xstack_graph(sources, layout, width, height), iterations),
        "xstack_bilinear_ms": best_ms(xstack_graph(sources, layout, width, height, "bilinear"), iterations),
        "rgb_ms": best_ms(rgb_round_trip(sources, layout, width, height), iterations),
        "floor_ms": best_ms(copy_floor(sources, width, height), iterations),
    }
    result["ours_over_xstack"] = result["ours_ms"] / result["xstack_ms"]
    result["ours_over_xstack_bilinear"] = result["ours_ms"] / result["xstack_bilinear_ms"]
    result["ours_over_floor"] = result["ours_ms"] / result["floor_ms"]
    return result


# ------------------------------------------------------------------------------------------ program


def encoded_streams(count: int, size: tuple[int, int], frames: int) -> list[list[bytes]]:
    """`count` VP8 streams of a moving textured scene, as a browser would send them."""
    streams = []
    for seed in range(count):
        encoder = VideoEncoder("VP8", *size, fps=25, bitrate=800_000)
        base = textured(size[0] + 64, size[1], seed)
        planes = base.to_ndarray()
        packets = []
        for index in range(frames):
            shift = (index * 2) % 64
            y = planes[: size[1], shift : shift + size[0]]
            chroma = planes[size[1] :].reshape(2, size[1] // 2, (size[0] + 64) // 2)[
                :, :, shift // 2 : shift // 2 + size[0] // 2
            ]
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, chroma.reshape(-1, size[0])]), "yuv420p")
            data, _ = encoder.encode(frame)
            packets.append(data)
        streams.append(packets)
    return streams


def hall_streams(count: int, size: tuple[int, int], frames: int, bitrate: int = 1_500_000) -> list[list[bytes]]:
    """`count` VP8 streams of the simulated hall (camera_control.sim): each a slow pan and zoom across it,
    with people crossing and the clock ticking. Closer to what a room's sites send than the textures."""
    from camera_control.sim.scene import HallScene
    from camera_control.sim.state import CameraState

    scene = HallScene()
    start = time.time()
    streams = []
    for index in range(count):
        state = CameraState(figure_every=3.0, figure_duration=6.0, name=f"参会方 {index + 1}")
        state.continuous_move(0.03 * (index % 3 - 1), 0.0, 0.02 * (index % 2))
        encoder = VideoEncoder("VP8", *size, fps=25, bitrate=bitrate)
        streams.append(
            [encoder.encode(scene.render(state, *size, start + index * 0.7 + n / 25))[0] for n in range(frames)]
        )
    return streams


def program_case(
    count: int,
    source_size: tuple[int, int],
    output: tuple[int, int],
    frames: int,
    text: TextRenderer,
    codec: str = "H264",
    streams: list[list[bytes]] | None = None,
) -> dict:
    streams = streams or encoded_streams(count, source_size, frames)
    decoders = []
    for _ in range(count):
        decoder = av.CodecContext.create("vp8", "r")
        decoder.thread_count = 1
        decoders.append(decoder)
    layout = {1: "speaker", 4: "2x2", 9: "3x3", 16: "4x4"}[count]
    compositor = Compositor(layout, *output, text=text)
    encoder = VideoEncoder(codec, *output, fps=25, bitrate=2_000_000)
    labels = [f"参会方 {i + 1}" for i in range(count)]
    latest: list[av.VideoFrame | None] = [None] * count
    spent = {"decode": 0.0, "compose": 0.0, "encode": 0.0}
    encoded: list[bytes] = []
    shown: dict[int, np.ndarray] = {}  # frame index -> the composed luma, every fifth frame
    wall_start = time.perf_counter()
    for index in range(frames):
        started = time.process_time()
        for source, (decoder, packets) in enumerate(zip(decoders, streams, strict=True)):
            for picture in decoder.decode(av.Packet(packets[index])):
                latest[source] = picture
        decoded = time.process_time()
        picture = compositor.compose(latest, labels)
        composed = time.process_time()
        data, _ = encoder.encode(picture)
        encoded_at = time.process_time()
        spent["decode"] += decoded - started
        spent["compose"] += composed - decoded
        spent["encode"] += encoded_at - composed
        encoded.append(data)
        if index % 5 == 0:
            shown[index] = np.array(yuv_views(picture)[0])
        del picture
    wall = time.perf_counter() - wall_start
    seconds_of_program = frames / 25
    viewer = av.CodecContext.create({"H264": "h264", "VP8": "vp8"}[codec], "r")
    psnr = []
    for index, data in enumerate(encoded):
        for picture in viewer.decode(av.Packet(data)):
            if index in shown:
                error = np.mean((np.array(yuv_views(picture)[0], dtype=np.float64) - shown[index]) ** 2)
                psnr.append(10 * np.log10(255**2 / max(error, 1e-9)))
    name = {"H264": "H.264", "VP8": "VP8"}[codec]
    return {
        "case": f"{count} x {source_size[0]}x{source_size[1]} VP8 -> {output[0]}x{output[1]} {layout} {name} at 25 fps",
        "codec": codec,
        "cores": sum(spent.values()) / seconds_of_program,
        "decode_cores": spent["decode"] / seconds_of_program,
        "compose_cores": spent["compose"] / seconds_of_program,
        "encode_cores": spent["encode"] / seconds_of_program,
        "psnr_db": float(np.mean(psnr)),
        "kbps": sum(len(data) for data in encoded) * 8 / seconds_of_program / 1000,
        "wall_ms_per_frame": wall / frames * 1e3,
    }


# ------------------------------------------------------------------------------------------ main


def program_rows(frames: int, text: TextRenderer) -> list[dict]:
    """The default program size and the two harder ones from the textures, then 720p sites of the
    simulated hall; each in H.264 and in VP8."""
    small = encoded_streams(9, (640, 360), frames)
    large = encoded_streams(9, (1280, 720), frames)
    hall = hall_streams(9, (1280, 720), frames)
    rows = []
    for codec in ("H264", "VP8"):
        rows.append(program_case(9, (640, 360), (1280, 720), frames, text, codec, small))
        rows.append(program_case(9, (1280, 720), (1280, 720), frames, text, codec, large))
        rows.append(program_case(9, (640, 360), (1920, 1080), frames, text, codec, small))
    for codec in ("H264", "VP8"):
        row = program_case(9, (1280, 720), (1280, 720), frames, text, codec, hall)
        rows.append({**row, "case": row["case"].replace("VP8 ->", "VP8 (hall) ->", 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=40, help="compositions per timing run")
    parser.add_argument("--program-frames", type=int, default=250, help="frames of the whole-program run")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    text = TextRenderer()

    from _audio_bench import run_mixer_bench
    from _motion_bench import run_motion_bench

    results = {
        "compose": [
            compose_case(9, (1280, 720), "3x3", args.iterations, text),
            compose_case(16, (640, 360), "4x4", args.iterations, text),
        ],
        "mixer": run_mixer_bench(),
        "motion": run_motion_bench(),
        "program": program_rows(args.program_frames, text),
    }
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    print("Compositing, ms per output frame (one thread)")
    print(
        f"{'case':<40} {'ours':>7} {'+labels':>8} {'xstack':>8} {'xs-bilin':>8} {'RGB':>8} {'floor':>7}"
        f" {'ours/xstack':>12} {'ours/xs-bilin':>13} {'ours/floor':>11}"
    )
    for row in results["compose"]:
        print(
            f"{row['case']:<40} {row['ours_ms']:7.2f} {row['ours_labelled_ms']:8.2f} {row['xstack_ms']:8.2f}"
            f" {row['xstack_bilinear_ms']:8.2f} {row['rgb_ms']:8.2f} {row['floor_ms']:7.2f}"
            f" {row['ours_over_xstack']:12.2f} {row['ours_over_xstack_bilinear']:13.2f} {row['ours_over_floor']:11.2f}"
        )
    print("\nAudio mixer, us per 20 ms tick")
    for key, value in results["mixer"].items():
        print(f"  {key:<24} {value:8.1f}")
    print("\nMotion")
    for key, value in results["motion"].items():
        print(f"  {key:<40} {value if isinstance(value, str) else round(value, 3)}")
    print("\nWhole program (decode + compose + encode), fraction of a core")
    for row in results["program"]:
        print(
            f"  {row['case']:<58} {row['cores']:.3f}  (decode {row['decode_cores']:.3f}, compose"
            f" {row['compose_cores']:.3f}, encode {row['encode_cores']:.3f}; {row['psnr_db']:.2f} dB at"
            f" {row['kbps']:.0f} kbit/s; {row['wall_ms_per_frame']:.1f} ms/frame)"
        )


if __name__ == "__main__":
    main()
