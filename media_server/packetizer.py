"""RTP payloads for forwarded frames: each encoded frame is split once, whatever the number of subscribers.

- VP8 (RFC 7741): a 4-byte payload descriptor with a 15-bit picture id that runs per track, which is
  what each subscriber sees anyway.
- H.264 (RFC 6184, packetization-mode 1): the Annex B access unit's NAL units, small ones gathered into
  STAP-A packets, large ones cut into FU-A fragments.
- Audio: a frame is one payload.

Fragments are as large as allowed and only the last of a frame or NAL unit is shorter, so a run of them
leaves in one system call where the kernel segments UDP (aiortc_adapter.segment_spans).
"""

from __future__ import annotations

import random
import struct

from media_server.aiortc_adapter import CodecInfo, EncodedFrame

PACKET_MAX = 1300  # bytes of RTP payload, as aiortc's own packetisers: room for TURN and IPv6 within 1500

H264_STAP_A, H264_FU_A = 24, 28
H264_STAP_A_MAX_NALS = 9  # as aiortc's packetiser, which browsers and FFmpeg read
_LENGTH = struct.Struct("!H")


class Packetizer:
    """Splits one track's encoded frames into RTP payloads."""

    def __init__(self, codec: CodecInfo) -> None:
        name = codec.name.upper()
        self._vp8 = name == "VP8"
        self._h264 = name == "H264"
        self._picture_id = random.randrange(1 << 15)

    def payloads(self, frame: EncodedFrame) -> list[bytes]:
        if self._vp8:
            picture_id = self._picture_id
            self._picture_id = (picture_id + 1) & 0x7FFF
            return vp8_payloads(frame.data, picture_id)
        if self._h264:
            return h264_payloads(frame.data)
        return [frame.data]


def vp8_payloads(data: bytes, picture_id: int) -> list[bytes]:
    # X=1 (extensions), S=1 on the partition's first packet, I=1 (picture id), M=1 (15 bits)
    first = bytes((0x90, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF))
    rest = bytes((0x80, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF))
    size = PACKET_MAX - 4
    return [first + data[:size]] + [rest + data[i : i + size] for i in range(size, len(data), size)]


def h264_nal_units(access_unit: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit, without their start codes (3 or 4 bytes)."""
    units = []
    start = access_unit.find(b"\x00\x00\x01")
    while start != -1:
        start += 3
        end = access_unit.find(b"\x00\x00\x01", start)
        stop = len(access_unit) if end == -1 else end - 1 if access_unit[end - 1] == 0 else end  # 4-byte code
        unit = access_unit[start:stop]
        if unit:
            units.append(unit)
        start = end
    return units


def h264_payloads(access_unit: bytes) -> list[bytes]:
    payloads: list[bytes] = []
    group: list[bytes] = []  # small NAL units waiting to share a STAP-A packet
    group_size = 1  # the STAP-A header

    def flush() -> None:
        nonlocal group_size
        if len(group) == 1:
            payloads.append(group[0])
        elif group:
            forbidden = max(unit[0] & 0x80 for unit in group)
            nri = max(unit[0] & 0x60 for unit in group)
            payloads.append(bytes((forbidden | nri | H264_STAP_A,)) + b"".join(_LENGTH.pack(len(u)) + u for u in group))
        group.clear()
        group_size = 1

    for unit in h264_nal_units(access_unit):
        if len(unit) > PACKET_MAX:
            flush()
            payloads.extend(_fu_a(unit))
            continue
        if group and (group_size + 2 + len(unit) > PACKET_MAX or len(group) == H264_STAP_A_MAX_NALS):
            flush()
        group.append(unit)
        group_size += 2 + len(unit)
    flush()
    return payloads


def _fu_a(unit: bytes) -> list[bytes]:
    """FU-A fragments of one NAL unit: as large as allowed, the last one shorter."""
    indicator = (unit[0] & 0xE0) | H264_FU_A
    nal_type = unit[0] & 0x1F
    size = PACKET_MAX - 2
    starts = range(1, len(unit), size)
    last = starts[-1]
    return [
        bytes((indicator, nal_type | (0x80 if start == 1 else 0) | (0x40 if start == last else 0)))
        + unit[start : start + size]
        for start in starts
    ]
