"""Labels: text rendered once with a CJK font, then alpha-blended on yuv420p planes every frame.

A label is rendered by FreeType (through Pillow) into RGBA once, converted to Y, U, V and alpha planes
(alpha also at chroma resolution) and kept in a small cache keyed by its text and style, so a name or a
case number costs one render for the life of the program, and the clock one render a second.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from media_server.errors import MediaError

logger = logging.getLogger(__name__)

RGBA = tuple[int, int, int, int]


class FontNotFound(MediaError):
    """No font that covers Chinese was found (install fonts-noto-cjk, or configure a font path)."""


@dataclass(frozen=True)
class LabelStyle:
    size: int
    text: RGBA = (255, 255, 255, 255)
    box: RGBA = (0, 0, 0, 150)
    padding: float = 0.3  # of the font size, around the text
    radius: float = 0.25  # corner radius, of the font size
    dot: RGBA | None = None  # a round dot before the text (the recording notice's red light)


@dataclass(frozen=True)
class Label:
    """A rendered label: planes to blend, with even width and height so chroma lines up."""

    y: NDArray[np.uint16]  # luma, premultiplied by alpha (0..256 scale)
    u: NDArray[np.uint16]  # chroma, premultiplied, at half resolution
    v: NDArray[np.uint16]
    inverse_alpha: NDArray[np.uint16]  # 256 - alpha
    inverse_alpha_half: NDArray[np.uint16]

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


def find_cjk_font() -> tuple[Path, int]:
    """A font file and face index that covers Simplified Chinese, found through fontconfig."""
    fc_match = shutil.which("fc-match")
    if fc_match:
        try:
            found = subprocess.run(
                [fc_match, "--format=%{file}\n%{index}", "sans-serif:lang=zh-cn"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.split("\n")
        except (OSError, subprocess.SubprocessError) as exc:
            logger.warning("fc-match failed: %s", exc)
        else:
            path = Path(found[0])
            index = int(found[1]) if len(found) > 1 and found[1].isdigit() else 0
            if path.is_file() and _covers_chinese(path, index):
                return path, index
    # Debian's fonts-noto-cjk, where fontconfig is missing or prefers a font without Chinese.
    for candidate in (
        Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    ):
        if candidate.is_file():
            return candidate, _simplified_chinese_face(candidate)
    raise FontNotFound("no font with Chinese glyphs found: install fonts-noto-cjk or set a font path")


def _simplified_chinese_face(path: Path) -> int:
    # Noto Sans CJK collections hold JP, KR, SC, TC, HK faces in that order.
    return 2 if "NotoSansCJK" in path.name else 0


def _covers_chinese(path: Path, index: int) -> bool:
    font = ImageFont.truetype(str(path), 16, index=index)
    missing = font.getmask("\U0010fffd").getbbox()
    return font.getmask("信").getbbox() != missing


class TextRenderer:
    """Renders labels once and keeps the most recent ones."""

    def __init__(self, font_path: Path | None = None, font_index: int | None = None, cache_size: int = 256) -> None:
        if font_path is None:
            font_path, found_index = find_cjk_font()
            font_index = found_index if font_index is None else font_index
        elif not font_path.is_file():
            raise FontNotFound(f"font file {font_path} does not exist")
        self.font_path = font_path
        self.font_index = font_index if font_index is not None else _simplified_chinese_face(font_path)
        self._fonts: dict[int, ImageFont.FreeTypeFont] = {}
        self._cache: OrderedDict[tuple[str, LabelStyle], Label] = OrderedDict()
        self._cache_size = cache_size
        self.renders = 0  # how many labels were rendered (not served from the cache)

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        font = self._fonts.get(size)
        if font is None:
            font = self._fonts[size] = ImageFont.truetype(str(self.font_path), size, index=self.font_index)
        return font

    def label(self, text: str, style: LabelStyle) -> Label:
        key = (text, style)
        label = self._cache.get(key)
        if label is not None:
            self._cache.move_to_end(key)
            return label
        label = _to_planes(self.render_rgba(text, style))
        self.renders += 1
        self._cache[key] = label
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return label

    def render_rgba(self, text: str, style: LabelStyle) -> NDArray[np.uint8]:
        font = self.font(style.size)
        left, top, right, bottom = (int(v) for v in (font.getbbox(text) if text else (0, 0, 0, style.size)))
        pad = max(2, int(style.size * style.padding))
        dot = int(style.size * 0.6) if style.dot else 0
        dot_space = dot + pad // 2 if dot else 0
        text_height = max(bottom - top, int(style.size * 0.8))
        width = _even(right - left + 2 * pad + dot_space)
        height = _even(text_height + 2 * pad)
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=int(style.size * style.radius), fill=style.box)
        if style.dot:
            top_of_dot = (height - dot) // 2
            draw.ellipse((pad, top_of_dot, pad + dot, top_of_dot + dot), fill=style.dot)
        if text:
            draw.text((pad + dot_space - left, pad - top), text, font=font, fill=style.text)
        return np.asarray(image)


def _even(value: int) -> int:
    return value + (value & 1)


def _to_planes(rgba: NDArray[np.uint8]) -> Label:
    """Limited-range BT.601 planes and 0..256 alpha, premultiplied, as the blend wants them."""
    rgb = rgba[:, :, :3].astype(np.float32)
    alpha = (rgba[:, :, 3].astype(np.uint32) * 256 + 127) // 255
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    alpha_half = alpha.reshape(alpha.shape[0] // 2, 2, alpha.shape[1] // 2, 2).mean(axis=(1, 3))
    u_half = (u * alpha).reshape(alpha_half.shape[0], 2, alpha_half.shape[1], 2).mean(axis=(1, 3))
    v_half = (v * alpha).reshape(alpha_half.shape[0], 2, alpha_half.shape[1], 2).mean(axis=(1, 3))
    return Label(
        y=np.rint(y * alpha).astype(np.uint16),
        u=np.rint(u_half).astype(np.uint16),
        v=np.rint(v_half).astype(np.uint16),
        inverse_alpha=(256 - alpha).astype(np.uint16),
        inverse_alpha_half=np.rint(256 - alpha_half).astype(np.uint16),
    )


def blend(label: Label, y: NDArray[np.uint8], u: NDArray[np.uint8], v: NDArray[np.uint8], x: int, top: int) -> None:
    """Blend a label onto the planes with its top left corner at (x, top), clipped to the picture.

    x and top are rounded down to even. Integer arithmetic: out = (plane * (256 - a) + label * a) >> 8.
    """
    x, top = x & ~1, top & ~1
    height, width = y.shape
    x0, y0 = max(x, 0), max(top, 0)
    x1, y1 = min(x + label.width, width), min(top + label.height, height)
    if x1 <= x0 or y1 <= y0:
        return
    lx, ly = x0 - x, y0 - top
    _blend_plane(
        y[y0:y1, x0:x1],
        label.y[ly : ly + y1 - y0, lx : lx + x1 - x0],
        label.inverse_alpha[ly : ly + y1 - y0, lx : lx + x1 - x0],
    )
    hx0, hy0, hx1, hy1, hlx, hly = x0 // 2, y0 // 2, x1 // 2, y1 // 2, lx // 2, ly // 2
    inverse_half = label.inverse_alpha_half[hly : hly + hy1 - hy0, hlx : hlx + hx1 - hx0]
    _blend_plane(u[hy0:hy1, hx0:hx1], label.u[hly : hly + hy1 - hy0, hlx : hlx + hx1 - hx0], inverse_half)
    _blend_plane(v[hy0:hy1, hx0:hx1], label.v[hly : hly + hy1 - hy0, hlx : hlx + hx1 - hx0], inverse_half)


def _blend_plane(region: NDArray[np.uint8], premultiplied: NDArray[np.uint16], inverse: NDArray[np.uint16]) -> None:
    # uint8 * uint16 -> uint16; a convex mix of two values <= 255 is at most 255 * 256, so nothing overflows.
    mixed = region * inverse
    mixed += premultiplied
    np.right_shift(mixed, 8, out=mixed)
    np.copyto(region, mixed, casting="unsafe")
