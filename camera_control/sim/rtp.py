"""The simulated camera's wire format: H.264 (RFC 6184) and H.265 (RFC 7798) over RTP, RTCP sender reports,
and the $-framing of RTP interleaved in an RTSP connection (RFC 2326 section 10.12).

An access unit is packetised once by the encoder thread (payloads only); each client then adds its own
RTP header (its SSRC, sequence numbers and timestamp offset), so a frame costs one packetisation however
many watch it.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import struct
from typing import Literal

Codec = Literal["h264", "h265"]

MAX_PAYLOAD = 1400 - 12  # an RTP packet of at most ~1400 bytes, as cameras send over UDP too
CLOCK_RATE = 90000
PAYLOAD_TYPE = 96
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)

H264_FU_A = 28
H265_FU = 49
H264_ACCESS_UNIT_DELIMITER = 9
H265_ACCESS_UNIT_DELIMITER = 35
H264_PARAMETER_SETS = {7: "sps", 8: "pps"}
H265_PARAMETER_SETS = {32: "vps", 33: "sps", 34: "pps"}


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01)."""
    starts = []
    position = data.find(b"\x00\x00\x01")
    while position >= 0:
        starts.append(position + 3)
        position = data.find(b"\x00\x00\x01", position + 3)
    nals = []
    for index, start in enumerate(starts):
        end = starts[index + 1] - 3 if index + 1 < len(starts) else len(data)
        # a NAL unit never ends in a zero byte (rbsp_stop_one_bit): zeros here belong to the next start code
        nal = data[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def nal_type(codec: Codec, nal: bytes) -> int:
    return nal[0] & 0x1F if codec == "h264" else (nal[0] >> 1) & 0x3F


def parameter_sets(codec: Codec, nals: list[bytes]) -> dict[str, bytes]:
    """The parameter sets among `nals`, by name: sps and pps, and vps for H.265."""
    names = H264_PARAMETER_SETS if codec == "h264" else H265_PARAMETER_SETS
    found: dict[str, bytes] = {}
    for nal in nals:
        name = names.get(nal_type(codec, nal))
        if name is not None:
            found.setdefault(name, nal)
    return found


def fmtp(codec: Codec, sets: dict[str, bytes]) -> str:
    """The SDP a=fmtp parameters for the stream (RFC 6184 section 8.1, RFC 7798 section 7.1)."""

    def b64(nal: bytes) -> str:
        return base64.b64encode(nal).decode("ascii")

    if codec == "h264":
        sps, pps = sets["sps"], sets["pps"]
        return (
            f"packetization-mode=1;profile-level-id={sps[1:4].hex().upper()};sprop-parameter-sets={b64(sps)},{b64(pps)}"
        )
    return f"sprop-vps={b64(sets['vps'])};sprop-sps={b64(sets['sps'])};sprop-pps={b64(sets['pps'])}"


def payloads(codec: Codec, nals: list[bytes], max_payload: int = MAX_PAYLOAD) -> list[bytes]:
    """The RTP payloads of one access unit: single NAL unit packets, fragmenting the large NAL units."""
    delimiter = H264_ACCESS_UNIT_DELIMITER if codec == "h264" else H265_ACCESS_UNIT_DELIMITER
    out: list[bytes] = []
    for nal in nals:
        if nal_type(codec, nal) == delimiter:
            continue  # the marker bit already ends each access unit
        if len(nal) <= max_payload:
            out.append(nal)
        elif codec == "h264":
            out.extend(_fragment_h264(nal, max_payload))
        else:
            out.extend(_fragment_h265(nal, max_payload))
    return out


def _fragment_h264(nal: bytes, max_payload: int) -> list[bytes]:
    """FU-A (RFC 6184 section 5.8): the NAL header's F and NRI bits in the indicator, its type in the FU header."""
    indicator = (nal[0] & 0xE0) | H264_FU_A
    kind = nal[0] & 0x1F
    chunks = _chunks(nal[1:], max_payload - 2)
    return [
        bytes((indicator, (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0) | kind)) + chunk
        for i, chunk in enumerate(chunks)
    ]


def _fragment_h265(nal: bytes, max_payload: int) -> list[bytes]:
    """FU (RFC 7798 section 4.4.3): a two-byte payload header of type 49, then S/E bits and the NAL type."""
    header = bytes(((nal[0] & 0x81) | (H265_FU << 1), nal[1]))
    kind = (nal[0] >> 1) & 0x3F
    chunks = _chunks(nal[2:], max_payload - 3)
    return [
        header + bytes(((0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0) | kind,)) + chunk
        for i, chunk in enumerate(chunks)
    ]


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@dataclasses.dataclass(frozen=True, slots=True)
class AccessUnit:
    """One encoded picture, packetised: what the encoder thread hands to every client of its stream."""

    payloads: tuple[bytes, ...]
    capture_time: float  # host time.time() the picture was rendered for
    keyframe: bool


def interleaved(channel: int, packet: bytes) -> bytes:
    return struct.pack("!cBH", b"$", channel, len(packet)) + packet


class RtpSender:
    """One client's RTP stream: its SSRC, sequence numbers and timestamp offset, all random at the start."""

    def __init__(self, rtp_channel: int, rtcp_channel: int, cname: str = "hall-camera-sim") -> None:
        self.rtp_channel = rtp_channel
        self.rtcp_channel = rtcp_channel
        self.ssrc = secrets.randbits(32)
        self.sequence = secrets.randbits(16)
        self._timestamp_offset = secrets.randbits(32)
        self._cname = cname.encode("ascii", "replace")[:255]
        self.packets_sent = 0
        self.octets_sent = 0

    def timestamp(self, capture_time: float) -> int:
        return (self._timestamp_offset + round(capture_time * CLOCK_RATE)) & 0xFFFFFFFF

    def packets(self, unit: AccessUnit) -> bytes:
        """The access unit as $-framed RTP packets, the marker bit on the last."""
        timestamp = self.timestamp(unit.capture_time)
        framed = []
        last = len(unit.payloads) - 1
        for index, payload in enumerate(unit.payloads):
            header = struct.pack(
                "!BBHII", 0x80, (0x80 if index == last else 0) | PAYLOAD_TYPE, self.sequence, timestamp, self.ssrc
            )
            framed.append(interleaved(self.rtp_channel, header + payload))
            self.sequence = (self.sequence + 1) & 0xFFFF
            self.packets_sent += 1
            self.octets_sent += len(payload)
        return b"".join(framed)

    def sender_report(self, capture_time: float, wallclock: float) -> bytes:
        """A compound RTCP packet (SR + SDES CNAME) mapping the RTP time of `capture_time` to `wallclock`."""
        seconds = int(wallclock) + NTP_EPOCH_OFFSET
        fraction = int((wallclock % 1) * 2**32) & 0xFFFFFFFF
        report = struct.pack(
            "!BBHIIIIII",
            0x80,
            200,
            6,
            self.ssrc,
            seconds & 0xFFFFFFFF,
            fraction,
            self.timestamp(capture_time),
            self.packets_sent & 0xFFFFFFFF,
            self.octets_sent & 0xFFFFFFFF,
        )
        item = bytes((1, len(self._cname))) + self._cname + b"\x00"
        item += b"\x00" * (-(len(item) + 4) % 4)
        sdes = struct.pack("!BBHI", 0x81, 202, (len(item) + 4) // 4, self.ssrc) + item
        return interleaved(self.rtcp_channel, report + sdes)
