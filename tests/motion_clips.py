"""Synthetic camera clips with known answers, for the motion detector's tests and benchmark.

A textured reception hall (floor tiles, counter, chairs, posters, a window's light gradient) seen by a
camera with sensor noise. Each clip can add a walking person-sized figure, a lighting change (a step,
a slow ramp, the switch to infrared) and a camera move (a jump, a PTZ pan, a shake). Every frame says
where the figure really is, so a test can check a detector's boxes against the truth.

Sizes are fractions of the picture, so the same clip renders at 1080p, 720p or CIF. Rendering a 1080p
frame costs a few milliseconds: the hall is drawn once per clip and the noise comes from a small bank
of noise fields read at random offsets.

    for frame in render_clip(CLIPS["walk"], 1920, 1080):
        detector.detect(frame.luma)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

Lighting = Literal["none", "step", "ramp", "ir"]
CameraMove = Literal["still", "shift", "pan", "shake"]

FIGURE_HEIGHT = 0.40  # of the picture height: a person at mid-distance in the hall
FIGURE_WIDTH = 0.14  # of the picture height
FEET_AT = 0.88  # of the picture height
SHIFT = (0.025, 0.015)  # a jump of the picture (camera knocked, a preset recalled): of width, height
PAN = 0.12  # of the width, over PAN_FRAMES frames: a PTZ pan
PAN_FRAMES = 6
SHAKE = 0.006  # of the width: amplitude of a shaking camera, for SHAKE_FRAMES frames
SHAKE_FRAMES = 8
RAMP_FRAMES = 40  # a slow dimming takes this many frames
NOISE_FIELDS = 4


@dataclass(frozen=True)
class ClipSpec:
    """What happens in a clip, frame by frame."""

    name: str
    frames: int = 100
    figure_enters: int | None = None  # the frame in which the figure's first column appears; None: no figure
    walk_frames: int = 40  # frames the figure takes to cross the picture
    figure_tone: int = 60  # the figure's mean luma: darker (60) or brighter (200) than the hall
    figure_scale: float = 1.0  # 2.0: a person close to the camera, four times the area
    lighting: Lighting = "none"
    camera: CameraMove = "still"
    change_at: int = 40  # the frame in which the lighting change or camera move starts
    noise_sigma: float = 4.0  # sensor noise, luma levels (standard deviation)
    seed: int = 7


@dataclass(frozen=True)
class ClipFrame:
    index: int
    luma: NDArray[np.uint8]
    figure_box: tuple[int, int, int, int] | None  # x, y, width, height of the visible figure; None: not in view
    figure_visible: float  # fraction of the figure's body inside the picture (0..1)


CLIPS: dict[str, ClipSpec] = {
    spec.name: spec
    for spec in (
        ClipSpec("walk", figure_enters=30),
        ClipSpec("walk_bright", figure_enters=30, figure_tone=200),
        ClipSpec("walk_grey", figure_enters=30, figure_tone=115),  # clothes close to the hall's own greys
        ClipSpec("walk_night", figure_enters=30, noise_sigma=9.0),  # high sensor gain
        ClipSpec("walk_close", figure_enters=30, figure_scale=2.0),
        ClipSpec("noise", noise_sigma=6.0),
        ClipSpec("lighting_step", lighting="step"),
        ClipSpec("lighting_ramp", lighting="ramp"),
        ClipSpec("ir_switch", lighting="ir"),
        ClipSpec("shift", camera="shift"),
        ClipSpec("pan", camera="pan"),
        ClipSpec("shake", camera="shake"),
        ClipSpec("step_then_walk", lighting="step", figure_enters=55),
        ClipSpec("ir_then_walk", lighting="ir", figure_enters=55),
        ClipSpec("shift_then_walk", camera="shift", figure_enters=55),
        ClipSpec("pan_then_walk", camera="pan", figure_enters=55),
        ClipSpec("ir_during_walk", lighting="ir", figure_enters=25),  # someone is in the hall as the IR comes on
        ClipSpec("shift_during_walk", camera="shift", figure_enters=25),
    )
}


def render_clip(spec: ClipSpec, width: int, height: int) -> Iterator[ClipFrame]:
    """Render the clip's frames one by one (a 1080p clip held whole would be 200 MB)."""
    rng = np.random.default_rng(spec.seed)
    margin_x, margin_y = _camera_margin(spec.camera, width, height)
    hall = hall_picture(width + 2 * margin_x, height + 2 * margin_y, rng)
    pad = max(8, width // 16)
    noise_bank = [
        (rng.standard_normal((height + pad, width + pad), dtype=np.float32) * spec.noise_sigma).astype(np.int16)
        for _ in range(NOISE_FIELDS)
    ]
    hot_spot = _ir_hot_spot(width, height)
    figure_height = round(FIGURE_HEIGHT * spec.figure_scale * height)
    figure_width = max(3, round(FIGURE_WIDTH * spec.figure_scale * height))
    for index in range(spec.frames):
        view_x, view_y = _camera_offset(spec, index, width, height)
        top, left = margin_y + view_y, margin_x + view_x
        scene = hall[top : top + height, left : left + width].copy()
        figure_box: tuple[int, int, int, int] | None = None
        visible = 0.0
        if spec.figure_enters is not None and index >= spec.figure_enters:
            step = index - spec.figure_enters
            # the hall stays put when the camera moves, so the figure moves with the hall in the picture
            left = round(-figure_width + 1 + step * (width + figure_width) / spec.walk_frames) - view_x
            top = round(FEET_AT * height) - figure_height - view_y
            figure_box, visible = _paste_figure(scene, left, top, figure_width, figure_height, step, spec, rng)
        luma = _light(scene, spec, index, hot_spot)
        noise = noise_bank[int(rng.integers(NOISE_FIELDS))]
        dy, dx = (int(v) for v in rng.integers(pad, size=2))
        noisy = cv2.add(luma, noise[dy : dy + height, dx : dx + width], dtype=cv2.CV_8U)
        yield ClipFrame(index, np.asarray(noisy, np.uint8), figure_box, visible)


def hall_picture(width: int, height: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    """A reception hall: wall with posters and a window's light, a counter, chairs, a tiled floor."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    picture = 85 + 70 * xs / width - 20 * ys / height  # light from a window on the right
    floor_top = round(0.55 * height)
    tile = max(4, height // 12)
    checker = ((xs[floor_top:] // tile + ys[floor_top:] // (tile // 2)) % 2) * 24 - 12
    picture[floor_top:] += checker
    grout = (xs[floor_top:] % tile < max(1, tile // 16)) | (ys[floor_top:] % (tile // 2) < max(1, tile // 24))
    picture[floor_top:][grout] -= 25
    for _ in range(10):  # posters and notice boards on the wall
        w, h = (int(v) for v in rng.integers(height // 12, height // 5, size=2))
        x, y = int(rng.integers(0, max(1, width - w))), int(rng.integers(height // 20, max(2, floor_top - h)))
        picture[y : y + h, x : x + w] = float(rng.integers(40, 220))
        picture[y + h // 4 : y + h // 4 + max(1, h // 10), x + w // 8 : x + w - w // 8] = float(rng.integers(20, 240))
    counter_top = round(0.45 * height)
    picture[counter_top:floor_top, width // 3 : 2 * width // 3] = 70  # the reception counter
    picture[counter_top : counter_top + max(1, height // 60), width // 3 : 2 * width // 3] = 190
    chair = max(3, height // 18)
    for i in range(12):  # a row of waiting chairs
        x = round((0.05 + i * 0.075) * width)
        picture[floor_top + chair : floor_top + 2 * chair, x : x + chair] = 45 + 10 * (i % 3)
    texture = rng.normal(0, 6, (height, width)).astype(np.float32)
    picture += cv2.GaussianBlur(texture, (0, 0), max(0.8, height / 700))
    return np.clip(picture, 0, 255).astype(np.uint8)


def to_yuv420p(luma: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The frame as PyAV's VideoFrame.to_ndarray() gives a yuv420p frame: Y rows, then U and V, grey chroma."""
    height, width = luma.shape
    planar = np.full((height * 3 // 2, width), 128, np.uint8)
    planar[:height] = luma
    return planar


def boxes_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two x, y, width, height boxes share any pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def with_frames(spec: ClipSpec, frames: int) -> ClipSpec:
    return replace(spec, frames=frames)


def _camera_margin(camera: CameraMove, width: int, height: int) -> tuple[int, int]:
    if camera == "shift":
        return math.ceil(SHIFT[0] * width) + 1, math.ceil(SHIFT[1] * height) + 1
    if camera == "pan":
        return math.ceil(PAN * width) + 1, 1
    if camera == "shake":
        return math.ceil(SHAKE * width) + 1, math.ceil(SHAKE * width) + 1
    return 0, 0


def _camera_offset(spec: ClipSpec, index: int, width: int, height: int) -> tuple[int, int]:
    since = index - spec.change_at
    if since < 0 or spec.camera == "still":
        return 0, 0
    if spec.camera == "shift":
        return round(SHIFT[0] * width), -round(SHIFT[1] * height)
    if spec.camera == "pan":
        return round(PAN * width * min(1.0, (since + 1) / PAN_FRAMES)), 0
    if since >= SHAKE_FRAMES:
        return 0, 0
    amplitude = SHAKE * width
    return round(amplitude * math.sin(since * 2.1)), round(amplitude * math.cos(since * 1.7))


def _paste_figure(
    scene: NDArray[np.uint8],
    left: int,
    top: int,
    figure_width: int,
    figure_height: int,
    step: int,
    spec: ClipSpec,
    rng: np.random.Generator,
) -> tuple[tuple[int, int, int, int] | None, float]:
    shape = _figure_shape(figure_width, figure_height, step)
    body = float(np.count_nonzero(shape))
    height, width = scene.shape
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + figure_width), min(height, top + figure_height)
    if x1 <= x0 or y1 <= y0:
        return None, 0.0
    inside = shape[y0 - top : y1 - top, x0 - left : x1 - left]
    if not inside.any():
        return None, 0.0
    # clothes: a shaded tone with a little texture of their own
    shade = np.linspace(-12, 12, figure_height, dtype=np.float32)[y0 - top : y1 - top, None]
    texture = rng.normal(0, 5, inside.shape).astype(np.float32)
    tone = np.clip(spec.figure_tone + shade + texture, 0, 255).astype(np.uint8)
    region = scene[y0:y1, x0:x1]
    region[inside] = tone[inside]
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    box = (x0 + int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
    return box, float(np.count_nonzero(inside)) / body


def _figure_shape(figure_width: int, figure_height: int, step: int) -> NDArray[np.bool_]:
    """A person's silhouette: head, torso, and legs whose stride changes as they walk."""
    shape = np.zeros((figure_height, figure_width), np.uint8)
    w, h = figure_width, figure_height
    head = max(1, round(0.09 * h))
    cv2.ellipse(shape, (w // 2, head), (max(1, round(0.3 * w)), head), 0, 0, 360, 1, -1)
    hip = round(0.55 * h)
    cv2.rectangle(shape, (round(0.1 * w), 2 * head), (round(0.9 * w), hip), 1, -1)
    stride = round(0.35 * w * math.sin(step * 0.9))
    for foot in (w // 2 - stride, w // 2 + stride):
        leg = np.array(
            [
                [round(0.3 * w), hip],
                [round(0.7 * w), hip],
                [foot + round(0.12 * w), h - 1],
                [foot - round(0.12 * w), h - 1],
            ]
        )
        cv2.fillPoly(shape, [np.clip(leg, 0, [w - 1, h - 1]).astype(np.int32)], 1)
    return shape.astype(bool)


def _light(scene: NDArray[np.uint8], spec: ClipSpec, index: int, hot_spot: NDArray[np.float32]) -> NDArray[np.uint8]:
    since = index - spec.change_at
    if spec.lighting == "none" or since < 0:
        return scene
    levels = np.arange(256, dtype=np.float32)
    if spec.lighting == "step":  # half of the ceiling lights switched off
        lut = 0.62 * levels + 4
    elif spec.lighting == "ramp":  # dusk, or a dimmer turned slowly
        progress = min(1.0, (since + 1) / RAMP_FRAMES)
        lut = (1 - 0.45 * progress) * levels + 12 * progress
    else:  # the IR cut filter drops: grey picture, other gamma, the illuminator's bright spot in the middle
        settle = min(1.0, (since + 1) / 3)  # the exposure settles over three frames
        infrared = 255 * (levels / 255) ** 0.7 * 0.8 + 20
        lut = (1 - settle) * (levels * 1.3) + settle * infrared
        lit = cv2.LUT(scene, np.clip(lut, 0, 255).astype(np.uint8))
        spot = 1 + settle * (hot_spot - 1)
        return np.clip(lit * spot, 0, 255).astype(np.uint8)
    return np.asarray(cv2.LUT(scene, np.clip(lut, 0, 255).astype(np.uint8)), np.uint8)


def _ir_hot_spot(width: int, height: int) -> NDArray[np.float32]:
    ys, xs = np.ogrid[0:height, 0:width]
    distance = ((xs - width / 2) / width) ** 2 + ((ys - height / 2) / height) ** 2
    return (1.15 - 0.6 * distance).astype(np.float32)
