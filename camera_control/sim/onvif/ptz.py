"""The PTZ service (ver20): moves, presets and status on the camera's state, in the generic spaces only."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from camera_control.sim.onvif.envelope import TPTZ, Call, Handler, SoapFault, escaped, invalid
from camera_control.sim.onvif.profiles import StreamProfile, find_stream
from camera_control.sim.onvif.xs import parse_duration, xs_datetime
from camera_control.sim.state import PtzPosition

if TYPE_CHECKING:
    from camera_control.sim.onvif.service import OnvifService

PTZ_CONFIG_TOKEN = "PTZToken"
PTZ_NODE_TOKEN = "PTZNODETOKEN"
MAX_PRESETS = 300
DEFAULT_PTZ_TIMEOUT = 300.0  # DefaultPTZTimeout PT300S, as the Hikvision-platform PTZ advertises

_PT_POSITION = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
_ZOOM_POSITION = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"
_PT_TRANSLATION = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace"
_ZOOM_TRANSLATION = "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace"
_PT_VELOCITY = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace"
_ZOOM_VELOCITY = "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace"
_PT_SPEED = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace"
_ZOOM_SPEED = "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace"


def _range(uri: str, low: float, high: float, with_y: bool = True) -> str:
    y = f"<tt:YRange><tt:Min>{low:.6f}</tt:Min><tt:Max>{high:.6f}</tt:Max></tt:YRange>" if with_y else ""
    return f"<tt:URI>{uri}</tt:URI><tt:XRange><tt:Min>{low:.6f}</tt:Min><tt:Max>{high:.6f}</tt:Max></tt:XRange>{y}"


# The generic spaces only, in the order of hikvision-platform-ptz/GetConfigurationOptions.xml.
_PTZ_SPACES = (
    f"<tt:AbsolutePanTiltPositionSpace>{_range(_PT_POSITION, -1, 1)}</tt:AbsolutePanTiltPositionSpace>"
    f"<tt:AbsoluteZoomPositionSpace>{_range(_ZOOM_POSITION, 0, 1, False)}</tt:AbsoluteZoomPositionSpace>"
    f"<tt:RelativePanTiltTranslationSpace>{_range(_PT_TRANSLATION, -1, 1)}</tt:RelativePanTiltTranslationSpace>"
    f"<tt:RelativeZoomTranslationSpace>{_range(_ZOOM_TRANSLATION, -1, 1, False)}</tt:RelativeZoomTranslationSpace>"
    f"<tt:ContinuousPanTiltVelocitySpace>{_range(_PT_VELOCITY, -1, 1)}</tt:ContinuousPanTiltVelocitySpace>"
    f"<tt:ContinuousZoomVelocitySpace>{_range(_ZOOM_VELOCITY, -1, 1, False)}</tt:ContinuousZoomVelocitySpace>"
    f"<tt:PanTiltSpeedSpace>{_range(_PT_SPEED, 0, 1, False)}</tt:PanTiltSpeedSpace>"
    f"<tt:ZoomSpeedSpace>{_range(_ZOOM_SPEED, 0, 1, False)}</tt:ZoomSpeedSpace>"
)


def ptz_configuration(tag: str, use_count: int) -> str:
    return (
        f'<{tag} token="{PTZ_CONFIG_TOKEN}"><tt:Name>PTZ</tt:Name><tt:UseCount>{use_count}</tt:UseCount>'
        f"{_PTZ_CONFIGURATION_BODY}</{tag}>"
    )


# hikvision-platform-ptz/GetConfigurations.xml, with our node token and the generic spaces.
_PTZ_CONFIGURATION_BODY = (
    f"<tt:NodeToken>{PTZ_NODE_TOKEN}</tt:NodeToken>"
    f"<tt:DefaultAbsolutePantTiltPositionSpace>{_PT_POSITION}</tt:DefaultAbsolutePantTiltPositionSpace>"
    f"<tt:DefaultAbsoluteZoomPositionSpace>{_ZOOM_POSITION}</tt:DefaultAbsoluteZoomPositionSpace>"
    f"<tt:DefaultRelativePanTiltTranslationSpace>{_PT_TRANSLATION}</tt:DefaultRelativePanTiltTranslationSpace>"
    f"<tt:DefaultRelativeZoomTranslationSpace>{_ZOOM_TRANSLATION}</tt:DefaultRelativeZoomTranslationSpace>"
    f"<tt:DefaultContinuousPanTiltVelocitySpace>{_PT_VELOCITY}</tt:DefaultContinuousPanTiltVelocitySpace>"
    f"<tt:DefaultContinuousZoomVelocitySpace>{_ZOOM_VELOCITY}</tt:DefaultContinuousZoomVelocitySpace>"
    f'<tt:DefaultPTZSpeed><tt:PanTilt x="0.100000" y="0.100000" space="{_PT_SPEED}"/>'
    f'<tt:Zoom x="1.000000" space="{_ZOOM_SPEED}"/></tt:DefaultPTZSpeed>'
    f"<tt:DefaultPTZTimeout>PT{DEFAULT_PTZ_TIMEOUT:.0f}S</tt:DefaultPTZTimeout>"
    f"<tt:PanTiltLimits><tt:Range>{_range(_PT_POSITION, -1, 1)}</tt:Range></tt:PanTiltLimits>"
    f"<tt:ZoomLimits><tt:Range>{_range(_ZOOM_POSITION, 0, 1, False)}</tt:Range></tt:ZoomLimits>"
)

# GetServiceCapabilities' answer (hikvision-platform-ptz/PTZ-GetServiceCapabilities.xml).
PTZ_CAPABILITIES = (
    '<tptz:Capabilities EFlip="false" Reverse="false" GetCompatibleConfigurations="false" MoveStatus="true"'
    ' StatusPosition="true"/>'
)


def _ptz_node(tag: str) -> str:
    return (
        f'<{tag} token="{PTZ_NODE_TOKEN}" FixedHomePosition="false"><tt:Name>PTZ</tt:Name>'
        f"<tt:SupportedPTZSpaces>{_PTZ_SPACES}</tt:SupportedPTZSpaces>"
        f"<tt:MaximumNumberOfPresets>{MAX_PRESETS}</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported>"
        f"</{tag}>"
    )


def _check_space(call: Call, path: str, generic: str) -> None:
    space = call.space(path)
    if space is not None and space != generic:
        raise invalid(f"space {space} is not supported", "ter:SpaceNotSupported")


class PtzService:
    """The PTZ endpoint's operations; every one refuses with PTZNotSupported on a camera without PTZ."""

    def __init__(self, camera: OnvifService) -> None:
        self._camera = camera
        self._moving_axes = (False, False)  # pan-tilt, zoom: what the last ContinuousMove set in motion

    def operations(self) -> dict[tuple[str, str], Handler]:
        operations: dict[str, Handler] = {
            "GetNodes": self._get_nodes,
            "GetNode": self._get_node,
            "GetConfigurations": self._get_configurations,
            "GetConfiguration": self._get_configuration,
            "GetConfigurationOptions": self._get_configuration_options,
            "GetServiceCapabilities": self._get_ptz_service_capabilities,
            "GetStatus": self._get_status,
            "ContinuousMove": self._continuous_move,
            "Stop": self._stop,
            "AbsoluteMove": self._absolute_move,
            "RelativeMove": self._relative_move,
            "GetPresets": self._get_presets,
            "SetPreset": self._set_preset,
            "GotoPreset": self._goto_preset,
            "RemovePreset": self._remove_preset,
            "GotoHomePosition": self._goto_home_position,
            "SetHomePosition": self._set_home_position,
        }
        return {(TPTZ, name): self._needs_ptz(handler) for name, handler in operations.items()}

    def _needs_ptz(self, handler: Handler) -> Handler:
        async def guarded(call: Call) -> str:
            if not self._camera.state.ptz:
                raise SoapFault(
                    "PTZ is not supported", "ter:ActionNotSupported", "ter:PTZNotSupported", code="env:Receiver"
                )
            return await handler(call)

        return guarded

    def _ptz_profile(self, call: Call) -> StreamProfile:
        return find_stream(self._camera.streams, call.text("tptz:ProfileToken"))

    async def _get_nodes(self, call: Call) -> str:
        return f"<tptz:GetNodesResponse>{_ptz_node('tptz:PTZNode')}</tptz:GetNodesResponse>"

    async def _get_node(self, call: Call) -> str:
        if call.text("tptz:NodeToken") != PTZ_NODE_TOKEN:
            raise invalid("no such PTZ node", "ter:NoEntity")
        return f"<tptz:GetNodeResponse>{_ptz_node('tptz:PTZNode')}</tptz:GetNodeResponse>"

    async def _get_configurations(self, call: Call) -> str:
        configuration = ptz_configuration("tptz:PTZConfiguration", len(self._camera.streams))
        return f"<tptz:GetConfigurationsResponse>{configuration}</tptz:GetConfigurationsResponse>"

    async def _get_configuration(self, call: Call) -> str:
        if call.text("tptz:PTZConfigurationToken") != PTZ_CONFIG_TOKEN:
            raise invalid("no such PTZ configuration", "ter:NoConfig")
        configuration = ptz_configuration("tptz:PTZConfiguration", len(self._camera.streams))
        return f"<tptz:GetConfigurationResponse>{configuration}</tptz:GetConfigurationResponse>"

    async def _get_configuration_options(self, call: Call) -> str:
        if call.text("tptz:ConfigurationToken") != PTZ_CONFIG_TOKEN:
            raise invalid("no such PTZ configuration", "ter:NoConfig")
        return (
            "<tptz:GetConfigurationOptionsResponse><tptz:PTZConfigurationOptions>"
            f"<tt:Spaces>{_PTZ_SPACES}</tt:Spaces><tt:PTZTimeout><tt:Min>PT1S</tt:Min><tt:Max>PT600S</tt:Max></tt:PTZTimeout>"
            "</tptz:PTZConfigurationOptions></tptz:GetConfigurationOptionsResponse>"
        )

    async def _get_ptz_service_capabilities(self, call: Call) -> str:
        return f"<tptz:GetServiceCapabilitiesResponse>{PTZ_CAPABILITIES}</tptz:GetServiceCapabilitiesResponse>"

    async def _get_status(self, call: Call) -> str:
        self._ptz_profile(call)
        now = time.time()
        position = self._camera.state.position(now)
        moving = self._camera.state.moving(now)
        pan_tilt = "MOVING" if moving and self._moving_axes[0] else "IDLE"
        zoom = "MOVING" if moving and self._moving_axes[1] else "IDLE"
        return (
            "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
            f'<tt:PanTilt x="{position.pan:.6f}" y="{position.tilt:.6f}" space="{_PT_POSITION}"/>'
            f'<tt:Zoom x="{position.zoom:.6f}" space="{_ZOOM_POSITION}"/></tt:Position>'
            f"<tt:MoveStatus><tt:PanTilt>{pan_tilt}</tt:PanTilt><tt:Zoom>{zoom}</tt:Zoom></tt:MoveStatus>"
            f"<tt:UtcTime>{xs_datetime(self._camera.state.camera_time(now))}</tt:UtcTime>"
            "</tptz:PTZStatus></tptz:GetStatusResponse>"
        )

    async def _continuous_move(self, call: Call) -> str:
        self._ptz_profile(call)
        _check_space(call, "tptz:Velocity/tt:PanTilt", _PT_VELOCITY)
        _check_space(call, "tptz:Velocity/tt:Zoom", _ZOOM_VELOCITY)
        pan = call.number("tptz:Velocity/tt:PanTilt", "x") or 0.0
        tilt = call.number("tptz:Velocity/tt:PanTilt", "y") or 0.0
        zoom = call.number("tptz:Velocity/tt:Zoom", "x") or 0.0
        if max(abs(pan), abs(tilt), abs(zoom)) > 1:
            raise invalid("velocity outside the generic velocity space [-1, 1]", "ter:InvalidVelocity")
        timeout_text = call.text("tptz:Timeout")
        try:
            timeout = parse_duration(timeout_text) if timeout_text else DEFAULT_PTZ_TIMEOUT
        except ValueError:
            raise invalid("Timeout is not an xs:duration", "ter:TimeoutNotSupported") from None
        if timeout <= 0:
            raise invalid("Timeout must be positive", "ter:TimeoutNotSupported")
        self._camera.state.continuous_move(pan, tilt, zoom, timeout=min(timeout, 600.0))
        self._moving_axes = (pan != 0 or tilt != 0, zoom != 0)
        return "<tptz:ContinuousMoveResponse/>"

    async def _stop(self, call: Call) -> str:
        self._ptz_profile(call)
        pan_tilt = call.flag("tptz:PanTilt", True)
        zoom = call.flag("tptz:Zoom", True)
        self._camera.state.stop(pan_tilt=pan_tilt, zoom=zoom)
        self._moving_axes = (self._moving_axes[0] and not pan_tilt, self._moving_axes[1] and not zoom)
        return "<tptz:StopResponse/>"

    async def _absolute_move(self, call: Call) -> str:
        self._ptz_profile(call)
        _check_space(call, "tptz:Position/tt:PanTilt", _PT_POSITION)
        _check_space(call, "tptz:Position/tt:Zoom", _ZOOM_POSITION)
        current = self._camera.state.position()
        pan = call.number("tptz:Position/tt:PanTilt", "x")
        tilt = call.number("tptz:Position/tt:PanTilt", "y")
        zoom = call.number("tptz:Position/tt:Zoom", "x")
        target = PtzPosition(
            current.pan if pan is None else pan,
            current.tilt if tilt is None else tilt,
            current.zoom if zoom is None else zoom,
        )
        if target.clamped() != target:
            raise invalid("position outside the generic position space", "ter:InvalidPosition")
        self._camera.state.absolute_move(target)
        self._moving_axes = (False, False)
        return "<tptz:AbsoluteMoveResponse/>"

    async def _relative_move(self, call: Call) -> str:
        self._ptz_profile(call)
        _check_space(call, "tptz:Translation/tt:PanTilt", _PT_TRANSLATION)
        _check_space(call, "tptz:Translation/tt:Zoom", _ZOOM_TRANSLATION)
        pan = call.number("tptz:Translation/tt:PanTilt", "x") or 0.0
        tilt = call.number("tptz:Translation/tt:PanTilt", "y") or 0.0
        zoom = call.number("tptz:Translation/tt:Zoom", "x") or 0.0
        if max(abs(pan), abs(tilt), abs(zoom)) > 1:
            raise invalid("translation outside the generic translation space [-1, 1]", "ter:InvalidTranslation")
        self._camera.state.relative_move(pan, tilt, zoom)
        self._moving_axes = (False, False)
        return "<tptz:RelativeMoveResponse/>"

    async def _get_presets(self, call: Call) -> str:
        self._ptz_profile(call)
        presets = "".join(
            f'<tptz:Preset token="{escaped(preset.token)}"><tt:Name>{escaped(preset.name)}</tt:Name><tt:PTZPosition>'
            f'<tt:PanTilt x="{preset.position.pan:.6f}" y="{preset.position.tilt:.6f}"/>'
            f'<tt:Zoom x="{preset.position.zoom:.6f}"/></tt:PTZPosition></tptz:Preset>'
            for preset in self._camera.state.presets()
        )
        return f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>"

    async def _set_preset(self, call: Call) -> str:
        self._ptz_profile(call)
        name = call.text("tptz:PresetName")
        token = call.text("tptz:PresetToken") or None
        known = {preset.token for preset in self._camera.state.presets()}
        if token is not None and token not in known:
            raise invalid(f"no preset {token!r}", "ter:NoToken")
        if name is not None and len(name) > 64:
            raise invalid("the preset name is longer than 64 characters", "ter:InvalidPresetName")
        if token is None and len(known) >= MAX_PRESETS:
            raise SoapFault("Too many presets", "ter:Action", "ter:TooManyPresets", code="env:Receiver")
        preset = self._camera.state.set_preset(name=name, token=token)
        saved = escaped(preset.token)
        return f"<tptz:SetPresetResponse><tptz:PresetToken>{saved}</tptz:PresetToken></tptz:SetPresetResponse>"

    async def _goto_preset(self, call: Call) -> str:
        self._ptz_profile(call)
        token = call.text("tptz:PresetToken") or ""
        try:
            self._camera.state.goto_preset(token)
        except KeyError:
            raise invalid(f"no preset {token!r}", "ter:NoToken") from None
        self._moving_axes = (False, False)
        return "<tptz:GotoPresetResponse/>"

    async def _remove_preset(self, call: Call) -> str:
        self._ptz_profile(call)
        token = call.text("tptz:PresetToken") or ""
        try:
            self._camera.state.remove_preset(token)
        except KeyError:
            raise invalid(f"no preset {token!r}", "ter:NoToken") from None
        return "<tptz:RemovePresetResponse/>"

    async def _goto_home_position(self, call: Call) -> str:
        self._ptz_profile(call)
        self._camera.state.go_home()
        self._moving_axes = (False, False)
        return "<tptz:GotoHomePositionResponse/>"

    async def _set_home_position(self, call: Call) -> str:
        self._ptz_profile(call)
        self._camera.state.set_home()
        return "<tptz:SetHomePositionResponse/>"
