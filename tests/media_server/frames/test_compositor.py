"""The compositor, labels and masks, checked pixel by pixel against known answers."""

from __future__ import annotations

import av
import numpy as np
import pytest
from media_tools import read_scaled_stamp, stamp

from media_server import UnknownLayout
from media_server.frames import (
    LAYOUTS,
    Compositor,
    LabelStyle,
    MaskRegion,
    PrivacyMask,
    TextRenderer,
    frame_from_planes,
    tile_count,
    tile_rects,
    yuv_views,
)
from media_server.frames.compositor import BACKGROUND, PLACEHOLDER
from media_server.frames.layouts import Rect, fit

# Sources of many shapes: 16:9 in several sizes, 4:3, portrait (a phone held upright), PAL 5:4.
SIZES = [(1280, 720), (640, 480), (720, 1280), (1920, 1080), (704, 576), (960, 540), (800, 600), (1024, 576)]


@pytest.fixture(scope="module")
def text() -> TextRenderer:
    return TextRenderer()


def source(width: int, height: int, counter: int, grey: int = 128) -> av.VideoFrame:
    y = np.full((height, width), grey, np.uint8)
    y[:, ::7] = grey - 40  # some texture, so a scaling bug shows
    stamp(y, counter)
    u = np.full((height // 2, width // 2), 100, np.uint8)
    v = np.full((height // 2, width // 2), 160, np.uint8)
    return frame_from_planes(y, u, v)


def picture_of(tile: Rect, width: int, height: int) -> Rect:
    return fit(width, height, tile)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("output", [(1920, 1080), (1280, 720)])
def test_each_tile_shows_its_own_source(layout: str, output: tuple[int, int], text: TextRenderer) -> None:
    width, height = output
    compositor = Compositor(layout, width, height, text=text)
    count = tile_count(layout)
    sizes = [SIZES[i % len(SIZES)] for i in range(count)]
    frames = [source(w, h, 1000 + i) for i, (w, h) in enumerate(sizes)]
    out = compositor.compose(frames)
    y, _, _ = yuv_views(out)
    for index, (tile, (w, h)) in enumerate(zip(tile_rects(layout, width, height), sizes, strict=True)):
        if layout == "pip" and index == 0:
            continue  # the inset covers the main picture's corner, not its stamp
        picture = picture_of(tile, w, h)
        scale = picture.width / w
        if 32 * scale < 6:
            continue  # a 4x4 tile of a 720p output leaves the stamp too small to read back reliably
        assert read_scaled_stamp(y, picture.x, picture.y, scale) == 1000 + index, f"tile {index} of {layout}"


def test_aspect_ratio_is_kept_with_bars_of_background(text: TextRenderer) -> None:
    compositor = Compositor("side_by_side", 1280, 720, text=text)
    portrait, wide = source(720, 1280, 1), source(1920, 800, 2)
    out = compositor.compose([portrait, wide])
    y, u, v = yuv_views(out)
    for tile, frame in zip(compositor.tiles, (portrait, wide), strict=True):
        region = y[tile.y : tile.bottom, tile.x : tile.right]
        content = np.argwhere(region != BACKGROUND[0])
        top, left = content.min(axis=0)
        bottom, right = content.max(axis=0) + 1
        assert abs((right - left) / (bottom - top) - frame.width / frame.height) < 0.02
        # The bars are exactly the background, in all three planes.
        if frame is portrait:
            assert (region[:, :left] == BACKGROUND[0]).all() and (region[:, right:] == BACKGROUND[0]).all()
            assert (u[tile.y // 2 : tile.bottom // 2, tile.x // 2 : (tile.x + left) // 2] == BACKGROUND[1]).all()
        else:
            assert (region[:top] == BACKGROUND[0]).all() and (region[bottom:] == BACKGROUND[0]).all()
            assert (v[(tile.y + bottom) // 2 : tile.bottom // 2, tile.x // 2 : tile.right // 2] == BACKGROUND[2]).all()


def test_a_missing_source_shows_a_placeholder_with_its_name(text: TextRenderer) -> None:
    compositor = Compositor("2x2", 1280, 720, text=text)
    out = compositor.compose([source(640, 360, 7), None, None, None], ["王局长", "县信访局", "", ""])
    y, u, _ = yuv_views(out)
    named, unnamed = compositor.tiles[1], compositor.tiles[2]
    # An unnamed placeholder is the placeholder colour all over.
    assert (y[unnamed.y : unnamed.bottom, unnamed.x : unnamed.right] == PLACEHOLDER[0]).all()
    assert (u[unnamed.y // 2 : unnamed.bottom // 2, unnamed.x // 2 : unnamed.right // 2] == PLACEHOLDER[1]).all()
    # A named one carries its name, bright, in the middle, and nothing near its edges.
    region = y[named.y : named.bottom, named.x : named.right]
    middle = region[named.height // 3 : 2 * named.height // 3, named.width // 4 : 3 * named.width // 4]
    assert (middle > 200).sum() > 200  # the strokes of 县信访局
    assert (region[:20] == PLACEHOLDER[0]).all() and (region[-20:] == PLACEHOLDER[0]).all()


def test_labels_sit_under_each_picture_and_are_chinese(text: TextRenderer) -> None:
    compositor = Compositor("2x2", 1280, 720, text=text)
    frames = [source(640, 360, i, grey=128) for i in range(4)]
    plain = yuv_views(compositor.compose(frames))[0].copy()
    labelled = yuv_views(compositor.compose(frames, ["张三", "", "李四", ""]))[0]
    for index, tile in enumerate(compositor.tiles):
        changed = np.argwhere(
            plain[tile.y : tile.bottom, tile.x : tile.right] != labelled[tile.y : tile.bottom, tile.x : tile.right]
        )
        if index in (1, 3):
            assert len(changed) == 0, "a tile without a label is untouched"
            continue
        top, left = changed.min(axis=0)
        bottom, right = changed.max(axis=0)
        assert bottom > tile.height * 0.8 and top > tile.height * 0.6, "the label is at the bottom of the picture"
        assert abs((left + right) / 2 - tile.width / 2) < 4, "and centred under it"
    # The glyphs are real Chinese glyphs: different for different characters, and not the missing-glyph box.
    style = LabelStyle(size=32)
    zhang, li, missing = (text.label(s, style) for s in ("张三", "李四", "\U0010fffd\U0010fffd"))
    assert zhang.y.shape == li.y.shape == missing.y.shape
    assert not np.array_equal(zhang.y, li.y) and not np.array_equal(zhang.y, missing.y)


def test_labels_are_rendered_once_and_again_only_when_they_change(text: TextRenderer) -> None:
    renderer = TextRenderer(text.font_path, text.font_index)
    now = [1_790_000_000.0]
    compositor = Compositor("2x2", 1280, 720, text=renderer)
    compositor.overlays.caption = "信访件 2026-0815"
    compositor.overlays.clock = lambda: now[0]
    from zoneinfo import ZoneInfo

    compositor.overlays.clock_zone = ZoneInfo("Asia/Shanghai")
    frames = [source(640, 360, i) for i in range(4)]
    names = ["王局长", "张三", "市局", "省局"]
    compositor.compose(frames, names)
    first = renderer.renders
    assert first == 6  # four names, the caption, the clock
    for _ in range(10):
        compositor.compose(frames, names)
    assert renderer.renders == first
    now[0] += 1  # the clock ticks: one new label
    compositor.compose(frames, names)
    assert renderer.renders == first + 1
    compositor.compose(frames, ["王局长", "张三", "市局", "县局"])
    assert renderer.renders == first + 2


def test_the_recording_notice_appears_and_leaves_no_trace(text: TextRenderer) -> None:
    compositor = Compositor("speaker", 1280, 720, text=text, pool_size=1)
    frames = [source(1280, 720, 5)]
    plain = [p.copy() for p in yuv_views(compositor.compose(frames))]
    compositor.overlays.recording = True
    y, _, v = yuv_views(compositor.compose(frames))
    corner = (slice(0, 40), slice(0, 120))  # chroma: the top left 80 x 240 luma pixels
    assert v[corner].max() > 185 > plain[2][corner].max(), "a red notice in the top left corner"
    assert np.array_equal(y[:, 400:], plain[0][:, 400:]), "and nothing elsewhere"
    compositor.overlays.recording = False
    after = yuv_views(compositor.compose(frames))
    for before, now in zip(plain, after, strict=True):
        assert np.array_equal(before, now)


def test_a_frame_the_caller_keeps_is_never_overwritten(text: TextRenderer) -> None:
    compositor = Compositor("speaker", 640, 360, text=text, pool_size=2)
    kept = compositor.compose([source(640, 360, 1)])
    kept_luma = yuv_views(kept)[0].copy()
    for counter in range(2, 8):
        compositor.compose([source(640, 360, counter)])
    assert np.array_equal(yuv_views(kept)[0], kept_luma)
    # Frames nobody holds are reused rather than allocated anew: the last one, still in the CPU's caches.
    del kept
    ids = {id(compositor.compose([source(640, 360, 9)])) for _ in range(6)}
    assert len(ids) == 1


def test_a_degenerate_source_shows_a_placeholder_and_does_not_stop_the_picture(text: TextRenderer) -> None:
    compositor = Compositor("side_by_side", 640, 360, text=text)
    tiny = av.VideoFrame.from_ndarray(np.zeros((1, 1, 3), np.uint8), format="rgb24")  # a hostile 1x1 stream
    out = compositor.compose([tiny, source(640, 360, 4)], ["捣乱者", "县局"])
    y, _, _ = yuv_views(out)
    left = compositor.tiles[0]
    assert (y[left.y : left.y + 10, left.x : left.right] == PLACEHOLDER[0]).all()


def test_sources_in_other_formats_and_odd_sizes(text: TextRenderer) -> None:
    compositor = Compositor("side_by_side", 1280, 720, text=text)
    rgb = av.VideoFrame.from_ndarray(np.full((481, 641, 3), (200, 40, 40), np.uint8), format="rgb24")
    out = compositor.compose([rgb, source(640, 360, 3)])
    tile = compositor.tiles[0]
    picture = fit(640, 480, tile)
    _, _, v = yuv_views(out)
    assert v[picture.y // 2 + 10, picture.x // 2 + 10] > 180, "the red picture arrived red"


def test_layout_names_and_sizes() -> None:
    compositor = Compositor("1", 1280, 720)
    assert compositor.layout == "speaker"
    compositor.set_layout("3x3")
    assert len(compositor.tiles) == 9
    with pytest.raises(UnknownLayout):
        compositor.set_layout("5x5")
    assert compositor.layout == "3x3"
    with pytest.raises(ValueError):
        Compositor("2x2", 1279, 720)
    # Tiles meet exactly and cover the picture (grids), on even pixels.
    for layout in ("2x2", "3x3", "4x4", "1+5", "1+7"):
        rects = tile_rects(layout, 1920, 1080)
        assert sum(r.width * r.height for r in rects) == 1920 * 1080
        assert all(v % 2 == 0 for r in rects for v in (r.x, r.y, r.width, r.height))


# ---------------------------------------------------------------------------------------- masks


def test_black_rectangle_covers_exactly_its_region() -> None:
    frame = source(640, 360, 77)
    before = [p.copy() for p in yuv_views(frame)]
    PrivacyMask(640, 360, [MaskRegion.rectangle(100, 50, 120, 80)]).apply(frame)
    y, u, v = yuv_views(frame)
    inside = np.zeros((360, 640), bool)
    inside[50:130, 100:220] = True
    assert (y[inside] == 16).all() and (u[25:65, 50:110] == 128).all() and (v[25:65, 50:110] == 128).all()
    assert np.array_equal(y[~inside], before[0][~inside])
    chroma_inside = np.zeros((180, 320), bool)
    chroma_inside[25:65, 50:110] = True
    assert np.array_equal(u[~chroma_inside], before[1][~chroma_inside])


def test_pixelated_polygon_hides_detail_inside_and_nothing_outside() -> None:
    y = (np.indices((360, 640)).sum(axis=0) * 37 % 251).astype(np.uint8)  # fine detail everywhere
    frame = frame_from_planes(y, np.full((180, 320), 90, np.uint8), np.full((180, 320), 170, np.uint8))
    triangle = ((300, 40), (600, 300), (260, 320))
    PrivacyMask(640, 360, [MaskRegion(triangle, "pixelate")], pixel_block=16).apply(frame)
    out = yuv_views(frame)[0]
    import cv2

    polygon = np.zeros((360, 640), np.uint8)
    cv2.fillPoly(polygon, [np.array(triangle, np.int32)], 1)
    inside = polygon.astype(bool)
    changed = out != y
    # Everything strictly inside is masked; nothing more than one pixel (a chroma cell) outside changed.
    grown = cv2.dilate(polygon, np.ones((3, 3), np.uint8)).astype(bool)
    assert not changed[~grown].any()
    core = cv2.erode(polygon, np.ones((5, 5), np.uint8)).astype(bool)
    # Pixelated: neighbouring pixels inside a block agree; the original detail changed at almost every pixel.
    assert changed[core].mean() > 0.95
    assert (np.abs(np.diff(out.astype(int), axis=1))[core[:, 1:] & core[:, :-1]] == 0).mean() > 0.85
    assert inside.sum() > 0
