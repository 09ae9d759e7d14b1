"""The device service's answers: what the camera is, and where its other services are."""

from __future__ import annotations

from typing import Any, Final

from camera_control.onvif.models import DeviceInfo
from camera_control.onvif.namespaces import NS_DEVICE, NS_EVENTS, NS_IMAGING, NS_MEDIA, NS_PTZ
from camera_control.onvif.reading import as_text, field, mended_address

# GetCapabilities' categories and the service namespaces they stand for.
_CAPABILITY_NAMESPACES: Final = {
    "Device": NS_DEVICE,
    "Media": NS_MEDIA,
    "PTZ": NS_PTZ,
    "Events": NS_EVENTS,
    "Imaging": NS_IMAGING,
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
}
_CAPABILITY_EXTENSION_NAMESPACES: Final = {
    "DeviceIO": "http://www.onvif.org/ver10/deviceIO/wsdl",
    "Recording": "http://www.onvif.org/ver10/recording/wsdl",
    "Search": "http://www.onvif.org/ver10/search/wsdl",
    "Replay": "http://www.onvif.org/ver10/replay/wsdl",
}


def read_device_info(answer: Any) -> DeviceInfo:
    """A GetDeviceInformation answer (None when the camera gave none)."""
    # The IPD-H4K8M05-BS PTZ sends an empty Manufacturer, Uniview-platform OEMs "NONE", XiongMai XM530
    # its codec ("H264"): fields are shown as given, or "" when missing.
    return DeviceInfo(
        manufacturer=as_text(field(answer, "Manufacturer")),
        model=as_text(field(answer, "Model")),
        firmware=as_text(field(answer, "FirmwareVersion")),
        serial=as_text(field(answer, "SerialNumber")),
        hardware_id=as_text(field(answer, "HardwareId")),
    )


def read_service_addresses(services: Any) -> dict[str, str]:
    """Service namespace -> XAddr, from a GetServices answer."""
    addresses: dict[str, str] = {}
    for service in services or []:
        namespace, xaddr = as_text(field(service, "Namespace")), field(service, "XAddr")
        if namespace and xaddr:
            addresses[namespace] = mended_address(xaddr)
    return addresses


def read_capability_addresses(capabilities: Any) -> dict[str, str]:
    """Service namespace -> XAddr, from a GetCapabilities answer (for cameras without GetServices)."""
    addresses: dict[str, str] = {}
    # D-Link DCS-6511 gives device_service as the XAddr of every service and dispatches on the
    # SOAP body, so one URL standing for several services is normal, not a mistake to correct.
    for category, namespace in _CAPABILITY_NAMESPACES.items():
        xaddr = field(capabilities, category, "XAddr")
        if xaddr:
            addresses[namespace] = mended_address(xaddr)
    for category, namespace in _CAPABILITY_EXTENSION_NAMESPACES.items():
        xaddr = field(capabilities, "Extension", category, "XAddr")
        if xaddr:
            addresses[namespace] = mended_address(xaddr)
    return addresses
