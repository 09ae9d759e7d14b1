"""The media service (ver10): profiles, their configurations, stream and snapshot URIs."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from camera_control.sim.onvif.envelope import TRT, Call, Handler, escaped, invalid
from camera_control.sim.onvif.network import bracket
from camera_control.sim.onvif.profiles import (
    ANALYTICS_CONFIG_TOKEN,
    MOTION_RULE,
    VIDEO_SOURCE_CONFIG_TOKEN,
    VIDEO_SOURCE_TOKEN,
    StreamProfile,
    find_stream,
)
from camera_control.sim.onvif.ptz import ptz_configuration

if TYPE_CHECKING:
    from camera_control.sim.onvif.service import OnvifService

# The motion rule the CellMotionDetector events name (hikvision-platform-ptz/GetProfiles.xml, trimmed to it).
_ANALYTICS_CONFIGURATION = (
    f'<tt:VideoAnalyticsConfiguration token="{ANALYTICS_CONFIG_TOKEN}"><tt:Name>VideoAnalyticsName</tt:Name>'
    "<tt:UseCount>2</tt:UseCount><tt:AnalyticsEngineConfiguration>"
    '<tt:AnalyticsModule Name="MyCellMotionModule" Type="tt:CellMotionEngine"><tt:Parameters>'
    '<tt:SimpleItem Name="Sensitivity" Value="50"/></tt:Parameters></tt:AnalyticsModule>'
    "</tt:AnalyticsEngineConfiguration><tt:RuleEngineConfiguration>"
    f'<tt:Rule Name="{MOTION_RULE}" Type="tt:CellMotionDetector"><tt:Parameters>'
    '<tt:SimpleItem Name="MinCount" Value="5"/><tt:SimpleItem Name="AlarmOnDelay" Value="1000"/>'
    '<tt:SimpleItem Name="AlarmOffDelay" Value="1000"/></tt:Parameters></tt:Rule>'
    "</tt:RuleEngineConfiguration></tt:VideoAnalyticsConfiguration>"
)
# GetServiceCapabilities' answer (hikvision-platform-ptz/Media-GetServiceCapabilities.xml).
MEDIA_CAPABILITIES = (
    '<trt:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false">'
    '<trt:ProfileCapabilities MaximumNumberOfProfiles="{profiles}"/>'
    '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" NonAggregateControl="false"/>'
    "</trt:Capabilities>"
)


def _media_uri(uri: str, timeout: str) -> str:
    return (
        f"<trt:MediaUri><tt:Uri>{escaped(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
        f"<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>{timeout}</tt:Timeout></trt:MediaUri>"
    )


class MediaService:
    """The media endpoint's operations."""

    def __init__(self, camera: OnvifService) -> None:
        self._camera = camera

    def operations(self) -> dict[tuple[str, str], Handler]:
        return {
            (TRT, "GetProfiles"): self._get_profiles,
            (TRT, "GetProfile"): self._get_profile,
            (TRT, "GetStreamUri"): self._get_stream_uri,
            (TRT, "GetSnapshotUri"): self._get_snapshot_uri,
            (TRT, "GetVideoSources"): self._get_video_sources,
            (TRT, "GetVideoSourceConfigurations"): self._get_video_source_configurations,
            (TRT, "GetVideoEncoderConfigurations"): self._get_video_encoder_configurations,
            (TRT, "GetVideoEncoderConfiguration"): self._get_video_encoder_configuration,
            (TRT, "GetServiceCapabilities"): self._get_media_service_capabilities,
        }

    def _profile(self, stream: StreamProfile, tag: str) -> str:
        ptz = ptz_configuration("tt:PTZConfiguration", len(self._camera.streams)) if self._camera.state.ptz else ""
        return (
            f'<{tag} token="{escaped(stream.token)}" fixed="true"><tt:Name>{escaped(stream.name)}</tt:Name>'
            f"{self._video_source_configuration('tt:VideoSourceConfiguration')}"
            f"{self._video_encoder_configuration(stream, 'tt:VideoEncoderConfiguration')}"
            f"{_ANALYTICS_CONFIGURATION}{ptz}</{tag}>"
        )

    def _video_source_configuration(self, tag: str) -> str:
        main = self._camera.streams[0]
        return (
            f'<{tag} token="{VIDEO_SOURCE_CONFIG_TOKEN}"><tt:Name>VideoSourceConfig</tt:Name>'
            f"<tt:UseCount>{len(self._camera.streams)}</tt:UseCount><tt:SourceToken>{VIDEO_SOURCE_TOKEN}</tt:SourceToken>"
            f'<tt:Bounds x="0" y="0" width="{main.width}" height="{main.height}"/></{tag}>'
        )

    def _video_encoder_configuration(self, stream: StreamProfile, tag: str) -> str:
        index = self._camera.streams.index(stream) + 1
        # Hikvision writes H265 into the ver10 Encoding and leaves out the H264 block
        # (hikvision-platform-ptz/GetProfiles.xml).
        h264 = (
            f"<tt:H264><tt:GovLength>{stream.gov_length}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
            if stream.encoding == "H264"
            else ""
        )
        return (
            f'<{tag} token="VideoEncoderToken_{index}"><tt:Name>VideoEncoder_{index}</tt:Name>'
            "<tt:UseCount>1</tt:UseCount>"
            f"<tt:Encoding>{stream.encoding}</tt:Encoding>"
            f"<tt:Resolution><tt:Width>{stream.width}</tt:Width><tt:Height>{stream.height}</tt:Height></tt:Resolution>"
            "<tt:Quality>3.000000</tt:Quality>"
            f"<tt:RateControl><tt:FrameRateLimit>{stream.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>"
            f"<tt:BitrateLimit>{stream.bitrate_kbps}</tt:BitrateLimit></tt:RateControl>{h264}"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>"
            "<tt:Port>0</tt:Port><tt:TTL>128</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
            f"<tt:SessionTimeout>PT5S</tt:SessionTimeout></{tag}>"
        )

    async def _get_profiles(self, call: Call) -> str:
        profiles = "".join(self._profile(stream, "trt:Profiles") for stream in self._camera.streams)
        return f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>"

    async def _get_profile(self, call: Call) -> str:
        stream = find_stream(self._camera.streams, call.text("trt:ProfileToken"))
        return f"<trt:GetProfileResponse>{self._profile(stream, 'trt:Profile')}</trt:GetProfileResponse>"

    async def _get_stream_uri(self, call: Call) -> str:
        stream = find_stream(self._camera.streams, call.text("trt:ProfileToken"))
        # No credentials in the URI: real cameras leave them to RTSP's own Digest challenge.
        uri = f"rtsp://{bracket(call.host)}:{self._camera.rtsp_port}/{stream.path.lstrip('/')}"
        return f"<trt:GetStreamUriResponse>{_media_uri(uri, 'PT60S')}</trt:GetStreamUriResponse>"

    async def _get_snapshot_uri(self, call: Call) -> str:
        stream = find_stream(self._camera.streams, call.text("trt:ProfileToken"))
        uri = f"{call.base_url}/onvif/snapshot?profile={urllib.parse.quote(stream.token)}"
        return f"<trt:GetSnapshotUriResponse>{_media_uri(uri, 'PT0S')}</trt:GetSnapshotUriResponse>"

    async def _get_video_sources(self, call: Call) -> str:
        main = self._camera.streams[0]
        return (
            f'<trt:GetVideoSourcesResponse><trt:VideoSources token="{VIDEO_SOURCE_TOKEN}">'
            f"<tt:Framerate>{max(stream.fps for stream in self._camera.streams)}</tt:Framerate>"
            f"<tt:Resolution><tt:Width>{main.width}</tt:Width><tt:Height>{main.height}</tt:Height></tt:Resolution>"
            "</trt:VideoSources></trt:GetVideoSourcesResponse>"
        )

    async def _get_video_source_configurations(self, call: Call) -> str:
        configuration = self._video_source_configuration("trt:Configurations")
        return f"<trt:GetVideoSourceConfigurationsResponse>{configuration}</trt:GetVideoSourceConfigurationsResponse>"

    async def _get_video_encoder_configurations(self, call: Call) -> str:
        configurations = "".join(
            self._video_encoder_configuration(stream, "trt:Configurations") for stream in self._camera.streams
        )
        return (
            f"<trt:GetVideoEncoderConfigurationsResponse>{configurations}</trt:GetVideoEncoderConfigurationsResponse>"
        )

    async def _get_video_encoder_configuration(self, call: Call) -> str:
        token = call.text("trt:ConfigurationToken")
        for index, stream in enumerate(self._camera.streams, start=1):
            if token == f"VideoEncoderToken_{index}":
                configuration = self._video_encoder_configuration(stream, "trt:Configuration")
                return (
                    "<trt:GetVideoEncoderConfigurationResponse>"
                    f"{configuration}</trt:GetVideoEncoderConfigurationResponse>"
                )
        raise invalid(f"no video encoder configuration {token!r}", "ter:NoConfig")

    async def _get_media_service_capabilities(self, call: Call) -> str:
        return (
            "<trt:GetServiceCapabilitiesResponse>"
            f"{MEDIA_CAPABILITIES.format(profiles=len(self._camera.streams))}</trt:GetServiceCapabilitiesResponse>"
        )
