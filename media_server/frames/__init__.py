"""The vectorised frame core: compositor, overlays, privacy masks, audio mixer, motion detection.

Everything works on yuv420p planes (numpy views of PyAV frames) and int16 audio, with OpenCV and numpy
doing the pixel work: no per-pixel Python and no RGB round trip.
"""

from media_server.frames.audio import SILENCE_DBOV, ActiveSpeaker, AudioMixer
from media_server.frames.compositor import Compositor, Overlays
from media_server.frames.layouts import LAYOUTS, Rect, layout_name, tile_count, tile_rects
from media_server.frames.masks import MaskRegion, PrivacyMask
from media_server.frames.motion import MotionBox, MotionDetector, MotionResult, MotionSettings, luma_plane
from media_server.frames.planes import frame_from_planes, plane_view, yuv_views
from media_server.frames.text import FontNotFound, LabelStyle, TextRenderer, find_cjk_font

__all__ = [
    "LAYOUTS",
    "SILENCE_DBOV",
    "ActiveSpeaker",
    "AudioMixer",
    "Compositor",
    "FontNotFound",
    "LabelStyle",
    "MaskRegion",
    "MotionBox",
    "MotionDetector",
    "MotionResult",
    "MotionSettings",
    "Overlays",
    "PrivacyMask",
    "Rect",
    "TextRenderer",
    "find_cjk_font",
    "frame_from_planes",
    "layout_name",
    "luma_plane",
    "plane_view",
    "tile_count",
    "tile_rects",
    "yuv_views",
]
