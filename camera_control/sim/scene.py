"""The simulated camera's picture: a reception hall drawn once as a panorama, viewed through the PTZ window.

Every frame crops the view window out of the panorama's yuv420p planes and resizes each plane with
OpenCV (never through RGB), then draws three small things on top: the figure crossing the hall (in
panorama coordinates, so it moves with the view), the camera's clock at the top left as a camera's OSD
does, and the host capture time as a machine-readable stamp along the bottom edge.

The clock stamp: the bottom 1/20 of the picture is a band of 32 equal blocks across the full width,
block k (k = 0 leftmost) carrying bit 31 - k of `int(capture_time * 1000) % 2**32` (most significant
first), white (Y 235) for 1 and black (Y 16) for 0, chroma neutral. At 640x360 a block is 20x18 pixels,
enough to survive H.264 at a few hundred kbit/s; the reader samples the middle of each block relative to
the picture's size, so a scaled copy reads the same.
"""

from __future__ import annotations

import datetime
import math
import threading
import time
import zoneinfo
from fractions import Fraction

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from camera_control.sim.state import PANORAMA_ASPECT, CameraState, ViewWindow
from media_server.frames import FontNotFound, LabelStyle, TextRenderer, yuv_views
from media_server.frames.text import blend

Plane = NDArray[np.uint8]
Mask = NDArray[np.bool_]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the panorama's normalised coordinates
BGR = tuple[int, int, int]

STAMP_BITS = 32
STAMP_MODULUS = 2**STAMP_BITS
STAMP_BAND = 1 / 20  # of the picture's height
# Where the simulator draws changing text (the OSD clock at the top left, the stamp band at the bottom), as
# normalised polygons: motion detection masks them, as one masks a real camera's OSD.
OSD_MASKS = (
    ((0.0, 0.0), (0.5, 0.0), (0.5, 0.1), (0.0, 0.1)),
    ((0.0, 1 - STAMP_BAND * 1.5), (1.0, 1 - STAMP_BAND * 1.5), (1.0, 1.0), (0.0, 1.0)),
)
CAMERA_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
TIME_BASE = Fraction(1, 90000)

FIGURE_HEIGHT = 0.30  # of the panorama's height: head to feet, centred on the figure's position
FIGURE_STEPS_PER_SECOND = 1.8
SHIRT: BGR = (30, 30, 255)  # pure red: the only place in the picture with V above ~200
DESKS = 8
_HALL_SEED = 20240501


def _yuv(colour: BGR) -> tuple[int, int, int]:
    """Limited-range BT.601, the same conversion media_server's labels use."""
    b, g, r = colour
    return (
        round(16 + 0.257 * r + 0.504 * g + 0.098 * b),
        round(128 - 0.148 * r - 0.291 * g + 0.439 * b),
        round(128 + 0.439 * r - 0.368 * g - 0.071 * b),
    )


def _even(value: float) -> int:
    return round(value / 2) * 2


def _halve(planes: tuple[Plane, Plane, Plane]) -> tuple[Plane, Plane, Plane]:
    height, width = planes[0].shape[0] // 4 * 2, planes[0].shape[1] // 4 * 2
    y, u, v = (
        np.asarray(cv2.resize(plane, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        for plane, size in zip(
            planes, ((width, height), (width // 2, height // 2), (width // 2, height // 2)), strict=True
        )
    )
    return y, u, v


# ---------------------------------------------------------------------------------------------- stamp


def stamp_clock(y: Plane, u: Plane, v: Plane, stamp: int) -> None:
    """Write `stamp` (32 bits) as the band of blocks along the bottom edge."""
    height, width = y.shape
    band = max(2, _even(height * STAMP_BAND))
    bits = (stamp >> (STAMP_BITS - 1 - np.arange(STAMP_BITS))) & 1
    block_of_column = np.arange(width) * STAMP_BITS // width
    row = np.where(bits[block_of_column] == 1, 235, 16).astype(np.uint8)
    y[height - band :, :] = row
    u[(height - band) // 2 :, :] = 128
    v[(height - band) // 2 :, :] = 128


def read_clock_stamp(y_plane: Plane) -> int:
    """Read the stamp from a decoded luma plane of any size (the picture scaled, not cropped)."""
    height, width = y_plane.shape
    centre_y = height * (1 - STAMP_BAND / 2)
    half_h = max(1, int(height * STAMP_BAND / 4))
    half_w = max(1, int(width / STAMP_BITS / 4))
    stamp = 0
    for k in range(STAMP_BITS):
        centre_x = (k + 0.5) * width / STAMP_BITS
        top, left = int(centre_y) - half_h, int(centre_x) - half_w
        cell = y_plane[top : top + 2 * half_h, left : left + 2 * half_w]
        stamp = (stamp << 1) | int(cell.mean() > 128)
    return stamp


def stamp_time(stamp: int, near: float) -> float:
    """The host time (seconds) a stamp was taken at, given a time within ~24 days of it."""
    near_ms = int(near * 1000)
    offset = (near_ms - stamp) % STAMP_MODULUS
    if offset > STAMP_MODULUS // 2:
        offset -= STAMP_MODULUS
    return (near_ms - offset) / 1000


# ---------------------------------------------------------------------------------------------- panorama


class _Canvas:
    """A BGR image addressed in the panorama's normalised coordinates."""

    def __init__(self, image: NDArray[np.uint8]) -> None:
        self.image = image
        self.height, self.width = image.shape[:2]

    def px(self, x: float, y: float) -> tuple[int, int]:
        return round(x * self.width), round(y * self.height)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: BGR, thickness: int = -1) -> None:
        cv2.rectangle(self.image, self.px(x0, y0), self.px(x1, y1), colour, thickness)

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: BGR, thickness: int) -> None:
        cv2.line(self.image, self.px(x0, y0), self.px(x1, y1), colour, thickness)

    def text(self, text: str, x: float, y: float, size: float, colour: BGR, thickness: float) -> None:
        """ASCII text whose cap height is `size` (normalised), centred at (x, y)."""
        scale = size * self.height / 22  # Hershey duplex capitals are ~22 px tall at scale 1
        weight = max(1, round(thickness * self.height))
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, weight)
        cx, cy = self.px(x, y)
        cv2.putText(
            self.image, text, (cx - w // 2, cy + h // 2), cv2.FONT_HERSHEY_DUPLEX, scale, colour, weight, cv2.LINE_AA
        )

    def paste(self, rgba: NDArray[np.uint8], x: float, y: float, height: float) -> None:
        """Alpha-composite an RGBA picture scaled to `height` (normalised), centred at (x, y)."""
        target_h = max(2, round(height * self.height))
        target_w = max(2, round(rgba.shape[1] * target_h / rgba.shape[0]))
        scaled = cv2.resize(rgba, (target_w, target_h), interpolation=cv2.INTER_AREA)
        cx, cy = self.px(x, y)
        left, top = cx - target_w // 2, cy - target_h // 2
        region = self.image[top : top + target_h, left : left + target_w]
        if region.shape[:2] != scaled.shape[:2]:
            return
        alpha = scaled[:, :, 3:4].astype(np.float32) / 255
        bgr = scaled[:, :, 2::-1].astype(np.float32)
        region[:] = (region * (1 - alpha) + bgr * alpha).astype(np.uint8)


def draw_panorama(height: int, text: TextRenderer | None = None) -> NDArray[np.uint8]:
    """The whole hall as a BGR picture `height` pixels tall: ceiling, windows, numbered desks, floor."""
    width = _even(height * PANORAMA_ASPECT)
    canvas = _Canvas(np.zeros((height, width, 3), np.uint8))
    rng = np.random.default_rng(_HALL_SEED)
    _draw_ceiling(canvas)
    _draw_wall(canvas, rng)
    _draw_banner(canvas, text)
    _draw_desks(canvas, rng, text)
    _draw_floor(canvas, rng)
    _add_texture(canvas.image, rng)
    return canvas.image


def _draw_ceiling(canvas: _Canvas) -> None:
    canvas.rect(0, 0, 1, 0.10, (205, 205, 210))
    for i in range(49):
        canvas.line(i / 48, 0, i / 48, 0.10, (150, 150, 155), max(1, canvas.height // 540))
    for i in range(24):
        x = (i + 0.5) / 24
        canvas.rect(x - 0.012, 0.025, x + 0.012, 0.055, (250, 250, 250))
        canvas.rect(x - 0.012, 0.025, x + 0.012, 0.055, (120, 120, 120), max(1, canvas.height // 360))


def _draw_banner(canvas: _Canvas, text: TextRenderer | None) -> None:
    # the banner hanging in the middle: dark red (V ~185), so the figure's shirt stays the reddest thing
    canvas.rect(0.36, 0.06, 0.64, 0.125, (30, 30, 160))
    if text is not None:
        label = text.render_rgba("人民来访接待大厅", LabelStyle(size=96, text=(255, 220, 60, 255), box=(0, 0, 0, 0)))
        canvas.paste(label, 0.5, 0.0925, 0.055)
    else:
        canvas.text("RECEPTION HALL", 0.5, 0.0925, 0.03, (60, 220, 255), 0.004)


def _draw_wall(canvas: _Canvas, rng: np.random.Generator) -> None:
    canvas.rect(0, 0.10, 1, 0.50, (160, 195, 215))
    canvas.rect(0, 0.10, 1, 0.11, (110, 130, 150))
    windows = 7
    for i in range(windows):
        _draw_window(canvas, rng, (i + 0.5) / windows - 0.035, (i + 0.5) / windows + 0.035)
    for i in range(windows + 1):
        _draw_notice_board(canvas, rng, i / windows)


def _draw_window(canvas: _Canvas, rng: np.random.Generator, x0: float, x1: float) -> None:
    top, bottom = 0.14, 0.37
    (left, upper), (right, lower) = canvas.px(x0, top), canvas.px(x1, bottom)
    sky = np.linspace(0, 1, lower - upper)[:, None, None]
    canvas.image[upper:lower, left:right] = ((1 - sky) * (235, 195, 140) + sky * (250, 230, 205)).astype(np.uint8)
    x = x0
    while x < x1:  # the city across the street: blocks with lit windows
        w = rng.uniform(0.004, 0.012)
        roof = rng.uniform(0.22, 0.32)
        shade = int(rng.integers(90, 170))
        canvas.rect(x, roof, min(x + w, x1), bottom, (shade, shade, shade - 10))
        for wy in np.arange(roof + 0.01, bottom - 0.005, 0.012):
            for wx in np.arange(x + 0.002, min(x + w, x1) - 0.002, 0.004):
                if rng.random() < 0.5:
                    canvas.rect(wx, wy, wx + 0.0015, wy + 0.005, (120, 215, 235))
        x += w
    frame = max(2, canvas.height // 100)
    canvas.rect(x0, top, x1, bottom, (70, 70, 70), frame)
    canvas.line((x0 + x1) / 2, top, (x0 + x1) / 2, bottom, (70, 70, 70), frame)
    canvas.line(x0, 0.21, x1, 0.21, (70, 70, 70), frame // 2)


def _draw_notice_board(canvas: _Canvas, rng: np.random.Generator, x: float) -> None:
    x0, x1 = x - 0.022, x + 0.022
    if x0 < 0.005 or x1 > 0.995:
        return
    canvas.rect(x0, 0.16, x1, 0.33, (235, 240, 240))
    header = tuple(int(c) for c in rng.integers(40, 160, 3))
    canvas.rect(x0, 0.16, x1, 0.185, (header[0], header[1], header[2]))
    for line_y in np.arange(0.195, 0.32, 0.011):
        length = rng.uniform(0.3, 1.0) * (x1 - x0 - 0.006)
        canvas.line(x0 + 0.003, line_y, x0 + 0.003 + length, line_y, (60, 60, 60), max(1, canvas.height // 300))
    canvas.rect(x0, 0.16, x1, 0.33, (40, 40, 40), max(1, canvas.height // 400))


def _draw_desks(canvas: _Canvas, rng: np.random.Generator, text: TextRenderer | None) -> None:
    canvas.rect(0, 0.455, 1, 0.50, (215, 220, 200))  # glass partitions above the counter
    canvas.rect(0, 0.50, 1, 0.525, (120, 170, 210))  # counter top
    canvas.rect(0, 0.525, 1, 0.70, (50, 90, 140))  # counter front
    thin = max(1, canvas.height // 400)
    for k in range(DESKS):
        left, right = k / DESKS, (k + 1) / DESKS
        centre = (left + right) / 2
        canvas.line(left, 0.455, left, 0.70, (30, 50, 80), max(2, canvas.height // 120))
        for panel in range(1, 4):
            canvas.line(
                left + panel * (right - left) / 4, 0.54, left + panel * (right - left) / 4, 0.69, (35, 65, 105), thin
            )
        canvas.line(left, 0.60, right, 0.60, (35, 65, 105), thin)
        # the window's number plate: a blue sign with a big white number, the landmark tests look for
        canvas.rect(centre - 0.03, 0.385, centre + 0.03, 0.45, (150, 80, 20))
        canvas.rect(centre - 0.03, 0.385, centre + 0.03, 0.45, (240, 240, 240), max(2, canvas.height // 300))
        if text is not None:
            canvas.text(str(k + 1), centre - 0.016, 0.4175, 0.04, (255, 255, 255), 0.006)
            label = text.render_rgba("号窗口", LabelStyle(size=64, box=(0, 0, 0, 0)))
            canvas.paste(label, centre + 0.011, 0.4175, 0.03)
        else:
            canvas.text(str(k + 1), centre, 0.4175, 0.04, (255, 255, 255), 0.006)
        for monitor_x in (centre - 0.03, centre + 0.02):  # the clerks' monitors, backs to the hall
            canvas.rect(monitor_x, 0.465, monitor_x + 0.012, 0.50, (40, 40, 45))
        canvas.rect(centre - 0.012, 0.54, centre + 0.012, 0.56, (245, 245, 245))  # name plate
        shade = int(rng.integers(20, 80))
        canvas.line(centre - 0.009, 0.55, centre + rng.uniform(-0.005, 0.009), 0.55, (shade, shade, shade), thin)


def _draw_floor(canvas: _Canvas, rng: np.random.Generator) -> None:
    horizon, rows, columns = 0.70, 10, 64
    bounds = [horizon + (1 - horizon) * (r / rows) ** 1.5 for r in range(rows + 1)]
    for r in range(rows):
        for c in range(columns):
            tile = []
            for y in (bounds[r], bounds[r + 1]):
                spread = 1 + 1.5 * (y - horizon) / (1 - horizon)  # lines fan out from the hall's centre
                tile.append([0.5 + (c / columns - 0.5) * spread, y])
                tile.append([0.5 + ((c + 1) / columns - 0.5) * spread, y])
            shade = int(rng.integers(150, 205)) if (r + c) % 2 else int(rng.integers(110, 160))
            corners = np.array([tile[0], tile[1], tile[3], tile[2]]) * (canvas.width, canvas.height)
            cv2.fillConvexPoly(canvas.image, np.round(corners).astype(np.int32), (shade, shade, shade - 8))
    for group_x in (0.08, 0.33, 0.58, 0.83):  # rows of waiting chairs
        for seat in range(6):
            x = group_x + seat * 0.016
            canvas.rect(x, 0.80, x + 0.013, 0.835, (150, 90, 30))
            canvas.rect(x, 0.835, x + 0.013, 0.86, (110, 60, 20))
            canvas.line(x + 0.002, 0.86, x + 0.002, 0.89, (60, 60, 60), max(1, canvas.height // 300))
    for plant_x in (0.02, 0.3, 0.555, 0.805, 0.98):
        cx, cy = canvas.px(plant_x, 0.74)
        cv2.circle(canvas.image, (cx, cy), canvas.height // 25, (40, 120, 40), -1)
        canvas.rect(plant_x - 0.006, 0.76, plant_x + 0.006, 0.80, (40, 60, 110))


def _add_texture(image: NDArray[np.uint8], rng: np.random.Generator) -> None:
    """Smooth random texture everywhere, so that even a bare wall shows how far the view moved."""
    height, width = image.shape[:2]
    texture = np.zeros((height, width), np.float32)
    for divisor, amplitude in ((32, 16.0), (8, 9.0)):
        coarse = rng.normal(0, amplitude, (height // divisor + 1, width // divisor + 1)).astype(np.float32)
        texture += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    shaded = image.astype(np.int16) + texture.astype(np.int16)[:, :, None]
    np.clip(shaded, 0, 255, out=shaded)
    image[:] = shaded


def to_limited_planes(bgr: NDArray[np.uint8]) -> tuple[Plane, Plane, Plane]:
    """BGR to limited-range yuv420p planes, once (OpenCV's I420 is full range; H.264 expects limited)."""
    height, width = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    chroma = i420[height:].reshape(2, height // 2, width // 2)
    y = cv2.convertScaleAbs(i420[:height], alpha=219 / 255, beta=16)
    u, v = (cv2.convertScaleAbs(plane, alpha=224 / 255, beta=128 * (1 - 224 / 255)) for plane in chroma)
    return np.asarray(y, dtype=np.uint8), np.asarray(u, dtype=np.uint8), np.asarray(v, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- per frame


class HallScene:
    """The hall, drawn once; `render` gives the camera's view of it at a moment. Safe to share across threads."""

    def __init__(self, panorama_height: int = 2160, text: TextRenderer | None = None, *, cjk: bool = True) -> None:
        if text is None and cjk:
            try:
                text = TextRenderer()
            except FontNotFound:
                text = None
        self._text = text
        self._overlay_lock = threading.Lock()  # the label and OSD caches are shared by every encoder thread
        planes = to_limited_planes(draw_panorama(_even(panorama_height), text))
        # Halved copies, so a small view is a cheap linear resize by less than 2 rather than a large INTER_AREA
        # (measured: 2880x1620 -> 640x360 costs 3 ms with INTER_AREA, 0.1 ms with INTER_LINEAR).
        self._levels = [planes]
        while self._levels[-1][0].shape[0] >= 720:
            self._levels.append(_halve(self._levels[-1]))
        self.panorama_height, self.panorama_width = planes[0].shape
        self._osd: dict[tuple[str, int], tuple[Mask, Mask, Mask]] = {}

    def render(self, state: CameraState, width: int, height: int, now: float) -> av.VideoFrame:
        """The camera's picture at host time `now`, yuv420p, pts = `now` in 1/90000 s."""
        frame = av.VideoFrame(width, height, "yuv420p")
        y, u, v = yuv_views(frame)
        window = self._crop(state.window(now), height, y, u, v)
        spot = state.figure(now)
        if spot is not None:
            self._draw_figure(spot, now, window, y, u, v)
        self._draw_clock(state.camera_time(now), y, u, v)
        self._draw_name(state.name, y, u, v)
        stamp_clock(y, u, v, int(now * 1000) % STAMP_MODULUS)
        frame.pts = round(now * 90000)
        frame.time_base = TIME_BASE
        return frame

    def _crop(self, window: ViewWindow, height: int, y: Plane, u: Plane, v: Plane) -> Box:
        """Resize the window's part of the panorama into the planes; returns the part cropped, normalised."""
        level = len(self._levels) - 1
        while level > 0 and window.height * self._levels[level][0].shape[0] < height:
            level -= 1
        pano_y, pano_u, pano_v = self._levels[level]
        full_h, full_w = pano_y.shape
        x0 = min(max(_even((window.cx - window.width / 2) * full_w), 0), full_w - 2)
        y0 = min(max(_even((window.cy - window.height / 2) * full_h), 0), full_h - 2)
        x1 = min(max(_even((window.cx + window.width / 2) * full_w), x0 + 2), full_w)
        y1 = min(max(_even((window.cy + window.height / 2) * full_h), y0 + 2), full_h)
        for source, target in (
            (pano_y[y0:y1, x0:x1], y),
            (pano_u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], u),
            (pano_v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], v),
        ):
            cv2.resize(source, (target.shape[1], target.shape[0]), dst=target, interpolation=cv2.INTER_LINEAR)
        return x0 / full_w, y0 / full_h, x1 / full_w, y1 / full_h

    def snapshot_jpeg(
        self, state: CameraState, width: int, height: int, now: float | None = None, quality: int = 85
    ) -> bytes:
        """A JPEG of the current view, as the camera's snapshot URI serves. CPU work: call it from a thread."""
        frame = self.render(state, width, height, time.time() if now is None else now)
        ok, jpeg = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode the snapshot")
        return jpeg.tobytes()

    # ------------------------------------------------------------------ overlays

    def _draw_figure(self, spot: tuple[float, float], now: float, window: Box, y: Plane, u: Plane, v: Plane) -> None:
        height, width = y.shape
        x0, y0, x1, y1 = window
        cx, cy = (spot[0] - x0) / (x1 - x0) * width, (spot[1] - y0) / (y1 - y0) * height
        size = FIGURE_HEIGHT * height / (y1 - y0)  # head to feet, in pixels
        if not (-size < cx < width + size and -size < cy < height + size):
            return
        swing = math.sin(2 * math.pi * FIGURE_STEPS_PER_SECOND / 2 * now) * 0.11 * size
        limb = max(2, round(size * 0.06))

        def at(dx: float, dy: float) -> tuple[float, float]:
            return cx + dx * size, cy + dy * size

        hip_l, hip_r, shoulder = at(-0.04, 0.06), at(0.04, 0.06), at(0, -0.30)
        parts: list[tuple[str, BGR, list[tuple[float, float]], float]] = [
            ("line", (70, 40, 30), [hip_l, (hip_l[0] + swing, cy + 0.5 * size)], limb),  # legs, dark trousers
            ("line", (70, 40, 30), [hip_r, (hip_r[0] - swing, cy + 0.5 * size)], limb),
            ("line", SHIRT, [shoulder, (shoulder[0] - swing * 0.8, cy + 0.02 * size)], limb * 0.8),  # the far arm
            ("poly", SHIRT, [at(-0.09, -0.33), at(0.09, -0.33), at(0.08, 0.08), at(-0.08, 0.08)], 0),
            ("line", (120, 160, 210), [shoulder, (shoulder[0] + swing * 0.8, cy + 0.02 * size)], limb * 0.8),
            ("circle", (140, 175, 225), [at(0, -0.42)], 0.075 * size),  # the head
        ]
        for kind, colour, points, extent in parts:
            for plane, value, scale in zip((y, u, v), _yuv(colour), (1.0, 0.5, 0.5), strict=True):
                pts = [(round(px * scale), round(py * scale)) for px, py in points]
                if kind == "line":
                    cv2.line(plane, pts[0], pts[1], value, max(1, round(extent * scale)))
                elif kind == "poly":
                    cv2.fillConvexPoly(plane, np.array(pts, np.int32), value)
                else:
                    cv2.circle(plane, pts[0], max(1, round(extent * scale)), value, -1)

    def _draw_clock(self, camera_time: float, y: Plane, u: Plane, v: Plane) -> None:
        local = datetime.datetime.fromtimestamp(camera_time, CAMERA_ZONE)
        text = local.strftime("%Y-%m-%d %a %H:%M:%S")
        height = y.shape[0]
        with self._overlay_lock:
            fill, outline, chroma = self._osd_masks(text, height)
        top = left = _even(height / 40)
        rows, cols = fill.shape
        y_region = y[top : top + rows, left : left + cols]
        y_region[outline] = 16
        y_region[fill] = 235
        for plane in (u, v):
            plane[top // 2 : top // 2 + chroma.shape[0], left // 2 : left // 2 + chroma.shape[1]][chroma] = 128

    def _osd_masks(self, text: str, height: int) -> tuple[Mask, Mask, Mask]:
        """White text with a black outline as masks, made once a second (the clock's text changes that often)."""
        key = (text, height)
        masks = self._osd.get(key)
        if masks is not None:
            return masks
        scale = max(0.45, height / 760)
        weight = max(1, round(height / 500))
        border = max(1, height // 720)
        (w, h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
        pad = 2 * border
        fill = np.zeros((_even(h + baseline + 2 * pad), _even(w + 2 * pad)), np.uint8)
        cv2.putText(fill, text, (pad, h + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, 1, weight, cv2.LINE_8)
        covered = cv2.dilate(fill, np.ones((2 * border + 1, 2 * border + 1), np.uint8))
        chroma = cv2.resize(covered, (fill.shape[1] // 2, fill.shape[0] // 2), interpolation=cv2.INTER_NEAREST)
        masks = (fill > 0, covered > fill, chroma > 0)
        if len(self._osd) > 8:
            self._osd.clear()
        self._osd[key] = masks
        return masks

    def _draw_name(self, name: str, y: Plane, u: Plane, v: Plane) -> None:
        """The camera's name at the bottom right, above the stamp, as Hikvision's OSD places it."""
        if self._text is None or not name:
            return
        height, width = y.shape
        with self._overlay_lock:
            label = self._text.label(name, LabelStyle(size=max(10, height // 30), box=(0, 0, 0, 90)))
        top = height - _even(height * STAMP_BAND) - label.height - _even(height / 60)
        blend(label, y, u, v, width - label.width - _even(height / 40), top)


_shared_scene: list[HallScene] = []
_shared_scene_lock = threading.Lock()


def shared_scene() -> HallScene:
    """The hall every part of one simulator shares (RTSP, snapshots), drawn on first use: about a second."""
    with _shared_scene_lock:
        if not _shared_scene:
            _shared_scene.append(HallScene())
        return _shared_scene[0]


def snapshot_jpeg(state: CameraState, width: int, height: int, now: float | None = None) -> bytes:
    """A JPEG of the camera's current view, for the ONVIF snapshot URI. Blocking: call it from a thread."""
    return shared_scene().snapshot_jpeg(state, width, height, now)
