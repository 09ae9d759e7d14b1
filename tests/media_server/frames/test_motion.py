"""MotionDetector on synthetic hall clips with known answers (tests/motion_clips.py).

What a security officer relies on: a person walking through is boxed where they are; sensor noise,
lights changing, the camera switching to infrared or being moved raise no alarm; after such a change
the next person is still found; masks and zones are obeyed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import av
import numpy as np
import pytest
from motion_clips import CLIPS, ClipFrame, ClipSpec, boxes_overlap, render_clip, to_yuv420p

from media_server.frames.motion import MotionBox, MotionDetector, MotionResult, MotionSettings, luma_plane

WIDTH, HEIGHT = 640, 360
SETTLED = 5  # frames after which the detector has built its first background


@dataclass(frozen=True)
class Seen:
    frame: ClipFrame
    result: MotionResult

    def boxes_on_figure(self) -> list[MotionBox]:
        figure = self.frame.figure_box
        return [box for box in self.result.boxes if figure is not None and boxes_overlap(_xywh(box), figure)]

    def false_boxes(self) -> list[MotionBox]:
        on_figure = self.boxes_on_figure()
        return [box for box in self.result.boxes if box not in on_figure]


def watch(
    spec: ClipSpec, detector: MotionDetector | None = None, width: int = WIDTH, height: int = HEIGHT
) -> list[Seen]:
    detector = detector or MotionDetector(width, height)
    return [Seen(frame, detector.detect(frame.luma)) for frame in render_clip(spec, width, height)]


def in_full_view(seen: list[Seen]) -> list[Seen]:
    return [s for s in seen if s.frame.figure_visible >= 0.5]


def assert_figure_followed(seen: list[Seen]) -> None:
    """Boxed in every frame where at least half of the figure shows, and nothing boxed elsewhere."""
    visible = in_full_view(seen)
    assert len(visible) >= 10, "the clip should show the figure for a while"
    missed = [s.frame.index for s in visible if not s.boxes_on_figure()]
    assert not missed, f"figure in view but not boxed in frames {missed}"
    false = [(s.frame.index, s.false_boxes()) for s in seen[SETTLED:] if s.false_boxes()]
    assert not false, f"boxes away from the figure: {false}"


def assert_no_alarm(seen: list[Seen]) -> None:
    alarms = [(s.frame.index, s.result.boxes) for s in seen[SETTLED:] if s.result.boxes]
    assert not alarms, f"motion reported where nothing moves: {alarms}"
    assert all(s.result.score == 0 for s in seen[SETTLED:])


def test_a_walking_figure_is_boxed_where_it_is() -> None:
    seen = watch(CLIPS["walk"])
    assert_figure_followed(seen)
    for s in in_full_view(seen):
        (box,) = s.boxes_on_figure()
        true = s.frame.figure_box
        assert true is not None
        # the box hugs the figure: it holds its middle, and is not much larger than it
        assert box.x <= true[0] + true[2] // 2 <= box.x + box.width
        assert box.y <= true[1] + true[3] // 2 <= box.y + box.height
        assert box.width * box.height <= 3 * true[2] * true[3]
        assert 0 < s.result.score < 0.2


def test_a_bright_figure_is_boxed_too() -> None:
    assert_figure_followed(watch(CLIPS["walk_bright"]))


def test_a_figure_in_night_time_noise_is_boxed_without_false_alarms() -> None:
    assert_figure_followed(watch(CLIPS["walk_night"]))


def test_a_person_close_to_the_camera_is_not_taken_for_a_global_change() -> None:
    seen = watch(CLIPS["walk_close"])  # a tenth of the picture moving
    assert not any(s.result.calibrating for s in seen[SETTLED:])
    assert_figure_followed(seen)


def test_the_detector_is_ready_within_a_few_frames() -> None:
    seen = watch(replace(CLIPS["noise"], frames=10))
    assert seen[0].result.calibrating
    assert not any(s.result.calibrating for s in seen[SETTLED:])


def test_sensor_noise_is_not_motion() -> None:
    assert_no_alarm(watch(CLIPS["noise"]))


@pytest.mark.parametrize("clip", ["lighting_step", "lighting_ramp", "ir_switch"])
def test_a_lighting_change_is_not_motion(clip: str) -> None:
    assert_no_alarm(watch(CLIPS[clip]))


@pytest.mark.parametrize("clip", ["shift", "pan", "shake"])
def test_a_camera_move_is_not_motion(clip: str) -> None:
    assert_no_alarm(watch(CLIPS[clip]))


@pytest.mark.parametrize("clip", ["step_then_walk", "ir_then_walk", "shift_then_walk", "pan_then_walk"])
def test_after_a_global_change_the_next_figure_is_found(clip: str) -> None:
    seen = watch(CLIPS[clip])
    if CLIPS[clip].camera != "still":
        change = CLIPS[clip].change_at
        assert any(s.result.calibrating for s in seen[change : change + 3]), "the camera move should be noticed"
    assert_figure_followed(seen)


@pytest.mark.parametrize("clip", ["ir_during_walk", "shift_during_walk"])
def test_someone_in_view_during_a_global_change_is_found_again_soon(clip: str) -> None:
    seen = watch(CLIPS[clip])
    change = CLIPS[clip].change_at
    settings = MotionSettings()
    back = change + settings.settle_frames + 3
    assert all(s.boxes_on_figure() for s in in_full_view(seen[back:]))
    # where the figure stood when the background was rebuilt, a ghost shows until it has held still long enough
    ghosts = [s.frame.index for s in seen[SETTLED:] if s.false_boxes()]
    assert all(change < index <= back + settings.stationary_frames for index in ghosts), ghosts


def test_a_mask_over_the_figures_path_hides_it() -> None:
    path = _figure_band()
    seen = watch(CLIPS["walk"], MotionDetector(WIDTH, HEIGHT, masks=[path]))
    assert_no_alarm(seen)


def test_a_zone_away_from_the_figures_path_hides_it() -> None:
    _, top, _, _ = _figure_band_box()
    wall = [(0, 0), (WIDTH - 1, 0), (WIDTH - 1, top - 20), (0, top - 20)]
    seen = watch(CLIPS["walk"], MotionDetector(WIDTH, HEIGHT, zones=[wall]))
    assert_no_alarm(seen)


def test_a_zone_over_part_of_the_path_boxes_the_figure_only_there() -> None:
    left_half = [(0, 0), (WIDTH // 2, 0), (WIDTH // 2, HEIGHT - 1), (0, HEIGHT - 1)]
    seen = watch(CLIPS["walk"], MotionDetector(WIDTH, HEIGHT, zones=[left_half]))
    inside = [s for s in in_full_view(seen) if s.frame.figure_box and s.frame.figure_box[0] + 10 < WIDTH // 2 - 40]
    outside = [s for s in in_full_view(seen) if s.frame.figure_box and s.frame.figure_box[0] > WIDTH // 2 + 10]
    assert inside and outside
    assert all(s.boxes_on_figure() for s in inside)
    assert not any(s.result.boxes for s in outside)
    # motion inside the zone counts against the zone's area: half the picture, so about twice the score
    whole = watch(CLIPS["walk"])
    frame = inside[-1].frame.index
    assert inside[-1].result.score == pytest.approx(2 * whole[frame].result.score, rel=0.35)


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 720), (352, 288)])
def test_works_at_camera_resolutions(width: int, height: int) -> None:
    spec = replace(CLIPS["walk"], figure_enters=8, frames=24, walk_frames=30)
    seen = watch(spec, width=width, height=height)
    visible = in_full_view(seen)
    assert visible
    assert all(s.boxes_on_figure() for s in visible)
    assert not any(s.false_boxes() for s in seen[SETTLED:])
    box = visible[-1].boxes_on_figure()[0]
    assert box.x >= 0 and box.y >= 0
    assert box.x + box.width <= width and box.y + box.height <= height


def test_a_strided_luma_view_gives_the_same_answer_as_a_contiguous_copy() -> None:
    spec = replace(CLIPS["walk"], figure_enters=8, frames=30)
    contiguous = MotionDetector(WIDTH, HEIGHT)
    from_yuv = MotionDetector(WIDTH, HEIGHT)
    from_padded = MotionDetector(WIDTH, HEIGHT)
    padded = np.zeros((HEIGHT, WIDTH + 64), np.uint8)
    found = 0
    for frame in render_clip(spec, WIDTH, HEIGHT):
        padded[:, :WIDTH] = frame.luma
        expected = contiguous.detect(frame.luma)
        assert from_yuv.detect(to_yuv420p(frame.luma)[:HEIGHT]) == expected
        assert from_padded.detect(padded[:, :WIDTH]) == expected
        found += bool(expected.boxes)
    assert found > 10


@pytest.mark.parametrize("pixel_format", ["yuv420p", "nv12", "rgb24"])
def test_a_decoded_frame_is_read_in_place(pixel_format: str) -> None:
    width, height = 350, 288  # 350 is padded to a 352-byte line in PyAV's planes
    spec = replace(CLIPS["walk"], figure_enters=8, frames=24, walk_frames=30)
    by_plane = MotionDetector(width, height)
    by_array = MotionDetector(width, height)
    boxed = 0
    for frame in render_clip(spec, width, height):
        video_frame = av.VideoFrame.from_ndarray(to_yuv420p(frame.luma), format="yuv420p").reformat(format=pixel_format)
        luma = luma_plane(video_frame)
        if pixel_format != "rgb24":  # YUV: the decoder's own buffer, not a copy
            assert not luma.flags.owndata
            assert np.array_equal(luma, frame.luma)
        result = by_plane.detect_frame(video_frame)
        if pixel_format != "rgb24":
            assert result == by_array.detect(frame.luma)
        boxed += bool(frame.figure_box and result.boxes)
    assert boxed > 10


def test_recalibrate_after_a_ptz_move_reports_nothing_then_resumes() -> None:
    detector = MotionDetector(WIDTH, HEIGHT)
    seen = []
    for frame in render_clip(replace(CLIPS["pan_then_walk"], change_at=20, figure_enters=40), WIDTH, HEIGHT):
        if frame.index == 20:  # the PTZ code calls this when it starts moving the camera
            detector.recalibrate()
            assert detector.calibrating
        seen.append(Seen(frame, detector.detect(frame.luma)))
    assert seen[20].result == MotionResult((), 0.0, calibrating=True)
    assert_figure_followed(seen)


def test_bad_input_is_refused_with_a_clear_message() -> None:
    detector = MotionDetector(WIDTH, HEIGHT)
    with pytest.raises(ValueError, match="360x640 uint8"):
        detector.detect(np.zeros((HEIGHT, WIDTH + 1), np.uint8))
    with pytest.raises(ValueError, match="360x640 uint8"):
        detector.detect(np.zeros((HEIGHT, WIDTH), np.float32))  # type: ignore[arg-type]
    everything = [(0, 0), (WIDTH, 0), (WIDTH, HEIGHT), (0, HEIGHT)]
    with pytest.raises(ValueError, match="no part of the picture"):
        MotionDetector(WIDTH, HEIGHT, masks=[everything])
    with pytest.raises(ValueError, match="three"):
        MotionDetector(WIDTH, HEIGHT, zones=[[(0, 0), (10, 10)]])
    with pytest.raises(ValueError, match="threshold"):
        MotionSettings(threshold=0)


def _figure_band_box() -> tuple[int, int, int, int]:
    """x, y, width, height of the band the walking figure covers, with a margin."""
    tops, bottoms = [], []
    for frame in render_clip(CLIPS["walk"], WIDTH, HEIGHT):
        if frame.figure_box:
            tops.append(frame.figure_box[1])
            bottoms.append(frame.figure_box[1] + frame.figure_box[3])
    top, bottom = min(tops) - 12, max(bottoms) + 12
    return 0, top, WIDTH, bottom - top


def _figure_band() -> list[tuple[float, float]]:
    x, y, w, h = _figure_band_box()
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _xywh(box: MotionBox) -> tuple[int, int, int, int]:
    return box.x, box.y, box.width, box.height
