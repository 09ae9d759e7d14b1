"""PTZ: a profile's PTZ configuration, what the camera can do with it, and the values we send and read."""

from __future__ import annotations

import dataclasses
from typing import Any

from camera_control.onvif.models import PtzCapabilities, PtzPreset, PtzStatus
from camera_control.onvif.reading import as_float, as_int, as_text, field


@dataclasses.dataclass(frozen=True, slots=True)
class PtzConfiguration:
    token: str
    node_token: str | None
    continuous: bool
    absolute: bool
    relative: bool
    zoom: bool


def read_ptz_configuration(ptz: Any) -> PtzConfiguration | None:
    """A media profile's PTZConfiguration; None when the profile has none."""
    if ptz is None or not field(ptz, "token"):
        return None
    return PtzConfiguration(
        token=as_text(field(ptz, "token")),
        node_token=as_text(field(ptz, "NodeToken")) or None,
        continuous=bool(field(ptz, "DefaultContinuousPanTiltVelocitySpace")),
        absolute=bool(field(ptz, "DefaultAbsolutePantTiltPositionSpace")),  # sic: the ONVIF schema's typo
        relative=bool(field(ptz, "DefaultRelativePanTiltTranslationSpace")),
        zoom=bool(field(ptz, "DefaultContinuousZoomVelocitySpace") or field(ptz, "DefaultAbsoluteZoomPositionSpace")),
    )


def read_ptz_capabilities(configuration: PtzConfiguration, options: Any, node: Any) -> PtzCapabilities:
    """What the camera can do, from the configuration's GetConfigurationOptions and GetNode answers.

    `options` and `node` are None when the camera would not give them: the configuration's default
    spaces decide then.
    """
    continuous, absolute, relative, zoom = (
        configuration.continuous,
        configuration.absolute,
        configuration.relative,
        configuration.zoom,
    )
    spaces = field(options, "Spaces")
    if spaces is not None:
        continuous = bool(
            field(spaces, "ContinuousPanTiltVelocitySpace") or field(spaces, "ContinuousZoomVelocitySpace")
        )
        absolute = bool(field(spaces, "AbsolutePanTiltPositionSpace") or field(spaces, "AbsoluteZoomPositionSpace"))
        relative = bool(
            field(spaces, "RelativePanTiltTranslationSpace") or field(spaces, "RelativeZoomTranslationSpace")
        )
        zoom = bool(
            field(spaces, "ContinuousZoomVelocitySpace")
            or field(spaces, "AbsoluteZoomPositionSpace")
            or field(spaces, "RelativeZoomTranslationSpace")
        )
    # Presets and home are assumed when the node cannot be read: every PTZ camera among the captures
    # answers GetPresets and most GotoHomePosition; a refusal later raises PtzNotSupported.
    presets = (as_int(field(node, "MaximumNumberOfPresets")) or 1) > 0
    home = field(node, "HomeSupported") is not False
    return PtzCapabilities(continuous, absolute, relative, presets, home, zoom)


def read_preset(raw: Any) -> PtzPreset | None:
    """One preset of a GetPresets answer; None when it has no token."""
    token = as_text(field(raw, "token"))
    if not token:
        return None
    position = field(raw, "PTZPosition")
    return PtzPreset(
        token=token,
        name=as_text(field(raw, "Name")) or token,
        pan=as_float(field(position, "PanTilt", "x")),
        tilt=as_float(field(position, "PanTilt", "y")),
        zoom=as_float(field(position, "Zoom", "x")),
    )


def read_ptz_status(answer: Any) -> PtzStatus:
    position = field(answer, "Position")
    move = [as_text(field(answer, "MoveStatus", axis)).upper() for axis in ("PanTilt", "Zoom")]
    # Hikvision-platform PTZs (ENP1A14-IR/25X) report no MoveStatus at all.
    moving = None if not any(move) else "MOVING" in move
    # The IPD-H4K8M05-BS PTZ reports raw motor counts (32768) instead of the generic space: a value
    # outside the generic range means nothing to us, so it is None.
    return PtzStatus(
        pan=_in_generic_space(as_float(field(position, "PanTilt", "x")), -1.0),
        tilt=_in_generic_space(as_float(field(position, "PanTilt", "y")), -1.0),
        zoom=_in_generic_space(as_float(field(position, "Zoom", "x")), -1.0),
        moving=moving,
    )


def check_range(**values: float) -> None:
    for name, value in values.items():
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between -1 and 1, not {value}")


def check_unit(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {value}")


def ptz_vector(pan: float, tilt: float, zoom: float | None) -> dict[str, Any]:
    vector: dict[str, Any] = {"PanTilt": {"x": pan, "y": tilt}}
    if zoom is not None:
        vector["Zoom"] = {"x": zoom}
    return vector


def _in_generic_space(value: float | None, low: float) -> float | None:
    return value if value is not None and low <= value <= 1.0 else None
