"""Program layouts: where each source's tile sits in the output picture.

A layout is a list of tiles in fractions of the output; `tile_rects` turns them into even pixel
rectangles for one output size (yuv420p needs even offsets and sizes so the chroma planes line up).
Tiles are listed in drawing order: the first is the main picture, later ones may overlap it (the
picture-in-picture inset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from media_server.errors import UnknownLayout

LayoutName = Literal["speaker", "side_by_side", "pip", "2x2", "3x3", "4x4", "1+5", "1+7"]

# What each layout is called in the API and on the pages ("1" is how a conference console says it).
LAYOUT_ALIASES: dict[str, LayoutName] = {"1": "speaker", "1x1": "speaker", "2": "side_by_side", "1+1": "pip"}


@dataclass(frozen=True)
class Rect:
    """A pixel rectangle; in yuv420p outputs every field is even."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


Fraction4 = tuple[float, float, float, float]


def _grid(columns: int, rows: int) -> list[Fraction4]:
    return [(c / columns, r / rows, 1 / columns, 1 / rows) for r in range(rows) for c in range(columns)]


def _big_and_small(cells: int) -> list[Fraction4]:
    """One big tile of (cells-1)^2 cells top left, the small ones down the right and along the bottom."""
    unit = 1 / cells
    big = cells - 1
    tiles: list[Fraction4] = [(0.0, 0.0, big * unit, big * unit)]
    tiles += [(big * unit, r * unit, unit, unit) for r in range(big)]
    tiles += [(c * unit, big * unit, unit, unit) for c in range(cells)]
    return tiles


LAYOUTS: dict[LayoutName, list[Fraction4]] = {
    "speaker": [(0.0, 0.0, 1.0, 1.0)],
    "side_by_side": [(0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 0.5, 1.0)],
    # The inset is a quarter of the width, bottom right, clear of the edge (and of the clock at the top).
    "pip": [(0.0, 0.0, 1.0, 1.0), (0.72, 0.68, 0.25, 0.25)],
    "2x2": _grid(2, 2),
    "3x3": _grid(3, 3),
    "4x4": _grid(4, 4),
    "1+5": _big_and_small(3),
    "1+7": _big_and_small(4),
}


def layout_name(name: str) -> LayoutName:
    """The canonical name of a layout, or UnknownLayout."""
    canonical = LAYOUT_ALIASES.get(name, name)
    if canonical not in LAYOUTS:
        raise UnknownLayout(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}")
    return canonical  # type: ignore[return-value]


def tile_count(name: str) -> int:
    return len(LAYOUTS[layout_name(name)])


def _even(value: float) -> int:
    return round(value / 2) * 2


def tile_rects(name: str, width: int, height: int, gap: int = 0) -> list[Rect]:
    """Even pixel rectangles of a layout's tiles in a width x height picture.

    Edges are rounded once, so neighbouring tiles meet exactly; `gap` pixels of background are left
    between neighbours (rounded to even).
    """
    half_gap = _even(gap) // 2
    rects = []
    for fx, fy, fw, fh in LAYOUTS[layout_name(name)]:
        left, top = _even(fx * width), _even(fy * height)
        right, bottom = _even((fx + fw) * width), _even((fy + fh) * height)
        if half_gap:
            left += half_gap if left > 0 else 0
            top += half_gap if top > 0 else 0
            right -= half_gap if right < width else 0
            bottom -= half_gap if bottom < height else 0
        rects.append(Rect(left, top, right - left, bottom - top))
    return rects


def fit(source_width: int, source_height: int, tile: Rect) -> Rect:
    """The largest even rectangle of the source's aspect ratio centred in `tile` (letterbox or pillarbox)."""
    scale = min(tile.width / source_width, tile.height / source_height)
    width = min(tile.width, max(2, _even(source_width * scale)))
    height = min(tile.height, max(2, _even(source_height * scale)))
    x = tile.x + ((tile.width - width) // 4) * 2
    y = tile.y + ((tile.height - height) // 4) * 2
    return Rect(x, y, width, height)
