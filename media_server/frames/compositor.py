"""The compositor: many pictures into one yuv420p picture, laid out, labelled, on the planes.

Every source is resized by OpenCV straight into a view of the output frame's planes (no RGB, no
intermediate picture). Output frames come from a small pool and are reused once nobody holds them any
more, so the background is painted only when a frame is new or the layout changed; each compose writes
the tiles, their letterbox bars, and the labels.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from media_server.frames.layouts import Rect, fit, layout_name, tile_rects
from media_server.frames.planes import Plane, new_frame, plane_view, yuv_views
from media_server.frames.text import Label, LabelStyle, TextRenderer, blend

YUV = tuple[int, int, int]

BACKGROUND: YUV = (24, 132, 126)  # a dark slate, limited range
PLACEHOLDER: YUV = (48, 134, 122)  # a little lighter, so an empty tile reads as a tile
RECORDING = LabelStyle(size=0, box=(190, 20, 20, 220), dot=(255, 255, 255, 255))
RECORDING_TEXT = "录像中 REC"


@dataclass
class _Slot:
    frame: av.VideoFrame
    planes: tuple[Plane, Plane, Plane]
    baseline_refs: int = 0
    painted_generation: int = -1
    overlay_rects: list[Rect] = field(default_factory=list)  # where overlays were blended last time


@dataclass
class Overlays:
    """What sits over the whole picture: a caption (room, case number), the clock, the recording notice."""

    caption: str | None = None
    clock_zone: ZoneInfo | None = None
    recording: bool = False
    clock: Callable[[], float] = field(default=time.time)


class Compositor:
    """Composes frames into one picture of a layout (see `layouts.LAYOUTS`)."""

    def __init__(
        self,
        layout: str,
        width: int,
        height: int,
        *,
        text: TextRenderer | None = None,
        gap: int = 0,
        pool_size: int = 3,
    ) -> None:
        new_frame(width, height)  # checks the size
        self.width, self.height = width, height
        self.gap = gap
        self.overlays = Overlays()
        self._text = text
        self._pool: list[_Slot] = []
        self._pool_size = pool_size
        self._generation = 0
        self._scaler = _Scaler()
        self.set_layout(layout)
        self._label_size = max(12, height // 30)

    @property
    def layout(self) -> str:
        return self._layout

    @property
    def tiles(self) -> list[Rect]:
        return list(self._rects)

    @property
    def text(self) -> TextRenderer:
        if self._text is None:
            self._text = TextRenderer()
        return self._text

    def set_layout(self, layout: str) -> None:
        self._layout = layout_name(layout)
        self._rects = tile_rects(self._layout, self.width, self.height, self.gap)
        self._generation += 1

    def compose(self, frames: Sequence[av.VideoFrame | None], labels: Sequence[str] | None = None) -> av.VideoFrame:
        """One picture: frames[i] in tile i (None: a placeholder with its label), labels[i] under it.

        Frames beyond the layout's tiles are left out. The returned frame is reused by a later call
        only once the caller has dropped every reference to it.
        """
        slot = self._take_slot()
        y, u, v = slot.planes
        if slot.painted_generation != self._generation:
            _fill((y, u, v), Rect(0, 0, self.width, self.height), BACKGROUND)
            slot.painted_generation = self._generation
        else:
            # Overlays may cover gaps between tiles, which no tile repaints: clear what they covered.
            for rect in slot.overlay_rects:
                _fill(slot.planes, rect, BACKGROUND)
        slot.overlay_rects = []
        for index, tile in enumerate(self._rects):
            source = frames[index] if index < len(frames) else None
            label = labels[index] if labels is not None and index < len(labels) else ""
            if source is None or source.width < 2 or source.height < 2:  # nothing to scale: show the name
                self._placeholder(slot.planes, tile, label)
            else:
                picture = self._draw(slot.planes, tile, source)
                if label:
                    self._label(slot.planes, picture, label)
        self._draw_overlays(slot)
        slot.frame.pts = None
        return slot.frame

    def _take_slot(self) -> _Slot:
        """A free output frame, the most recently used first: it is the one still in the CPU's caches.

        A frame is free once nobody but the pool holds it. If all are held (an encoder queue, a
        recorder), the pool grows to `pool_size`, and beyond that the oldest is left to its holders.
        """
        for slot in self._pool:
            if sys.getrefcount(slot.frame) <= slot.baseline_refs:
                self._pool.remove(slot)
                self._pool.insert(0, slot)
                return slot
        slot = self._new_slot()
        self._pool.insert(0, slot)
        del self._pool[self._pool_size :]
        return slot

    def _new_slot(self) -> _Slot:
        frame = new_frame(self.width, self.height)
        slot = _Slot(frame, (plane_view(frame, 0), plane_view(frame, 1), plane_view(frame, 2)))
        del frame  # the count below must see only the slot's own references
        slot.baseline_refs = sys.getrefcount(slot.frame)
        return slot

    def _draw(self, planes: tuple[Plane, Plane, Plane], tile: Rect, source: av.VideoFrame) -> Rect:
        sy, su, sv = yuv_views(source)
        # An odd-sized source loses its last row or column; chroma covers whole 2x2 cells.
        source_height, source_width = sy.shape[0] & ~1, sy.shape[1] & ~1
        picture = fit(source_width, source_height, tile)
        _fill_bars(planes, tile, picture)
        y, u, v = planes
        self._scaler.resize(sy[:source_height, :source_width], y[picture.y : picture.bottom, picture.x : picture.right])
        half = Rect(picture.x // 2, picture.y // 2, picture.width // 2, picture.height // 2)
        for source_plane, plane in ((su, u), (sv, v)):
            self._scaler.resize(
                source_plane[: source_height // 2, : source_width // 2],
                plane[half.y : half.bottom, half.x : half.right],
            )
        return picture

    def _placeholder(self, planes: tuple[Plane, Plane, Plane], tile: Rect, label: str) -> None:
        _fill(planes, tile, PLACEHOLDER)
        if label:
            size = max(12, min(self.height // 18, tile.height // 6))
            rendered = self.text.label(label, LabelStyle(size=size, box=(0, 0, 0, 0)))
            _blend_within(
                rendered, planes, tile, (tile.width - rendered.width) // 2, (tile.height - rendered.height) // 2
            )

    def _label(self, planes: tuple[Plane, Plane, Plane], picture: Rect, text: str) -> None:
        size = max(12, min(self._label_size, picture.height // 8))
        rendered = self.text.label(text, LabelStyle(size=size))
        margin = max(2, size // 3)
        # Clipped to the picture, which the next compose repaints, so no trace is left behind.
        x = max(0, (picture.width - rendered.width) // 2)
        _blend_within(rendered, planes, picture, x, picture.height - rendered.height - margin)

    def _draw_overlays(self, slot: _Slot) -> None:
        overlays, planes = self.overlays, slot.planes
        size = max(12, self.height // 27)
        margin = size // 2
        top = margin
        if overlays.recording:
            notice = self.text.label(RECORDING_TEXT, LabelStyle(size=size, box=RECORDING.box, dot=RECORDING.dot))
            slot.overlay_rects.append(_blend_at(notice, planes, margin, top))
            top += notice.height + margin // 2
        if overlays.caption:
            caption = self.text.label(overlays.caption, LabelStyle(size=size))
            slot.overlay_rects.append(_blend_at(caption, planes, margin, top))
        if overlays.clock_zone is not None:
            now = datetime.fromtimestamp(overlays.clock(), overlays.clock_zone)
            clock = self.text.label(now.strftime("%Y-%m-%d %H:%M:%S"), LabelStyle(size=size))
            slot.overlay_rects.append(_blend_at(clock, planes, self.width - clock.width - margin, margin))


def _blend_at(label: Label, planes: tuple[Plane, Plane, Plane], x: int, top: int) -> Rect:
    """Blend a label at (x, top), and return the even rectangle it may have touched."""
    blend(label, *planes, x, top)
    x, top = max(0, x & ~1), max(0, top & ~1)
    height, width = planes[0].shape
    return Rect(x, top, min(label.width, width - x), min(label.height, height - top))


def _blend_within(label: Label, planes: tuple[Plane, Plane, Plane], area: Rect, x: int, top: int) -> None:
    """Blend a label at (x, top) relative to `area` (even), clipped to the area."""
    y, u, v = planes
    half = Rect(area.x // 2, area.y // 2, area.width // 2, area.height // 2)
    blend(
        label,
        y[area.y : area.bottom, area.x : area.right],
        u[half.y : half.bottom, half.x : half.right],
        v[half.y : half.bottom, half.x : half.right],
        x,
        top,
    )


class _Scaler:
    """Resizes a plane into a target view: exact halvings first, then one bilinear step.

    Halving by area averaging has a fast path in OpenCV (a 720p plane in 40 us) and leaves no aliasing;
    area averaging by a fraction (720p into 636x358) is ten times slower, and bilinear alone aliases
    when shrinking by more than two. The halved intermediates live in buffers kept between frames.
    """

    def __init__(self) -> None:
        self._scratch: dict[tuple[int, int, int], NDArray[np.uint8]] = {}

    def resize(self, source: NDArray[np.uint8], target: NDArray[np.uint8]) -> None:
        target_height, target_width = target.shape
        step = 0
        while source.shape[0] >= 2 * target_height and source.shape[1] >= 2 * target_width:
            height, width = source.shape[0] // 2, source.shape[1] // 2
            even = source[: 2 * height, : 2 * width]
            if (height, width) == (target_height, target_width):
                cv2.resize(even, (width, height), dst=target, interpolation=cv2.INTER_AREA)
                return
            scratch = self._buffer(step, height, width)
            cv2.resize(even, (width, height), dst=scratch, interpolation=cv2.INTER_AREA)
            source, step = scratch, step + 1
        if source.shape == target.shape:
            np.copyto(target, source)
        else:
            cv2.resize(source, (target_width, target_height), dst=target, interpolation=cv2.INTER_LINEAR)

    def _buffer(self, step: int, height: int, width: int) -> NDArray[np.uint8]:
        key = (step, height, width)
        buffer = self._scratch.get(key)
        if buffer is None:
            if len(self._scratch) > 64:  # sources changed size many times: start over
                self._scratch.clear()
            buffer = self._scratch[key] = np.empty((height, width), np.uint8)
        return buffer


def _fill(planes: tuple[Plane, Plane, Plane], rect: Rect, colour: YUV) -> None:
    y, u, v = planes
    y[rect.y : rect.bottom, rect.x : rect.right] = colour[0]
    u[rect.y // 2 : rect.bottom // 2, rect.x // 2 : rect.right // 2] = colour[1]
    v[rect.y // 2 : rect.bottom // 2, rect.x // 2 : rect.right // 2] = colour[2]


def _fill_bars(planes: tuple[Plane, Plane, Plane], tile: Rect, picture: Rect) -> None:
    """Paint the letterbox (top, bottom) or pillarbox (left, right) bars of a tile."""
    bars = (
        Rect(tile.x, tile.y, tile.width, picture.y - tile.y),
        Rect(tile.x, picture.bottom, tile.width, tile.bottom - picture.bottom),
        Rect(tile.x, picture.y, picture.x - tile.x, picture.height),
        Rect(picture.right, picture.y, tile.right - picture.right, picture.height),
    )
    for bar in bars:
        if bar.width > 0 and bar.height > 0:
            _fill(planes, bar, BACKGROUND)
