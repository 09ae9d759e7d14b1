"""Privacy masks for camera pictures: rectangles and polygons, painted black or pixelated.

Regions are rasterised once per picture size (luma and chroma resolution); each frame is then one
masked copy per plane over the regions' bounding box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from media_server.frames.planes import PLANAR_420, yuv_views

Point = tuple[int, int]
MaskStyle = Literal["black", "pixelate"]


@dataclass(frozen=True)
class MaskRegion:
    """A polygon in picture pixels; `MaskRegion.rectangle` builds the common case."""

    points: tuple[Point, ...]
    style: MaskStyle = "black"

    @classmethod
    def rectangle(cls, x: int, y: int, width: int, height: int, style: MaskStyle = "black") -> MaskRegion:
        # Polygons include their edges: the last pixel inside is x + width - 1.
        right, bottom = x + width - 1, y + height - 1
        return cls(((x, y), (right, y), (right, bottom), (x, bottom)), style)

    def __post_init__(self) -> None:
        if len(self.points) < 3:
            raise ValueError("a mask region needs at least three points")
        if self.style not in ("black", "pixelate"):
            raise ValueError(f"unknown mask style {self.style!r}")


@dataclass
class _Raster:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in luma pixels, even
    luma: NDArray[np.bool_]  # inside the box
    chroma: NDArray[np.bool_]
    style: MaskStyle


class PrivacyMask:
    """Masks applied in place to yuv420p frames of one size."""

    def __init__(self, width: int, height: int, regions: Sequence[MaskRegion], pixel_block: int = 16) -> None:
        if pixel_block < 2:
            raise ValueError("pixel_block must be at least 2")
        self.width, self.height = width, height
        self.pixel_block = pixel_block
        self._rasters = [r for r in (self._rasterise(region) for region in regions) if r is not None]

    def _rasterise(self, region: MaskRegion) -> _Raster | None:
        points = np.array(region.points, dtype=np.int32)
        full = np.zeros((self.height, self.width), np.uint8)
        cv2.fillPoly(full, [points], 255)
        ys, xs = np.nonzero(full)
        if len(xs) == 0:
            return None
        # Whole 2x2 chroma cells: a chroma sample is masked when any of its four luma pixels is.
        x0, y0 = int(xs.min()) & ~1, int(ys.min()) & ~1
        x1, y1 = min(self.width, (int(xs.max()) + 2) & ~1), min(self.height, (int(ys.max()) + 2) & ~1)
        luma = full[y0:y1, x0:x1] > 0
        chroma: NDArray[np.bool_] = np.asarray(
            luma.reshape(luma.shape[0] // 2, 2, luma.shape[1] // 2, 2).any(axis=(1, 3))
        )
        luma = np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1)
        return _Raster((x0, y0, x1, y1), luma, chroma, region.style)

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Paint the masks into the frame (converted to yuv420p first if needed) and return it."""
        if (frame.width, frame.height) != (self.width, self.height):
            raise ValueError(f"mask made for {self.width}x{self.height}, frame is {frame.width}x{frame.height}")
        if frame.format.name not in PLANAR_420:
            frame = frame.reformat(format="yuv420p")
        self.apply_planes(*yuv_views(frame))
        return frame

    def apply_planes(self, y: NDArray[np.uint8], u: NDArray[np.uint8], v: NDArray[np.uint8]) -> None:
        for raster in self._rasters:
            x0, y0, x1, y1 = raster.box
            regions = (
                y[y0:y1, x0:x1],
                u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2],
                v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2],
            )
            for plane, (region, where) in enumerate(
                zip(regions, (raster.luma, raster.chroma, raster.chroma), strict=True)
            ):
                if raster.style == "black":
                    np.copyto(region, 16 if plane == 0 else 128, where=where)
                else:
                    block = self.pixel_block if plane == 0 else self.pixel_block // 2
                    np.copyto(region, _pixelate(region, block), where=where)


def _pixelate(region: NDArray[np.uint8], block: int) -> NDArray[np.uint8]:
    height, width = region.shape
    small = cv2.resize(region, (max(1, -(-width // block)), max(1, -(-height // block))), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST), dtype=np.uint8)
