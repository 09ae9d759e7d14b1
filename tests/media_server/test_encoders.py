"""The program's and the cameras' H.264 says the truth about its size: the level in the SPS is the one whose
limits the picture fits (Table A-1), which a phone's hardware decoder sizes its buffers by."""

from __future__ import annotations

import av
import numpy as np
import pytest

from media_server.codecs import PictureEncoder, VideoEncoder, h264_level


def sps_levels(data: bytes) -> list[int]:
    """level_idc of every SPS (NAL type 7) in an Annex B stream: the byte after profile_idc and its flags."""
    levels = []
    for nal in data.split(b"\x00\x00\x01")[1:]:
        if nal and nal[0] & 0x1F == 7:
            levels.append(nal[3])
    return levels


def picture(width: int, height: int) -> av.VideoFrame:
    pixels = np.random.default_rng(width).integers(0, 255, (height * 3 // 2, width), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(pixels, format="yuv420p")


@pytest.mark.parametrize(
    ("size", "fps", "level"),
    [
        ((640, 360), 25, 31),
        ((1280, 720), 30, 31),
        ((1920, 1080), 25, 40),
        ((1920, 1080), 60, 42),
        ((3840, 2160), 25, 51),
    ],
)
def test_the_sps_names_the_lowest_level_that_holds_the_picture(size, fps, level):
    assert h264_level(*size, fps) == str(level)
    data, keyframe = VideoEncoder("H264", *size, fps=fps, bitrate=2_000_000).encode(picture(*size))
    assert keyframe and sps_levels(data) == [level]
    decoded = av.CodecContext.create("h264", "r").decode(av.Packet(data))
    assert [(f.width, f.height) for f in decoded] == [size]


def test_a_camera_that_grows_to_1080p_gets_a_new_sps_with_a_level_to_match():
    encoder = PictureEncoder("H264", fps=25, bits_per_pixel=0.1)
    small, _ = encoder.encode(picture(1280, 720))
    large, keyframe = encoder.encode(picture(1920, 1080))
    assert sps_levels(small) == [31] and keyframe and sps_levels(large) == [40]
