"""numpy views of a yuv420p frame's planes, without copying.

PyAV pads each row to `line_size`; the views below drop the padding, so they are strided arrays that
OpenCV and numpy read and write in place.
"""

from __future__ import annotations

import av
import numpy as np
from numpy.typing import NDArray

Plane = NDArray[np.uint8]

# Formats whose three planes are laid out as yuv420p (yuvj420p is the full-range twin MJPEG cameras send).
PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})


def plane_view(frame: av.VideoFrame, index: int) -> Plane:
    plane = frame.planes[index]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)  # type: ignore[call-overload]
    return rows[:, : plane.width]


def yuv_views(frame: av.VideoFrame) -> tuple[Plane, Plane, Plane]:
    """Y, U and V views of a yuv420p frame (converted once if it is in another format)."""
    if frame.format.name not in PLANAR_420:
        frame = frame.reformat(format="yuv420p")
    return plane_view(frame, 0), plane_view(frame, 1), plane_view(frame, 2)


def new_frame(width: int, height: int) -> av.VideoFrame:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"a yuv420p picture needs a positive even size, not {width}x{height}")
    return av.VideoFrame(width, height, "yuv420p")


def frame_from_planes(y: Plane, u: Plane, v: Plane) -> av.VideoFrame:
    """A new yuv420p frame holding copies of three planes (for tests and tools; the compositor never copies)."""
    height, width = y.shape
    frame = new_frame(width, height)
    for index, source in enumerate((y, u, v)):
        np.copyto(plane_view(frame, index), source)
    return frame
