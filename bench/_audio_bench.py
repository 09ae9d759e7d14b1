"""Audio mixer benchmark: one 20 ms tick of 16 participants, ours against a naive loop and a memory copy.

    cd /work/main && /tmp/venv/bin/python bench/_audio_bench.py [--sources 16] [--iterations 2000]

`bench/frames.py` calls `run_mixer_bench()`. Every number is microseconds per 20 ms tick (960 stereo
s16 samples per source), the best of five runs; nothing is asserted. The rows:
- mix_us: `AudioMixer.mix` (validate, stack into int32, sum, clip to int16);
- loop_us: the naive baseline: a Python loop of `np.add` of each int16 source into an int32 sum, then
  `np.clip` and `astype`;
- copy_floor_us: one `np.copyto` of all the sources' bytes: no mixer moves less memory;
- mix_minus_us: one mix-minus output after the mix (`last_mix_without`: subtract one row, clip);
- mix_minus_full_us: `mix_minus(chunks, exclude)` on its own, the mix included;
- levels_us: every source's level in dBov (`levels()` after a mix);
- mix_frames_us: `mix_frames` from av frames to an av frame (to_ndarray, mix, from_ndarray).
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from collections.abc import Callable
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, ROOT)

import av  # noqa: E402
import numpy as np  # noqa: E402

from media_server.frames.audio import AudioMixer  # noqa: E402

SAMPLES, CHANNELS = 960, 2
REPEATS = 5


def _best_us(work: Callable[[], object], iterations: int) -> float:
    return min(timeit.repeat(work, number=iterations, repeat=REPEATS)) / iterations * 1e6


def run_mixer_bench(sources: int = 16, iterations: int = 2000) -> dict[str, float]:
    """Microseconds per 20 ms tick of `sources` stereo participants, for each way of mixing."""
    rng = np.random.default_rng(0)
    chunks = {
        f"p{i}": rng.integers(-32768, 32768, size=(1, SAMPLES * CHANNELS), dtype=np.int32).astype(np.int16)
        for i in range(sources)
    }
    mixer = AudioMixer(channels=CHANNELS, frame_samples=SAMPLES)
    mixer.set_gain("p1", 0.5)  # one participant turned down, as an operator would

    wide = np.zeros(SAMPLES * CHANNELS, dtype=np.int32)

    def naive_loop() -> object:
        wide.fill(0)
        for chunk in chunks.values():
            np.add(wide, chunk.reshape(-1), out=wide)
        return np.clip(wide, -32768, 32767).astype(np.int16)

    everything = np.concatenate(list(chunks.values()))
    floor_target = np.empty_like(everything)

    frames: dict[str, av.AudioFrame | None] = {}
    for source_id, chunk in chunks.items():
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, 0, Fraction(1, 48000)
        frames[source_id] = frame

    def mix_and_levels() -> object:
        mixer.mix(chunks)
        return mixer.levels()

    mixer.mix(chunks)
    mix_us = _best_us(lambda: mixer.mix(chunks), iterations)
    return {
        "mix_us": mix_us,
        "loop_us": _best_us(naive_loop, iterations),
        "copy_floor_us": _best_us(lambda: np.copyto(floor_target, everything), iterations),
        "mix_minus_us": _best_us(lambda: mixer.last_mix_without("p3"), iterations),
        "mix_minus_full_us": _best_us(lambda: mixer.mix_minus(chunks, "p3"), iterations),
        "levels_us": _best_us(mix_and_levels, iterations) - mix_us,
        "mix_frames_us": _best_us(lambda: mixer.mix_frames(frames, pts=0), iterations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    results = run_mixer_bench(args.sources, args.iterations)
    print(f"audio mixer, {args.sources} stereo sources, 20 ms (960 samples) per tick")
    print(f"{'what':<20}{'us/tick':>10}{'% of 20 ms':>12}")
    for name, us in results.items():
        print(f"{name.removesuffix('_us'):<20}{us:>10.2f}{us / 20_000 * 100:>11.3f}%")


if __name__ == "__main__":
    main()
