"""Motion benchmark: our MotionDetector against a Frigate-like detector, for cost and for quality.

Cost: milliseconds of detect() per 1080p frame, rendering not counted: the best of three runs over a
ring of pre-rendered frames with a figure walking, the same with nothing moving, and the mean over
the quality run. Quality: on every synthetic clip of tests/motion_clips.py at 1080p,
the fraction of frames with the figure in view (at least half of it) where a box overlaps it
("found"), and the number of frames with a box away from the figure ("false alarms"). Both detectors
see the same frames, after a warm-up of WARMUP_FRAMES frames cycled from the clip's first ones.

The Frigate-like detector re-implements the steps of Frigate's ImprovedMotionDetector
(frigate/motion/improved_motion.py) with its MotionConfig defaults: a nearest-neighbour resize to 100
rows, contrast stretched to the 4th..96th percentiles averaged over 50 frames, a 3x3 Gaussian blur
(cv2 here, scipy there: cv2's is the cheaper), a running average with alpha 0.01 (0.2 while
calibrating), threshold 30, one dilation, contours above 10 pixels, and recalibration while the
contours cover more than 80 % of the picture. No PTZ autotracking, no masks.

    /tmp/venv/bin/python bench/_motion_bench.py [frames]
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "tests")):  # run from a checkout without installing the package
    if path not in sys.path:
        sys.path.insert(0, path)

from motion_clips import CLIPS, ClipSpec, boxes_overlap, render_clip  # noqa: E402

from media_server.frames.motion import MotionDetector  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
WARMUP_CYCLE = 10  # the clip's first frames, fed this many at a time ...
WARMUP_FRAMES = 400  # ... until Frigate's 50-frame contrast history and its alpha 0.01 background are settled
DETECTORS = ("ours", "frigate_like")
TIMING_RING = 20  # distinct frames cycled through in the timing runs
TIMING_REPEATS = 3

DILATION_KERNEL = np.ones((3, 3), np.uint8)  # what cv2.dilate(..., None) uses
Box = tuple[int, int, int, int]  # x, y, width, height in input pixels


class FrigateLikeDetector:
    """The steps of Frigate's ImprovedMotionDetector, re-implemented, with its default settings."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        frame_height: int = 100,
        threshold: int = 30,
        contour_area: int = 10,
        frame_alpha: float = 0.01,
        lightning_threshold: float = 0.8,
        improve_contrast: bool = True,
        contrast_history: int = 50,
    ) -> None:
        self.height = height
        self.small_size = (frame_height * width // height, frame_height)
        self.resize_factor = height / frame_height
        self.threshold = threshold
        self.contour_area = contour_area
        self.frame_alpha = frame_alpha
        self.lightning_threshold = lightning_threshold
        self.improve_contrast = improve_contrast
        self.average = np.zeros((frame_height, self.small_size[0]), np.float32)
        self.contrast = np.zeros((contrast_history, 2), np.float64)
        self.contrast[:, 1] = 255  # the history starts as "full range" and fills in over its length
        self.contrast_index = 0
        self.calibrating = True
        self.motion_frames = 0

    def detect(self, luma: NDArray[np.uint8]) -> list[Box]:
        small = np.asarray(cv2.resize(luma, self.small_size, interpolation=cv2.INTER_NEAREST), np.uint8)
        if self.improve_contrast:
            small = self._stretch(small)
        blurred = cv2.GaussianBlur(small, (3, 3), 1)  # scipy.ndimage.gaussian_filter(sigma=1, radius=1) in Frigate
        delta = cv2.absdiff(blurred, cv2.convertScaleAbs(self.average))
        _, changed = cv2.threshold(delta, self.threshold, 255, cv2.THRESH_BINARY)
        changed = cv2.dilate(changed, DILATION_KERNEL, iterations=1)
        contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes: list[Box] = []
        total_area = 0.0
        for contour in contours:
            area = cv2.contourArea(contour)
            total_area += area
            if area > self.contour_area:
                x, y, w, h = cv2.boundingRect(contour)
                f = self.resize_factor
                boxes.append((int(x * f), int(y * f), int(w * f), int(h * f)))
        moving = total_area / (self.small_size[0] * self.small_size[1])
        if moving < 0.05 and len(boxes) <= 4:
            self.calibrating = False
        if moving > self.lightning_threshold:
            self.calibrating = True
        alpha = 0.2 if self.calibrating else self.frame_alpha
        if boxes:
            self.motion_frames += 1
            if self.motion_frames >= 10:  # a lasting difference is learnt too
                cv2.accumulateWeighted(blurred, self.average, alpha)
        else:
            self.motion_frames = 0
            cv2.accumulateWeighted(blurred, self.average, alpha)
        return boxes  # boxes come back while calibrating, as in Frigate

    def _stretch(self, small: NDArray[np.uint8]) -> NDArray[np.uint8]:
        low = np.percentile(small, 4).astype(np.uint8)
        high = np.percentile(small, 96).astype(np.uint8)
        if low >= high:  # a single colour: nothing to stretch
            return small
        self.contrast[self.contrast_index] = (low, high)
        self.contrast_index = (self.contrast_index + 1) % len(self.contrast)
        average_low, average_high = self.contrast.mean(axis=0)
        clipped = np.clip(small, average_low, average_high)
        stretched: NDArray[np.uint8] = ((clipped - average_low) / (average_high - average_low) * 255).astype(np.uint8)
        return stretched


def run_motion_bench(frames: int = 100) -> dict[str, float]:
    """ms per 1080p frame for both detectors (best of TIMING_REPEATS runs of `frames` frames), then quality.

    Keys: "<detector>_ms_per_1080p_frame" (a figure walking), "..._still" (nothing moving), "..._all_clips"
    (every clip, timed during the quality run); "<clip>.<detector>.found" (0..1, clips with a figure) and
    "<clip>.<detector>.false_alarms" (frames), detector being "ours" or "frigate_like".
    """
    results: dict[str, float] = {}
    walk = list(render_clip(CLIPS["walk"], WIDTH, HEIGHT))
    rings = {
        "": [f.luma for f in walk if f.figure_visible == 1][:TIMING_RING],
        "_still": [f.luma for f in walk[:TIMING_RING]],
    }
    for suffix, ring in rings.items():
        for detector in DETECTORS:
            results[f"{detector}_ms_per_1080p_frame{suffix}"] = _time_detector(detector, ring, max(1, frames))
    totals = dict.fromkeys(DETECTORS, 0.0)
    counted = 0
    for name, spec in CLIPS.items():
        scores: dict[str, float] = {}
        clip_elapsed = _score_clip(spec, scores)
        for key, value in scores.items():
            results[f"{name}.{key}"] = value
        for detector in DETECTORS:
            totals[detector] += clip_elapsed[detector]
        counted += spec.frames - WARMUP_CYCLE
    for detector in DETECTORS:
        results[f"{detector}_ms_per_1080p_frame_all_clips"] = totals[detector] * 1e3 / counted
    return results


def _new_detector(detector: str) -> Callable[[NDArray[np.uint8]], Iterable[Box]]:
    if detector == "ours":
        ours = MotionDetector(WIDTH, HEIGHT)
        return lambda luma: [(b.x, b.y, b.width, b.height) for b in ours.detect(luma).boxes]
    return FrigateLikeDetector(WIDTH, HEIGHT).detect


def _time_detector(detector: str, ring: list[NDArray[np.uint8]], frames: int) -> float:
    """Milliseconds per detect(), the best mean of TIMING_REPEATS runs over the frames of the ring."""
    detect = _new_detector(detector)
    for luma in ring * 2:
        detect(luma)
    best = math.inf
    for _ in range(TIMING_REPEATS):
        started = time.perf_counter()
        for index in range(frames):
            detect(ring[index % len(ring)])
        best = min(best, (time.perf_counter() - started) / frames)
    return best * 1e3


def _score_clip(spec: ClipSpec, scores: dict[str, float]) -> dict[str, float]:
    """Run both detectors over the clip; fill scores; return each detector's seconds in detect()."""
    detect = {detector: _new_detector(detector) for detector in DETECTORS}
    elapsed = dict.fromkeys(DETECTORS, 0.0)
    found = dict.fromkeys(DETECTORS, 0)
    false_alarms = dict.fromkeys(DETECTORS, 0)
    overlap = dict.fromkeys(DETECTORS, 0.0)
    in_view = 0
    frames = render_clip(spec, WIDTH, HEIGHT)
    warmup = [frame.luma for frame in itertools.islice(frames, WARMUP_CYCLE)]
    for index in range(WARMUP_FRAMES):
        for detector in DETECTORS:
            detect[detector](warmup[index % WARMUP_CYCLE])
    for frame in frames:
        figure = frame.figure_box
        should_find = figure is not None and frame.figure_visible >= 0.5
        in_view += should_find
        for detector in DETECTORS:
            started = time.perf_counter()
            boxes = list(detect[detector](frame.luma))
            elapsed[detector] += time.perf_counter() - started
            on_figure = [box for box in boxes if figure is not None and boxes_overlap(box, figure)]
            if should_find and on_figure and figure is not None:
                found[detector] += 1
                overlap[detector] += _iou(_enclosing(on_figure), figure)
            false_alarms[detector] += len(on_figure) < len(boxes)
    for detector in DETECTORS:
        if in_view:
            scores[f"{detector}.found"] = found[detector] / in_view
            scores[f"{detector}.iou"] = overlap[detector] / max(1, found[detector])
        scores[f"{detector}.false_alarms"] = float(false_alarms[detector])
    return elapsed


def _enclosing(boxes: list[Box]) -> Box:
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return left, top, right - left, bottom - top


def _iou(a: Box, b: Box) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    shared = max(0, width) * max(0, height)
    return shared / (a[2] * a[3] + b[2] * b[3] - shared)


def _print_table(results: dict[str, float]) -> None:
    print(f"motion, {WIDTH}x{HEIGHT}: ms per frame in detect()")
    for detector in DETECTORS:
        walk = results[f"{detector}_ms_per_1080p_frame"]
        still = results[f"{detector}_ms_per_1080p_frame_still"]
        everything = results[f"{detector}_ms_per_1080p_frame_all_clips"]
        print(f"  {detector:<13} {walk:6.3f} (a figure walking) {still:6.3f} (still) {everything:6.3f} (all clips)")
    print(f"quality from frame {WARMUP_CYCLE} of each clip, after a warm-up. found: share of frames with the figure")
    print("in view where a box covers it; iou: of the boxes on the figure with its true box; false: frames")
    print("with a box away from the figure")
    print(f"  {'':<17}{'ours':^20}{'frigate-like':^20}")
    print(f"  {'clip':<17}" + f"{'found':>7}{'iou':>6}{'false':>7}" * 2)
    for name in CLIPS:
        row = f"  {name:<17}"
        for detector in DETECTORS:
            found = results.get(f"{name}.{detector}.found")
            iou = results.get(f"{name}.{detector}.iou")
            row += f"{'-' if found is None else f'{found:.2f}':>7}{'-' if iou is None else f'{iou:.2f}':>6}"
            row += f"{results[f'{name}.{detector}.false_alarms']:>7.0f}"
        print(row)


if __name__ == "__main__":
    _print_table(run_motion_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
