"""Checks on offered SDP and the codec rules of forwarding, as plain functions.

An offer is checked here before aiortc sees it, so hostile or malformed input gets a clear error
and creates nothing. Forwarding never transcodes, so a subscriber must accept the publisher's codec.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from aiortc import RTCRtpCodecCapability, RTCRtpSender
from aiortc.rtcpeerconnection import is_codec_compatible
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.sdp import SessionDescription

from media_server.aiortc_adapter import CodecInfo
from media_server.errors import CodecMismatch, InvalidOffer, UnsupportedCodecs

Purpose = Literal["publish", "subscribe"]

FORWARDED_CODECS = {"video": ("VP8", "H264"), "audio": ("opus", "G722", "PCMU", "PCMA")}

# What asks a receiver for bandwidth estimates (REMB, RTCP a few times a second): a forwarded
# stream's rate is the publisher's, so a subscriber's estimate would only be received and dropped.
_BANDWIDTH_FEEDBACK = re.compile(
    r"^a=(extmap:\d+(/\w+)? http://www\.webrtc\.org/experiments/rtp-hdrext/abs-send-time"
    r"|rtcp-fb:\S+ goog-remb)\b.*\r\n",
    re.MULTILINE,
)


@dataclasses.dataclass(frozen=True)
class OfferedMedia:
    kind: str
    direction: str
    codecs: list[RTCRtpCodecParameters]


@dataclasses.dataclass(frozen=True)
class CheckedOffer:
    sdp: str
    media: list[OfferedMedia]

    def kinds(self) -> list[str]:
        return [m.kind for m in self.media]


def check_offer(sdp: str, purpose: Purpose, *, max_bytes: int) -> CheckedOffer:
    """Parse and vet an SDP offer; raise InvalidOffer or UnsupportedCodecs with a clear reason.

    A subscriber's offer comes back without abs-send-time and goog-remb, so the answer does not ask
    the subscriber for bandwidth estimates that nothing here would act on.
    """
    if len(sdp.encode("utf-8", "replace")) > max_bytes:
        raise InvalidOffer(f"the SDP offer is larger than {max_bytes} bytes")
    if not sdp.lstrip().startswith("v=0"):
        raise InvalidOffer("the body is not an SDP offer (it must start with v=0)")
    normalised = sdp.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        description = SessionDescription.parse(normalised)
    except Exception as exc:  # aiortc's parser raises many types on hostile input; all mean "malformed"
        raise InvalidOffer(f"the SDP offer could not be parsed ({type(exc).__name__})") from None
    if not description.media:
        raise InvalidOffer("the SDP offer has no media section")
    media: list[OfferedMedia] = []
    seen: set[str] = set()
    for section in description.media:
        if section.kind not in FORWARDED_CODECS:
            raise InvalidOffer(f"media of kind '{section.kind}' is not accepted; offer audio and video only")
        if section.kind in seen:
            raise InvalidOffer(f"more than one {section.kind} section offered; send one audio and one video")
        seen.add(section.kind)
        if section.ice is None or not section.ice.usernameFragment or not section.ice.password:
            raise InvalidOffer(f"the {section.kind} section has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
        if section.dtls is None or not section.dtls.fingerprints:
            raise InvalidOffer(f"the {section.kind} section has no DTLS fingerprint")
        direction = section.direction or "sendrecv"
        wanted = ("sendonly", "sendrecv") if purpose == "publish" else ("recvonly", "sendrecv")
        if direction not in wanted:
            raise InvalidOffer(f"the {section.kind} section is '{direction}'; to {purpose} it must be one of {wanted}")
        media.append(OfferedMedia(section.kind, direction, list(section.rtp.codecs)))
    supported = [name for names in FORWARDED_CODECS.values() for name in names]
    for wanted_media in media:
        if not forwardable(wanted_media.codecs, wanted_media.kind):
            offered = sorted({c.mimeType.split("/")[-1] for c in wanted_media.codecs if not _is_aux(c)})
            raise UnsupportedCodecs(
                f"none of the offered {wanted_media.kind} codecs ({', '.join(offered) or 'none'}) can be forwarded;"
                f" this server forwards {', '.join(supported)} (H.264 in constrained baseline or baseline profile)"
            )
    if purpose == "subscribe":
        normalised = _BANDWIDTH_FEEDBACK.sub("", normalised)
    return CheckedOffer(sdp=normalised, media=media)


def _is_aux(codec: RTCRtpCodecParameters) -> bool:
    return codec.mimeType.split("/")[-1].lower() in ("rtx", "red", "ulpfec", "flexfec-03", "telephone-event", "cn")


def forwardable(offered: list[RTCRtpCodecParameters], kind: str) -> list[RTCRtpCodecCapability]:
    """Our capabilities for `kind` that the offer also has, in our order of preference."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen: list[RTCRtpCodecCapability] = []
    for name in FORWARDED_CODECS[kind]:
        for capability in capabilities:
            if capability.mimeType.split("/")[-1].lower() != name.lower():
                continue
            as_parameters = RTCRtpCodecParameters(
                mimeType=capability.mimeType,
                clockRate=capability.clockRate,
                channels=capability.channels,
                parameters=dict(capability.parameters),
            )
            if any(is_codec_compatible(as_parameters, c) for c in offered) and capability not in chosen:
                chosen.append(capability)
    return chosen


def publish_preferences(
    offered: list[RTCRtpCodecParameters], kind: str, preferred_video: str
) -> list[RTCRtpCodecCapability]:
    """One codec (plus RTX for video) for a publisher, so it cannot switch codec mid-stream."""
    candidates = forwardable(offered, kind)
    if not candidates:
        return []
    if kind == "video":
        candidates.sort(key=lambda c: 0 if c.mimeType.split("/")[-1] == preferred_video else 1)
    return [candidates[0], *_rtx(kind)]


def subscribe_preferences(offered: list[RTCRtpCodecParameters], codec: CodecInfo) -> list[RTCRtpCodecCapability]:
    """The publisher's codec, if the subscriber's offer accepts it: forwarding never transcodes."""
    source = RTCRtpCodecParameters(
        mimeType=codec.mime_type,
        clockRate=codec.clock_rate,
        channels=codec.channels,
        parameters=dict(codec.parameters),
    )
    for capability in forwardable(offered, codec.kind):
        as_parameters = RTCRtpCodecParameters(
            mimeType=capability.mimeType,
            clockRate=capability.clockRate,
            channels=capability.channels,
            parameters=dict(capability.parameters),
        )
        if is_codec_compatible(as_parameters, source):
            return [capability, *_rtx(codec.kind)]
    offered_names = sorted({c.mimeType.split("/")[-1] for c in offered if not _is_aux(c)})
    raise CodecMismatch(
        f"the publisher sends {codec.name} {codec.kind}, which this subscriber did not offer"
        f" (offered: {', '.join(offered_names) or 'none'}); media is forwarded, not transcoded"
    )


def _rtx(kind: str) -> list[RTCRtpCodecCapability]:
    if kind != "video":
        return []
    return [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/rtx"]
