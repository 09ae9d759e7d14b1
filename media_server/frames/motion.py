"""Motion in camera pictures: where something moves, as boxes and a score.

Per frame, on a small analysis picture (100 rows):
1. downscale the luma: nearest samples on a grid twice as fine, then an area average; half the noise
   of a plain nearest resize for a twelfth of the cost of a full area resize (0.04 against 0.5 ms at
   1080p);
2. normalise contrast: map the frame's median and quartiles onto the background's, both measured on
   the pixels that did not move, so a light switched off, a dimmer or an exposure change moves nothing;
3. compare with the running background; the threshold rises with the measured sensor noise;
4. dilate, find contours, keep those above a minimum area inside the zones and outside the masks,
   and merge the boxes that touch;
5. learn the background: slowly where something moves, at once where a change has held still for
   stationary_frames (the hall a figure uncovered, a bag put down).

A change the normalisation cannot take out is examined before it counts as motion. A smooth
brightness field (an IR illuminator's hot spot, one bank of lights) that explains it is subtracted.
A quarter of the picture changed, or more than a figure's share (4 %) that a brightness field or a
camera shift (phase correlation, checked by lining the background up) explains, is a global change:
the detector recalibrates, reports no motion while it rebuilds the background from the new picture,
and resumes once the picture has held still for two frames.

Frigate's ImprovedMotionDetector (frigate/motion/improved_motion.py) does steps 1 and 3 to 5 alike.
It stretches contrast with a 50-frame mean of percentiles, so a lighting step shows for seconds; it
recalibrates only above 80 % of the picture changed, and reports boxes while it does; a camera shift
leaves it reporting edges until its alpha 0.01 background has caught up. bench/_motion_bench.py
compares the two on the clips of tests/motion_clips.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from media_server.frames.planes import plane_view

if TYPE_CHECKING:
    import av

Polygon = Sequence[tuple[float, float]]

NORMALISED_MEDIAN = 128.0
NORMALISED_IQR = 64.0  # the interquartile range every frame is scaled to
NOISE_EMA = 0.1  # weight of each frame's noise estimate
MAD_TO_SIGMA = 1 / 0.6745  # median of |N(0, s)| is 0.6745 s
MIN_SHIFT = 0.25  # analysis pixels; a still camera measures below 0.1
MIN_SHIFT_RESPONSE = 0.05  # phase correlation peak below this: no clear shift
ILLUMINATION_TILES = (8, 6)  # columns, rows of the grid the brightness field is measured on
MIN_STILL_IN_TILE = 0.25  # a tile with less of its area still gets no brightness estimate
SHIFT_EXPLAINS = 0.5  # a camera shift explains a change when lining up leaves at most half of it
FIELD_EXPLAINS = 0.25  # a brightness field explains a change when it takes away a quarter of it ...
FIELD_MAY_ADD = 0.1  # ... and adds no more than a tenth of what it takes away
CHANGE_GROWTH = 1.25  # a brightness field is looked for when the changed fraction grows by this factor ...
MIN_CHANGE = 0.001  # ... and this much
NOISE_EVERY = 4  # frames between noise measurements once the detector runs
QUARTILES = (0.25, 0.5, 0.75)
_LEVELS = np.arange(256, dtype=np.float32)
_DILATION_KERNEL = np.ones((3, 3), np.uint8)
_ONE = np.array([1.0])  # cv2.add's scalar, as the typed bindings want it
_PLANAR_LUMA_FORMATS = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray", "gray8"}
)


@dataclass(frozen=True)
class MotionBox:
    """A region in motion, in the input picture's pixels."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class MotionResult:
    boxes: tuple[MotionBox, ...]
    score: float  # fraction (0..1) of the unmasked picture in motion
    calibrating: bool = False  # True while the background is rebuilt after a global change: no motion reported


@dataclass(frozen=True)
class MotionSettings:
    """How motion is told apart; the defaults are tuned on tests/motion_clips.py (bench/_motion_bench.py)."""

    frame_height: int = 100  # analysis picture height; the width follows the aspect ratio
    sampling: int = 2  # each analysis pixel averages sampling x sampling input samples
    threshold: int = 16  # least normalised luma change that is motion (the picture's quartiles are 64 apart)
    noise_factor: float = 5.0  # the threshold is at least this many noise standard deviations ...
    max_threshold: int = 48  # ... but never more than this
    min_area: float = 0.0005  # smallest motion region, as a fraction of the picture (about 32x32 at 1080p)
    dilation: int = 1  # 3x3 dilations that join the pieces of one moving body
    alpha: float = 0.02  # background learning rate where nothing moves
    motion_alpha: float = 0.002  # learning rate where something keeps moving
    stationary_frames: int = 10  # a change that holds still this long joins the background (about 1 s at 10 fps)
    normalise_contrast: bool = True  # map each frame's median and quartiles onto the background's
    compensate_illumination: bool = True  # take out a smooth brightness field (IR hot spot, one bank of lights)
    max_gain: float = 4.0  # most contrast normalisation may amplify a flat, dark picture (and its noise)
    shift_check: float = 0.04  # changed fraction of the picture above which a camera shift is looked for
    global_change: float = 0.25  # changed fraction of the picture that means a global change: recalibrate
    settle_frames: int = 2  # quiet frames that end a recalibration
    max_calibration_frames: int = 30  # a recalibration ends after this many frames even if the picture keeps changing

    def __post_init__(self) -> None:
        checks = {
            "frame_height must be at least 16": self.frame_height >= 16,
            "sampling must be 1 to 8": 1 <= self.sampling <= 8,
            "threshold must be 1 to 255": 1 <= self.threshold <= 255,
            "max_threshold must be threshold to 255": self.threshold <= self.max_threshold <= 255,
            "noise_factor must not be negative": self.noise_factor >= 0,
            "min_area must be 0 to 1": 0 <= self.min_area <= 1,
            "dilation must not be negative": self.dilation >= 0,
            "stationary_frames must be 1 to 255": 1 <= self.stationary_frames <= 255,
            "alpha and motion_alpha must be 0 to 1": 0 <= self.motion_alpha <= 1 and 0 < self.alpha <= 1,
            "max_gain must be at least 1": self.max_gain >= 1,
            "shift_check must be 0 to global_change": 0 < self.shift_check <= self.global_change,
            "global_change must be 0 to 1": 0 < self.global_change <= 1,
            "settle_frames and max_calibration_frames must be positive": (
                self.settle_frames >= 1 and self.max_calibration_frames >= 1
            ),
        }
        for message, ok in checks.items():
            if not ok:
                raise ValueError(f"MotionSettings: {message}")


class MotionDetector:
    """Motion in one camera's pictures. Not thread-safe: one detector per camera, fed in order."""

    def __init__(
        self,
        width: int,
        height: int,
        settings: MotionSettings | None = None,
        *,
        zones: Sequence[Polygon] = (),
        masks: Sequence[Polygon] = (),
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"picture size must be positive, got {width}x{height}")
        self.width = width
        self.height = height
        self.settings = settings or MotionSettings()
        small_height = min(self.settings.frame_height, height)
        small_width = max(1, min(width, round(width * small_height / height)))
        self._small_size = (small_width, small_height)
        self._scale = (width / small_width, height / small_height)
        sampling = min(self.settings.sampling, width // small_width, height // small_height)
        self._sampled: NDArray[np.uint8] | None = None
        if sampling > 1:
            self._sampled = np.empty((small_height * sampling, small_width * sampling), np.uint8)
        shape = (small_height, small_width)
        self._small = np.empty(shape, np.uint8)
        self._current = np.empty(shape, np.uint8)
        self._current_float = np.empty(shape, np.float32)
        # the brightness field's tiles cover the picture but for a remainder of rows and columns
        self._tiled = (
            small_height // ILLUMINATION_TILES[1] * ILLUMINATION_TILES[1],
            small_width // ILLUMINATION_TILES[0] * ILLUMINATION_TILES[0],
        )
        self._background = np.zeros(shape, np.float32)
        self._background_bytes = np.zeros(shape, np.uint8)
        self._delta = np.empty(shape, np.uint8)
        self._changed = np.zeros(shape, np.uint8)
        self._motion = np.zeros(shape, np.uint8)
        self._still = np.empty(shape, np.uint8)  # watched and not moving in the last frame
        self._not_changed = np.empty(shape, np.uint8)
        self._previous = np.zeros(shape, np.uint8)  # the last frame, normalised
        self._steady = np.empty(shape, np.uint8)
        self._stationary = np.zeros(shape, np.uint8)  # frames each moving pixel has held still
        # illumination compensation works on a candidate frame; the buffers swap when it is taken
        self._candidate = np.empty(shape, np.uint8)
        self._candidate_delta = np.empty(shape, np.uint8)
        self._candidate_changed = np.empty(shape, np.uint8)
        self._difference = np.empty(shape, np.float32)
        self._field = np.empty(shape, np.float32)
        self._merge_canvas = np.empty((small_height + 1, small_width + 1), np.uint8)  # room for the extra pixel
        self._active = _active_area(shape, self._scale, zones, masks)
        self._active_pixels = cv2.countNonZero(self._active)
        if self._active_pixels == 0:
            raise ValueError("the zones and masks leave no part of the picture to watch")
        self._min_area = self.settings.min_area * small_width * small_height
        self._window: NDArray[np.float32] | None = None
        self._noise = 0.0  # standard deviation of the luma against the background, in input levels
        self._noise_measurements = 0
        self._frames = 0
        self._last_change = 0.0  # changed fraction of the last frame, after any brightness field
        self._gain = 1.0  # this frame's contrast normalisation: normalised levels per input level
        self._calibrating = True
        self._has_background = False
        self._quiet_frames = 0
        self._calibration_frames = 0
        self._averaged_frames = 0

    @property
    def calibrating(self) -> bool:
        return self._calibrating

    def recalibrate(self) -> None:
        """Forget the background: for the PTZ code after it has moved the camera."""
        self._calibrating = True
        self._has_background = False
        self._calibration_frames = 0
        self._quiet_frames = 0

    def detect_frame(self, frame: av.VideoFrame) -> MotionResult:
        """detect() on a decoded frame's luma, read in place for YUV and grey formats."""
        return self.detect(luma_plane(frame))

    def detect(self, luma: NDArray[np.uint8]) -> MotionResult:
        """Motion in this picture against the background of the earlier ones.

        luma: the height x width Y plane, uint8; rows may be strided (a view into a padded plane).
        """
        if luma.dtype != np.uint8 or luma.shape != (self.height, self.width):
            raise ValueError(f"expected a {self.height}x{self.width} uint8 luma plane, got {luma.shape} {luma.dtype}")
        self._downscale(luma)
        cv2.bitwise_not(self._motion, dst=self._still)
        cv2.bitwise_and(self._still, self._active, dst=self._still)
        self._normalise()
        if not self._has_background:
            self._reset_background()
            return self._calibration_step(changed_fraction=0.0)
        threshold = self._threshold()
        changed_fraction = self._compare(self._current, threshold, self._delta, self._changed)
        if self._calibrating:
            return self._calibration_step(changed_fraction)
        if self._global_change(changed_fraction, threshold):
            self.recalibrate()
            self._reset_background()
            return self._calibration_step(changed_fraction=0.0)
        self._frames += 1
        if self._frames % NOISE_EVERY == 0:
            self._measure_noise()
        result = self._find_motion()
        self._learn(threshold)
        np.copyto(self._previous, self._current)
        return result

    def _downscale(self, luma: NDArray[np.uint8]) -> None:
        if self._sampled is None:
            cv2.resize(luma, self._small_size, dst=self._small, interpolation=cv2.INTER_AREA)
            return
        sampled_size = (self._sampled.shape[1], self._sampled.shape[0])
        cv2.resize(luma, sampled_size, dst=self._sampled, interpolation=cv2.INTER_NEAREST)
        cv2.resize(self._sampled, self._small_size, dst=self._small, interpolation=cv2.INTER_AREA)

    def _normalise(self) -> None:
        """Map the frame's luma onto the background's scale: its quartiles onto the background's quartiles.

        Both are measured on the same pixels, those that did not move in the last frame, so a figure
        neither shifts the scale nor, by being left out, changes which part of the hall is measured.
        Before there is a background, the median goes to 128 and the quartiles 64 apart.
        """
        if not self.settings.normalise_contrast:
            np.copyto(self._current, self._small)
            return
        mask = self._still if cv2.countNonZero(self._still) > self._active_pixels // 2 else self._active
        histogram = cv2.calcHist([self._small], [0], mask, [256], [0, 256])
        if self._has_background:
            background = cv2.calcHist([self._background_bytes], [0], mask, [256], [0, 256])
            lower, median, upper = _quantiles(histogram, QUARTILES)
            target_lower, target_median, target_upper = _quantiles(background, QUARTILES)
            target_spread = max(1.0, target_upper - target_lower)
        else:
            lower, median, upper = _quantiles(histogram, QUARTILES)
            target_spread, target_median = NORMALISED_IQR, NORMALISED_MEDIAN
        self._gain = min(target_spread / max(upper - lower, 1e-3), self.settings.max_gain)
        levels = (_LEVELS - median) * self._gain + target_median + 0.5
        table = np.clip(levels, 0, 255).astype(np.uint8)
        cv2.LUT(self._small, table, dst=self._current)

    def _threshold(self) -> float:
        # the sensor's noise is steady in input levels: when the light drops, normalisation amplifies it at once
        noisy = self.settings.noise_factor * self._noise * self._gain
        return min(float(self.settings.max_threshold), max(float(self.settings.threshold), noisy))

    def _compare(
        self, current: NDArray[np.uint8], threshold: float, delta: NDArray[np.uint8], changed: NDArray[np.uint8]
    ) -> float:
        """Mark the pixels that differ from the background; return the changed fraction of the watched area."""
        cv2.absdiff(current, self._background_bytes, dst=delta)
        cv2.threshold(delta, threshold, 255, cv2.THRESH_BINARY, dst=changed)
        cv2.bitwise_and(changed, self._active, dst=changed)
        return cv2.countNonZero(changed) / self._active_pixels

    def _compensate_illumination(self, changed_fraction: float, threshold: float) -> float | None:
        """Take out a smooth brightness field if it explains most of the change; None if it does not.

        The field is each tile's mean difference to the background over the pixels that did not move in the
        last frame, interpolated. An IR illuminator's hot spot, one bank of lights or the first frame of an
        exposure change make such a field; a figure walking in does not, and its field is refused.
        """
        self._difference.fill(0)
        cv2.subtract(self._current, self._background, dst=self._difference, mask=self._still, dtype=cv2.CV_32F)
        rows, columns = self._tiled
        sums = cv2.resize(self._difference[:rows, :columns], ILLUMINATION_TILES, interpolation=cv2.INTER_AREA)
        counts = cv2.resize(self._still[:rows, :columns], ILLUMINATION_TILES, interpolation=cv2.INTER_AREA)
        counts = counts.astype(np.float32) / 255
        offsets = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > MIN_STILL_IN_TILE)
        cv2.resize(offsets, self._small_size, dst=self._field, interpolation=cv2.INTER_LINEAR)
        cv2.subtract(self._current, self._field, dst=self._candidate, dtype=cv2.CV_8U)
        compensated = self._compare(self._candidate, threshold, self._candidate_delta, self._candidate_changed)
        # a field that explains light takes changes away and adds none; one pulled by a figure adds its own
        cv2.bitwise_not(self._changed, dst=self._not_changed)
        cv2.bitwise_and(self._candidate_changed, self._not_changed, dst=self._not_changed)
        added = cv2.countNonZero(self._not_changed) / self._active_pixels
        removed = changed_fraction - (compensated - added)
        if removed < changed_fraction * FIELD_EXPLAINS or added > removed * FIELD_MAY_ADD:
            return None
        self._current, self._candidate = self._candidate, self._current
        self._delta, self._candidate_delta = self._candidate_delta, self._delta
        self._changed, self._candidate_changed = self._candidate_changed, self._changed
        return compensated

    def _global_change(self, changed_fraction: float, threshold: float) -> bool:
        """Whether the light or the camera changed, rather than something in the picture moving.

        A change of a quarter of the picture is global. A smaller change that is also wide enough to be
        more than one figure is global when a brightness field or a camera shift explains it; a small
        change that a brightness field explains (the first frame of an IR switch) is taken out here.
        """
        if changed_fraction >= self.settings.global_change:
            return True
        compensated = None
        # a brightness field is looked for when the change grows: a figure walking on changes as much as before
        grown = changed_fraction > self._last_change * CHANGE_GROWTH + MIN_CHANGE
        if grown and self.settings.compensate_illumination and min(self._tiled) > 0:
            compensated = self._compensate_illumination(changed_fraction, threshold)
        self._last_change = changed_fraction if compensated is None else compensated
        if changed_fraction < self.settings.shift_check:
            return False
        return compensated is not None or self._camera_moved(changed_fraction, threshold)

    def _measure_noise(self, background_frames: float = math.inf) -> None:
        """Update the noise from this frame's delta; a background of few frames adds its own noise to it."""
        histogram = cv2.calcHist([self._delta], [0], self._active, [256], [0, 256])
        (median,) = _quantiles(histogram, (0.5,))
        estimate = max(0.0, median) * MAD_TO_SIGMA / self._gain / math.sqrt(1 + 1 / background_frames)
        self._noise_measurements += 1
        self._noise += max(NOISE_EMA, 1 / self._noise_measurements) * (estimate - self._noise)

    def _find_motion(self) -> MotionResult:
        if self.settings.dilation:
            cv2.dilate(self._changed, _DILATION_KERNEL, dst=self._motion, iterations=self.settings.dilation)
        else:
            np.copyto(self._motion, self._changed)
        contours, _ = cv2.findContours(self._motion, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rectangles: list[tuple[int, int, int, int]] = []
        moving_area = 0.0
        for contour in contours:
            area = cv2.contourArea(contour)
            if area >= self._min_area and area > 0:
                moving_area += area
                x, y, w, h = cv2.boundingRect(contour)
                rectangles.append((x, y, w, h))
        if len(rectangles) > 1:
            rectangles = self._merge_touching(rectangles)
        scale_x, scale_y = self._scale
        boxes = []
        for x, y, w, h in rectangles:
            left, top = int(x * scale_x), int(y * scale_y)
            right = min(self.width, math.ceil((x + w) * scale_x))
            bottom = min(self.height, math.ceil((y + h) * scale_y))
            boxes.append(MotionBox(left, top, right - left, bottom - top))
        return MotionResult(tuple(boxes), min(1.0, moving_area / self._active_pixels))

    def _merge_touching(self, rectangles: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        """One box for rectangles that overlap or lie a pixel apart: a figure's legs and body, not two things."""
        canvas = self._merge_canvas
        canvas.fill(0)
        for x, y, w, h in rectangles:  # one pixel wider and taller, so that neighbours a pixel apart touch
            cv2.rectangle(canvas, (x, y), (x + w, y + h), 255, -1)
        merged, _ = cv2.findContours(canvas, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        result = []
        for contour in merged:
            x, y, w, h = cv2.boundingRect(contour)
            result.append((x, y, w - 1, h - 1))
        return result

    def _learn(self, threshold: float) -> None:
        """Learn the frame: at alpha where nothing moves, at motion_alpha where something moves, and at once
        where a change has held still for stationary_frames."""
        # _steady: moving pixels that hold still since the last frame; _stationary counts for how long
        cv2.absdiff(self._current, self._previous, dst=self._steady)
        cv2.threshold(self._steady, threshold, 255, cv2.THRESH_BINARY_INV, dst=self._steady)
        cv2.bitwise_and(self._steady, self._motion, dst=self._steady)
        cv2.add(self._stationary, _ONE, dst=self._stationary, mask=self._steady)
        cv2.bitwise_and(self._stationary, self._steady, dst=self._stationary)
        cv2.bitwise_not(self._motion, dst=self._not_changed)
        cv2.accumulateWeighted(self._current, self._background, self.settings.alpha, mask=self._not_changed)
        # from here _steady holds the pixels that have been still long enough to be taken as they are
        cv2.threshold(self._stationary, self.settings.stationary_frames - 1, 255, cv2.THRESH_BINARY, dst=self._steady)
        cv2.accumulateWeighted(self._current, self._background, 1.0, mask=self._steady)
        if self.settings.motion_alpha:  # and then those that keep moving
            cv2.bitwise_or(self._not_changed, self._steady, dst=self._steady)
            cv2.bitwise_not(self._steady, dst=self._steady)
            cv2.accumulateWeighted(self._current, self._background, self.settings.motion_alpha, mask=self._steady)
        cv2.convertScaleAbs(self._background, dst=self._background_bytes)

    def _reset_background(self) -> None:
        self._background[...] = self._current
        np.copyto(self._background_bytes, self._current)
        self._motion[...] = 0
        self._stationary[...] = 0
        self._last_change = 0.0
        self._has_background = True
        self._averaged_frames = 1

    def _calibration_step(self, changed_fraction: float) -> MotionResult:
        """Rebuild the background: average the frames while the picture holds still, start over when it changes."""
        self._calibration_frames += 1
        if self._calibration_frames > 1:
            self._measure_noise(background_frames=self._averaged_frames)
            if changed_fraction < self.settings.global_change / 2:
                self._quiet_frames += 1
                self._averaged_frames += 1
                # a running mean of the unchanged pixels; a figure walking by stays out of it
                cv2.bitwise_not(self._changed, dst=self._not_changed)
                cv2.accumulateWeighted(
                    self._current, self._background, 1 / self._averaged_frames, mask=self._not_changed
                )
                cv2.convertScaleAbs(self._background, dst=self._background_bytes)
            else:
                self._quiet_frames = 0
                self._reset_background()
        np.copyto(self._previous, self._current)
        settled = self._quiet_frames >= self.settings.settle_frames
        if settled or self._calibration_frames >= self.settings.max_calibration_frames:
            self._calibrating = False
        return MotionResult((), 0.0, calibrating=True)

    def _camera_moved(self, changed_fraction: float, threshold: float) -> bool:
        """Whether the picture as a whole has shifted against the background (phase correlation)."""
        height, width = self._current.shape
        if self._window is None:
            self._window = np.asarray(cv2.createHanningWindow((width, height), cv2.CV_32F), np.float32)
        self._current_float[...] = self._current
        (dx, dy), response = cv2.phaseCorrelate(self._background, self._current_float, self._window)
        if response < MIN_SHIFT_RESPONSE or math.hypot(dx, dy) < MIN_SHIFT:
            return False
        # a large figure can pull the correlation peak too: the shift must also line the background up
        shifted = cv2.warpAffine(
            self._background,
            np.array([[1, 0, dx], [0, 1, dy]], np.float32),
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        cv2.absdiff(self._current_float, shifted, dst=self._difference)
        _, still_changed = cv2.threshold(self._difference, threshold, 255, cv2.THRESH_BINARY)
        still_changed = still_changed.astype(np.uint8)
        cv2.bitwise_and(still_changed, self._active, dst=still_changed)
        return cv2.countNonZero(still_changed) / self._active_pixels <= changed_fraction * SHIFT_EXPLAINS


def luma_plane(frame: av.VideoFrame) -> NDArray[np.uint8]:
    """The frame's Y plane as a height x width view of its buffer (padded rows skipped), or a grey copy."""
    if frame.format.name in _PLANAR_LUMA_FORMATS:
        return plane_view(frame, 0)
    return np.asarray(frame.to_ndarray(format="gray"), np.uint8)


def _active_area(
    shape: tuple[int, int],
    scale: tuple[float, float],
    zones: Sequence[Polygon],
    masks: Sequence[Polygon],
) -> NDArray[np.uint8]:
    """The watched pixels of the analysis picture: inside a zone (all if none), outside every mask."""
    fraction_bits = 4  # fillPoly's sub-pixel precision: a 1080p corner lands within 1/16 analysis pixel
    divisor = np.array(scale, np.float64) / (1 << fraction_bits)

    def rasterise(polygons: Sequence[Polygon], kind: str) -> list[NDArray[np.int32]]:
        points = []
        for polygon in polygons:
            corners = np.asarray(polygon, np.float64)
            if corners.ndim != 2 or corners.shape[0] < 3 or corners.shape[1] != 2:
                raise ValueError(f"a {kind} must be at least three (x, y) points, got {polygon!r}")
            # pixel centres: the analysis pixel (0, 0) covers input pixels 0 .. scale
            points.append(np.round((corners + 0.5) / divisor - (1 << (fraction_bits - 1))).astype(np.int32))
        return points

    active = np.zeros(shape, np.uint8)
    if zones:
        cv2.fillPoly(active, rasterise(zones, "zone"), 255, shift=fraction_bits)
    else:
        active[...] = 255
    if masks:
        cv2.fillPoly(active, rasterise(masks, "mask"), 0, shift=fraction_bits)
    return active


def _quantiles(histogram: NDArray[np.number[Any]], fractions: Sequence[float]) -> list[float]:
    """Quantiles of a 256-bin histogram of uint8 values, interpolated within a bin."""
    counts = histogram.reshape(-1)
    cumulative = np.cumsum(counts, dtype=np.float64)
    total = float(cumulative[-1])
    if total <= 0:
        return [NORMALISED_MEDIAN for _ in fractions]
    targets = [fraction * total for fraction in fractions]
    values = []
    for index, target in zip(np.searchsorted(cumulative, targets).tolist(), targets, strict=True):
        index = min(index, 255)
        below = float(cumulative[index - 1]) if index else 0.0
        values.append(index - 0.5 + (target - below) / max(float(counts[index]), 1e-9))
    return values
